//! What OCR jobs need from the outside world.

use async_trait::async_trait;
use time::{Date, OffsetDateTime};

use super::{EngineChoice, IdempotencyKey, IdempotencyRecord, Job, JobId, JobStatus, Recognized};
use crate::ports::{Cause, QueueError, StoreError};
use crate::values::UserId;

/// The OCR work queue, for a document that needs more than one invocation:
/// its job is handed to the next worker to continue where this one stopped.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn continue_job(&self, owner: &UserId, id: &JobId) -> Result<(), QueueError>;
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
    /// Adds `pages` to the pages the owner asked for on `day` (UTC) if the
    /// sum stays within `limit`. Atomic, read consistently, and never
    /// lowered: deleting a job gives nothing back.
    async fn charge_pages(&self, owner: &UserId, day: Date, pages: u32, limit: u32) -> Result<PageCharge, StoreError>;
    /// Drops the owner's page counts: the account is going (no one else
    /// can ever be charged to it).
    async fn forget_page_counts(&self, owner: &UserId) -> Result<(), StoreError>;
}

/// What [`JobStore::charge_pages`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageCharge {
    /// Counted; the day's pages now.
    Charged { used: u32 },
    /// Not counted: the day's pages before, with which these would pass
    /// the limit.
    Over { used: u32 },
}

/// A job as a quota counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobWeight {
    pub status: JobStatus,
    pub created_at: OffsetDateTime,
    pub pages_total: Option<u32>,
}

/// Whether a caller's account still exists. A request that passed the
/// token check can race the deletion of its account: its job is made after
/// the deletion swept the account's jobs, unless it looks again.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn exists(&self, owner: &super::Owner) -> Result<bool, StoreError>;
}

/// Accounts are the users the auth side stores.
#[async_trait]
impl<T: crate::auth::ports::UserStore> Accounts for T {
    async fn exists(&self, owner: &super::Owner) -> Result<bool, StoreError> {
        Ok(self.find_user(&owner.email).await?.is_some_and(|user| user.id == owner.id))
    }
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

/// Finds and reads text lines, in reading order, with the engine the job
/// chose. Blocking (CPU-bound). Takes the image as decoded, so an engine
/// that reads grey needs no RGB copy of a greyscale scan.
pub trait TextRecognizer: Send + Sync {
    fn recognize(&self, image: &image::DynamicImage, engine: EngineChoice) -> Result<Recognized, RecognizeError>;
}

#[derive(Debug, thiserror::Error)]
#[error("text recognition failed")]
pub struct RecognizeError(#[source] pub Cause);
