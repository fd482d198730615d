//! The ports: what the domain needs from the outside world, as traits.
//! Adapters (DynamoDB, SQS, in-memory) live in `crate::adapters`.

use async_trait::async_trait;

use crate::domain::{Email, UserId};
use crate::email::EmailJob;
use crate::jobs::{IdempotencyKey, IdempotencyRecord, Job, JobId, Recognized};
use crate::user::User;
use time::OffsetDateTime;

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

/// Verified accounts, keyed by address.
///
/// Every write is conditional on `version`: a create succeeds only if nothing
/// is stored under the address, an update only if the stored version is
/// `record.version - 1`, a delete only if it is `record.version`.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    async fn find_user(&self, email: &Email) -> Result<Option<User>, StoreError>;
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;
    async fn delete_user(&self, user: &User) -> Result<(), StoreError>;
}

/// A small, short-lived document kept beside the users: registrations
/// waiting for their code, reset codes, code-send logs, failure counters.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub body: serde_json::Value,
    /// 1 when created, +1 on every write.
    pub version: u64,
    /// After this the store may remove it (DynamoDB's TTL is lazy: readers
    /// must not rely on expired records being gone).
    pub expires_at: OffsetDateTime,
}

/// Versioned documents under string keys, written conditionally like users.
#[async_trait]
pub trait RecordStore: Send + Sync {
    async fn find_record(&self, key: &str) -> Result<Option<StoredRecord>, StoreError>;
    /// Saves `record` if the stored version is `record.version - 1` (0 = none).
    async fn save_record(&self, key: &str, record: &StoredRecord) -> Result<(), StoreError>;
}

/// Everything an account owns besides itself (jobs, images, results), so
/// that deleting the account can remove it.
#[async_trait]
pub trait AccountContent: Send + Sync {
    /// Removes all of it; answers how many jobs went. Safe to repeat.
    async fn delete_all(&self, owner: &UserId) -> Result<usize, StoreError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the queue is unavailable")]
pub struct QueueError(#[source] pub Cause);

/// Where e-mail jobs go; the notify function sends them.
#[async_trait]
pub trait EmailQueue: Send + Sync {
    async fn enqueue(&self, job: &EmailJob) -> Result<(), QueueError>;
}

/// The OCR work queue, for a document that needs more than one invocation:
/// its job is handed to the next worker to continue where this one stopped.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn continue_job(&self, owner: &UserId, id: &crate::jobs::JobId) -> Result<(), QueueError>;
}

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

/// OCR jobs, keyed by owner and id. Writes are conditional on `version`
/// exactly as for [`UserStore`].
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn create_job(&self, job: &Job) -> Result<(), StoreError>;
    async fn find_job(&self, owner: &UserId, id: &JobId) -> Result<Option<Job>, StoreError>;
    async fn update_job(&self, job: &Job) -> Result<(), StoreError>;
    async fn delete_job(&self, job: &Job) -> Result<(), StoreError>;
    /// The owner's jobs, newest first, starting after `after`.
    async fn list_jobs(&self, owner: &UserId, after: Option<JobId>, limit: usize) -> Result<JobPage, StoreError>;
    /// What the owner's jobs created since `since` weigh (for quotas):
    /// their state, age and pages only, never their results.
    async fn recent_jobs(&self, owner: &UserId, since: OffsetDateTime) -> Result<Vec<JobWeight>, StoreError>;
}

/// A job as a quota counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobWeight {
    pub status: crate::jobs::JobStatus,
    pub created_at: OffsetDateTime,
    pub pages_total: Option<u32>,
}

/// Idempotency keys of the job-creating requests, per owner, remembered
/// for a day. Saves are conditional on `version` as for users (1 = new).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn find_key(
        &self,
        owner: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<(IdempotencyRecord, u64)>, StoreError>;
    /// Kept until `record.expires_at()`.
    async fn save_key(
        &self,
        owner: &UserId,
        key: &IdempotencyKey,
        record: &IdempotencyRecord,
        version: u64,
    ) -> Result<(), StoreError>;
    async fn delete_key(&self, owner: &UserId, key: &IdempotencyKey) -> Result<(), StoreError>;
    /// Every key of `owner` (its account is going); how many there were.
    async fn delete_all_keys(&self, owner: &UserId) -> Result<usize, StoreError>;
}

#[derive(Debug, Clone, Default)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    /// Where the next page starts, if there may be one.
    pub next: Option<JobId>,
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

/// Finds and reads text lines, in reading order. Blocking (CPU-bound).
/// Takes the image as decoded, so an engine that reads grey needs no RGB
/// copy of a greyscale scan.
pub trait TextRecognizer: Send + Sync {
    fn recognize(&self, image: &image::DynamicImage) -> Result<Recognized, RecognizeError>;
}

#[derive(Debug, thiserror::Error)]
#[error("text recognition failed")]
pub struct RecognizeError(#[source] pub Cause);
