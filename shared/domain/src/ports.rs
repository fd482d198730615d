//! The ports every domain shares: stores' and queues' errors, objects,
//! and the queues a worker's records come from and are parked in. Each
//! domain's own ports are beside it (`auth::ports`, `jobs::ports`,
//! `email::EmailQueue`, `notify::ports`); none of them is imported here.
//! The in-memory adapters are in `memory`; the AWS ones (DynamoDB, S3,
//! SQS, SES) in the `aws-adapters` crate, which this crate cannot see.

use async_trait::async_trait;

/// What went wrong underneath, kept whole (an SDK error with its own
/// causes, say) so that logs can print the entire chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed (or appeared) since it was read: re-read and retry.
    #[error("the record was changed concurrently")]
    Conflict,
    /// The store could not be reached, refused, or holds something this
    /// code cannot read.
    #[error("the store is unavailable")]
    Unavailable(#[source] Cause),
}

#[derive(Debug, thiserror::Error)]
#[error("the queue is unavailable")]
pub struct QueueError(#[source] pub Cause);

/// Where a worker parks messages that can never succeed, with the reason,
/// for a person to look at (its queue's dead-letter queue).
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn park(&self, body: &str, reason: &str) -> Result<(), QueueError>;
}

/// The queue a worker's records come from. A record the worker had no time
/// to start goes back to it as a new message: SQS counts every receive of
/// the original, and waiting behind a long document must not count as
/// failing (after `maxReceiveCount` receives a message is dead-lettered).
#[async_trait]
pub trait SourceQueue: Send + Sync {
    async fn send_again(&self, body: &str) -> Result<(), QueueError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no such object")]
    NotFound,
    #[error("the object is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the blob store is unavailable")]
    Unavailable(#[source] Cause),
}

/// Uploaded images and large results (S3).
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError>;
    /// Refuses (without reading it all) an object over `max_bytes`.
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, BlobError>;
    /// Deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// [`delete`](Self::delete) of every key, in as few requests as the
    /// store allows (S3: a thousand keys a request).
    async fn delete_many(&self, keys: &[String]) -> Result<(), BlobError> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }
    /// A URL to PUT exactly `length` bytes of `content_type` to `key`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        expires_in: std::time::Duration,
    ) -> Result<String, BlobError>;
    /// A URL to GET `key` from, downloaded under `file_name`.
    async fn presign_get(
        &self,
        key: &str,
        file_name: &str,
        expires_in: std::time::Duration,
    ) -> Result<String, BlobError>;
}
