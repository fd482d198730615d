//! The ports: what the domain needs from the outside world, as traits.
//! Adapters (DynamoDB, SQS, in-memory) live in `crate::adapters`.

use async_trait::async_trait;

use crate::domain::Email;
use crate::email::EmailJob;
use crate::user::{CodeSendLog, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed (or appeared) since it was read: re-read and retry.
    #[error("the record was changed concurrently")]
    Conflict,
    /// The store could not be reached or refused for a transient reason.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Users and the code-send logs that rate-limit them.
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

    async fn find_send_log(&self, email: &Email) -> Result<Option<CodeSendLog>, StoreError>;
    /// Saves a log whose `version` was bumped by the caller (1 = new).
    async fn save_send_log(&self, log: &CodeSendLog) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Where e-mail jobs go; the notify function sends them.
#[async_trait]
pub trait EmailQueue: Send + Sync {
    async fn enqueue(&self, job: &EmailJob) -> Result<(), QueueError>;
}
