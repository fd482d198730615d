//! The auth side's `AccountContent` port over the jobs' stores: when an
//! account goes, its jobs, every object they own and its idempotency keys
//! go with it. (The jobs service knows nothing of accounts being deleted.)

use std::sync::Arc;

use crate::auth::ports::AccountContent;
use crate::jobs::job_objects;
use crate::jobs::ports::{IdempotencyStore, JobStore};
use crate::ports::{BlobStore, StoreError};
use crate::values::UserId;

/// Jobs listed per round when an account's content goes.
const DELETION_PAGE: usize = 100;

pub struct JobsOfAccount {
    jobs: Arc<dyn JobStore>,
    keys: Arc<dyn IdempotencyStore>,
    blobs: Arc<dyn BlobStore>,
}

impl JobsOfAccount {
    pub fn new(jobs: Arc<dyn JobStore>, keys: Arc<dyn IdempotencyStore>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { jobs, keys, blobs }
    }
}

#[async_trait::async_trait]
impl AccountContent for JobsOfAccount {
    /// Objects first (a page of jobs' objects in one batch), then the jobs,
    /// so that a failure leaves the jobs listed and a repeat finds what is
    /// left; last, the idempotency keys (which name the jobs) and the page
    /// counts.
    async fn delete_all(&self, owner: &UserId) -> Result<usize, StoreError> {
        let mut removed = 0;
        loop {
            let page = self.jobs.list_jobs(owner, None, DELETION_PAGE).await?;
            if page.jobs.is_empty() {
                self.keys.delete_all_keys(owner).await?;
                self.jobs.forget_page_counts(owner).await?;
                return Ok(removed);
            }
            let mut removed_here = 0;
            let objects: Vec<String> = page.jobs.iter().flat_map(job_objects).collect();
            self.blobs.delete_many(&objects).await.map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            for job in &page.jobs {
                match self.jobs.delete_job(job).await {
                    Ok(()) => removed_here += 1,
                    // Changed by a worker since it was listed: the next round sees it again.
                    Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e),
                }
            }
            if removed_here == 0 {
                return Err(StoreError::Conflict);
            }
            removed += removed_here;
        }
    }
}
