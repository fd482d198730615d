//! OCR jobs: submitting images, reading results, and processing uploads.
//! Knows nothing of AWS or HTTP.

mod idempotency;
mod model;
pub mod outputs;
pub mod ports;
mod processor;
mod quota;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::{Duration, OffsetDateTime};

pub use idempotency::{Begin, IdempotencyKey, IdempotencyRecord, KEY_LIFETIME, StoredReply};
pub use model::*;
pub use processor::{
    DEFAULT_RETENTION_DAYS, FailureClass, JobFailure, JobProcessor, Outcome, ProcessorLimits, Report, Transient,
};
pub use quota::{OverQuota, PAGE_WINDOW, Quota, quota_day};

use crate::clock::Clock;
use crate::jobs::ports::{Accounts, IdempotencyStore, JobStore};
use crate::ports::{BlobError, BlobStore, StoreError};
use crate::retry::{self, Contended};
use crate::values::{Email, UserId};
use imaging::document::DocumentLimits;
use imaging::{self, ImageProblem};

/// The caller on whose behalf a job is made or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: UserId,
    pub email: Email,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no such job")]
    NotFound,
    #[error(
        "the job has expired: finished jobs and their results are kept for a limited time, and an image that never arrived is given up after a day"
    )]
    Expired,
    #[error(transparent)]
    Image(#[from] ImageProblem),
    #[error("the image is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the image is empty")]
    Empty,
    #[error("content type {0:?} is not a supported image type")]
    UnsupportedContentType(String),
    #[error("the cursor is not one this API returned")]
    InvalidCursor,
    #[error("the job was being changed concurrently; try again")]
    Busy,
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("this Idempotency-Key was used with a different request in the last 24 hours; use a new key")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry in a moment")]
    IdempotencyKeyInFlight,
    #[error("the job is {status}: its result is there once it is DONE")]
    NotFinished { status: &'static str },
    #[error("the job FAILED: {reason}")]
    Failed { reason: String },
    #[error("{}", .0.reason)]
    OverQuota(OverQuota),
    /// The caller's account was deleted while the request ran.
    #[error("the account no longer exists")]
    AccountGone,
    #[error("a backing service is unavailable")]
    Unavailable(#[source] crate::ports::Cause),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Busy,
            unavailable @ StoreError::Unavailable(_) => Self::Unavailable(Box::new(unavailable)),
        }
    }
}

impl From<BlobError> for JobError {
    fn from(e: BlobError) -> Self {
        match e {
            // Results are removed with their job, so a missing one has expired.
            BlobError::NotFound => Self::Expired,
            BlobError::TooLarge(limit) => Self::TooLarge { limit },
            unavailable @ BlobError::Unavailable(_) => Self::Unavailable(Box::new(unavailable)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Per page.
    pub max_pixels: u64,
    pub max_pages: u32,
    /// Where a PDF is opened to count its pages (none unless the program
    /// names its reader), and what that may take there.
    pub pdf_reader: imaging::document::PdfReader,
    pub pdf_confinement: imaging::sandbox::Confinement,
    /// Largest image accepted in a request body (API Gateway → Lambda
    /// carries 6 MB of event, base64 inflates binary bodies by 4/3).
    pub max_direct_bytes: u64,
    /// Largest image accepted through a presigned URL.
    pub max_presigned_bytes: u64,
    pub presign_ttl: StdDuration,
    /// A job whose image never arrives is forgotten after this long.
    pub abandon_after: Duration,
    pub quota: Quota,
    /// A `POST /ocr` job whose image was not stored within this (the
    /// request was abandoned) is forgotten.
    pub direct_upload_window: Duration,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_pixels: imaging::DEFAULT_MAX_PIXELS,
            max_pages: imaging::document::DEFAULT_MAX_PAGES,
            pdf_reader: imaging::document::PdfReader::Unavailable,
            pdf_confinement: Default::default(),
            max_direct_bytes: 4 * 1024 * 1024,
            max_presigned_bytes: 20 * 1024 * 1024,
            presign_ttl: StdDuration::from_secs(15 * 60),
            abandon_after: Duration::days(1),
            direct_upload_window: Duration::minutes(5),
            quota: Quota::default(),
        }
    }
}

/// A presigned upload handed to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUpload {
    pub url: String,
    pub content_type: String,
    pub bytes: u64,
    pub expires_at: OffsetDateTime,
}

/// A job with its full result loaded (from the blob store if it is large).
#[derive(Debug, Clone)]
pub struct JobDetails {
    pub job: Job,
    pub result: Option<OcrResult>,
}

/// A page of jobs and the opaque cursor of the next one.
#[derive(Debug, Clone)]
pub struct JobListing {
    pub jobs: Vec<Job>,
    pub next_cursor: Option<String>,
}

/// How long a link to a job's searchable PDF stays valid.
pub const PDF_LINK_LIFETIME: StdDuration = StdDuration::from_secs(300);

pub struct JobService {
    jobs: Arc<dyn JobStore>,
    keys: Arc<dyn IdempotencyStore>,
    blobs: Arc<dyn BlobStore>,
    accounts: Arc<dyn Accounts>,
    clock: Arc<dyn Clock>,
    limits: UploadLimits,
}

impl JobService {
    pub fn new(
        jobs: Arc<dyn JobStore>,
        keys: Arc<dyn IdempotencyStore>,
        blobs: Arc<dyn BlobStore>,
        accounts: Arc<dyn Accounts>,
        clock: Arc<dyn Clock>,
        limits: UploadLimits,
    ) -> Self {
        Self { jobs, keys, blobs, accounts, clock, limits }
    }

    /// Writes a new job, then looks at its account again: an account
    /// deleted meanwhile may have swept its jobs before this one was
    /// written, so the job goes too. (Written before the look, a job is
    /// either seen by the deletion's sweep or sees the deletion.)
    async fn create_job_for(&self, owner: &Owner, job: &Job) -> Result<(), JobError> {
        self.jobs.create_job(job).await?;
        let exists = self.accounts.exists(owner).await;
        if matches!(exists, Ok(true)) {
            return Ok(());
        }
        if let Err(e) = self.jobs.delete_job(job).await {
            tracing::error!(job_id = %job.id, error = %e, "could not remove a job of a deleted account; it will expire");
        }
        match exists {
            Err(e) => Err(e.into()),
            _ => Err(JobError::AccountGone),
        }
    }

    pub fn limits(&self) -> &UploadLimits {
        &self.limits
    }

    fn new_job(&self, owner: &Owner, status: JobStatus, content_type: &str, bytes: u64, how: ReadingOptions) -> Job {
        let now = self.clock.now();
        let id = JobId::new();
        Job {
            id,
            owner: owner.id,
            owner_email: owner.email.clone(),
            status,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            upload_key: upload_key(&owner.id, &id),
            content_type: content_type.to_owned(),
            bytes,
            result: None,
            pages_total: None,
            pages_done: 0,
            failure: None,
            notified: false,
            ocr: how.ocr,
            engine: how.engine,
            expires_at: Some(now + self.limits.abandon_after),
            version: 1,
        }
    }

    /// Stores an image sent in the request and queues it for OCR (the
    /// upload's S3 notification does the queueing).
    ///
    /// The job is written first, then the image; if the image cannot be
    /// stored the job is removed again. Should that removal fail too, the
    /// job's expiry makes the store forget it: no job stays QUEUED forever.
    pub async fn submit(&self, owner: &Owner, image: Vec<u8>) -> Result<Job, JobError> {
        self.submit_with(owner, image, ReadingOptions::default()).await
    }

    /// [`submit`](Self::submit), saying how the pages are read.
    pub async fn submit_with(&self, owner: &Owner, image: Vec<u8>, how: ReadingOptions) -> Result<Job, JobError> {
        if image.is_empty() {
            return Err(JobError::Empty);
        }
        if image.len() as u64 > self.limits.max_direct_bytes {
            return Err(JobError::TooLarge { limit: self.limits.max_direct_bytes });
        }
        let limits = DocumentLimits {
            max_pixels: self.limits.max_pixels,
            max_pages: self.limits.max_pages,
            pdf_reader: self.limits.pdf_reader,
            confinement: self.limits.pdf_confinement,
            ..Default::default()
        };
        let (image, info) = tokio::task::spawn_blocking(move || {
            let info = imaging::document::inspect_document(&image, &limits);
            (image, info)
        })
        .await
        .map_err(|e| JobError::Image(imaging::ImageProblem::Corrupt(format!("the document could not be read: {e}"))))?;
        let info = info?;
        self.admit(owner, info.pages).await?;
        // The job is written first, as waiting for its image and expiring
        // in minutes: a request abandoned before the image is stored leaves
        // a job that says so, and is gone soon, never one that claims to be
        // queued. Once the image is stored, the job is QUEUED (unless the
        // OCR worker, which takes waiting jobs too, has claimed it already).
        let mut waiting = self.new_job(owner, JobStatus::AwaitingUpload, info.mime_type(), image.len() as u64, how);
        waiting.pages_total = Some(info.pages);
        waiting.expires_at = Some(waiting.created_at + self.limits.direct_upload_window);
        self.create_job_for(owner, &waiting).await?;
        if let Err(e) = self.blobs.put(&waiting.upload_key, image, info.mime_type()).await {
            if let Err(undo) = self.jobs.delete_job(&waiting).await {
                tracing::error!(job_id = %waiting.id, error = %undo, "could not remove a job whose image was not stored; it will expire");
            }
            return Err(e.into());
        }
        let mut job = waiting.clone();
        job.status = JobStatus::Queued;
        job.expires_at = Some(job.created_at + self.limits.abandon_after);
        job.version += 1;
        match self.jobs.update_job(&job).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "the job's image is stored but the job still says it waits for it; the worker will take it")
            }
        }
        tracing::info!(job_id = %job.id, bytes = job.bytes, content_type = %job.content_type, "job submitted");
        Ok(job)
    }

    /// Makes a job waiting for a direct-to-S3 upload of `bytes` bytes of
    /// `content_type`, and the URL to PUT it to.
    pub async fn presign(
        &self,
        owner: &Owner,
        content_type: &str,
        bytes: u64,
    ) -> Result<(Job, PresignedUpload), JobError> {
        self.presign_with(owner, content_type, bytes, ReadingOptions::default()).await
    }

    /// [`presign`](Self::presign), saying how the pages are read.
    pub async fn presign_with(
        &self,
        owner: &Owner,
        content_type: &str,
        bytes: u64,
        how: ReadingOptions,
    ) -> Result<(Job, PresignedUpload), JobError> {
        let content_type = content_type.trim().to_ascii_lowercase();
        if !imaging::SUPPORTED_MIME_TYPES.contains(&content_type.as_str()) {
            return Err(JobError::UnsupportedContentType(content_type));
        }
        if bytes == 0 {
            return Err(JobError::Empty);
        }
        if bytes > self.limits.max_presigned_bytes {
            return Err(JobError::TooLarge { limit: self.limits.max_presigned_bytes });
        }
        // Its pages are counted when it arrives (see the worker).
        self.admit(owner, 1).await?;
        let job = self.new_job(owner, JobStatus::AwaitingUpload, &content_type, bytes, how);
        let url = self.blobs.presign_put(&job.upload_key, &content_type, bytes, self.limits.presign_ttl).await?;
        self.create_job_for(owner, &job).await?;
        let expires_at = job.created_at + self.limits.presign_ttl;
        Ok((job, PresignedUpload { url, content_type, bytes, expires_at }))
    }

    /// Refuses a new job over the owner's jobs in flight, or of `pages`
    /// pages over the owner's day; charges the day with them otherwise.
    async fn admit(&self, owner: &Owner, pages: u32) -> Result<(), JobError> {
        let now = self.clock.now();
        let recent = self.jobs.recent_jobs(&owner.id, now - PAGE_WINDOW).await?;
        let upload_window = Duration::try_from(self.limits.presign_ttl).unwrap_or(Duration::minutes(15));
        let quota = self.limits.quota;
        quota.admit_in_flight(&recent, now, upload_window).map_err(JobError::OverQuota)?;
        match self.jobs.charge_pages(&owner.id, quota_day(now), pages, quota.max_pages_per_day).await? {
            ports::PageCharge::Charged { .. } => Ok(()),
            ports::PageCharge::Over { used } => Err(JobError::OverQuota(quota.pages_refused(used, pages, now))),
        }
    }

    pub async fn get(&self, owner: &Owner, id: &JobId) -> Result<JobDetails, JobError> {
        let job = self.live_job(owner, id).await?;
        let result = self.load_result(&job).await?;
        Ok(JobDetails { job, result })
    }

    /// The job, unless it is unknown or past its retention.
    async fn live_job(&self, owner: &Owner, id: &JobId) -> Result<Job, JobError> {
        let job = self.jobs.find_job(&owner.id, id).await?.ok_or(JobError::NotFound)?;
        if job.is_expired(self.clock.now()) {
            return Err(JobError::Expired);
        }
        Ok(job)
    }

    /// The full result, read from the blob store when it is large.
    async fn load_result(&self, job: &Job) -> Result<Option<OcrResult>, JobError> {
        Ok(match &job.result {
            None => None,
            Some(StoredResult::Inline(result)) => Some(result.clone()),
            Some(StoredResult::Blob { key, .. }) => {
                let bytes = self.blobs.get(key, 64 * 1024 * 1024).await?;
                Some(serde_json::from_slice(&bytes).map_err(|e| JobError::Unavailable(Box::new(e)))?)
            }
        })
    }

    /// A job that is DONE; the reason it is not, otherwise.
    async fn done_job(&self, owner: &Owner, id: &JobId) -> Result<Job, JobError> {
        let job = self.live_job(owner, id).await?;
        match job.status {
            JobStatus::Done => Ok(job),
            JobStatus::Failed => Err(JobError::Failed { reason: job.failure.unwrap_or_default() }),
            status => Err(JobError::NotFinished { status: status.as_str() }),
        }
    }

    /// The result of a job that is DONE.
    pub async fn finished_result(&self, owner: &Owner, id: &JobId) -> Result<OcrResult, JobError> {
        let job = self.done_job(owner, id).await?;
        self.load_result(&job).await?.ok_or(JobError::NotFinished { status: job.status.as_str() })
    }

    /// A short-lived URL to download the searchable PDF of a job that is
    /// DONE (too large to pass through the API's Lambda). The result itself
    /// is not read.
    /// A download URL of the searchable PDF, valid [`PDF_LINK_LIFETIME`].
    pub async fn searchable_pdf_url(&self, owner: &Owner, id: &JobId) -> Result<String, JobError> {
        self.done_job(owner, id).await?;
        let url = self.blobs.presign_get(&searchable_pdf_key(id), &format!("{id}.pdf"), PDF_LINK_LIFETIME).await?;
        Ok(url)
    }

    pub async fn list(&self, owner: &Owner, cursor: Option<&str>, limit: usize) -> Result<JobListing, JobError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let page = self.jobs.list_jobs(&owner.id, after, limit.clamp(1, 100)).await?;
        let now = self.clock.now();
        let jobs = page.jobs.into_iter().filter(|job| !job.is_expired(now)).collect();
        Ok(JobListing { jobs, next_cursor: page.next.as_ref().map(encode_cursor) })
    }

    /// Removes the job, then its image and result. An image left behind by
    /// a failure here is removed by the bucket's lifecycle rule.
    pub async fn delete(&self, owner: &Owner, id: &JobId) -> Result<(), JobError> {
        let job = retry::on_conflict(|| async {
            let job = self.jobs.find_job(&owner.id, id).await?.ok_or(JobError::NotFound)?;
            self.jobs.delete_job(&job).await?;
            Ok::<_, JobError>(job)
        })
        .await?;
        for key in job_objects(&job) {
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(job_id = %job.id, key, error = %e, "could not delete an object of a deleted job");
            }
        }
        Ok(())
    }
}

impl Contended for JobError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Busy)
    }

    fn busy() -> Self {
        Self::Busy
    }
}

fn encode_cursor(after: &JobId) -> String {
    URL_SAFE_NO_PAD.encode(after.0.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<JobId, JobError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| JobError::InvalidCursor)?;
    let uuid = uuid::Uuid::from_slice(&bytes).map_err(|_| JobError::InvalidCursor)?;
    Ok(JobId(uuid))
}

#[cfg(test)]
mod tests;
