//! Turns an uploaded image into a result: claim the job, fetch, decode,
//! recognise, store, notify. Safe against redelivery at every step.

use std::sync::Arc;
use std::time::Instant;

use time::Duration;

use super::model::*;
use crate::clock::Clock;
use crate::domain::UserId;
use crate::email::{EmailJob, EmailMessage};
use crate::imaging::{self, ImageProblem};
use crate::ports::{BlobError, BlobStore, Cause, EmailQueue, JobStore, QueueError, StoreError, TextRecognizer};

/// A failure worth retrying (AWS unavailable, throttled, another worker busy
/// with the job): the message goes back on the queue.
#[derive(Debug, thiserror::Error)]
#[error("the job cannot be processed now")]
pub struct Transient(#[source] pub Cause);

impl Transient {
    fn because(why: String) -> Self {
        Self(why.into())
    }
}

impl From<StoreError> for Transient {
    fn from(e: StoreError) -> Self {
        Self(Box::new(e))
    }
}

impl From<BlobError> for Transient {
    fn from(e: BlobError) -> Self {
        Self(Box::new(e))
    }
}

impl From<QueueError> for Transient {
    fn from(e: QueueError) -> Self {
        Self(Box::new(e))
    }
}

/// What became of one upload notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The job ended DONE or FAILED now.
    Finished(Report),
    /// Nothing to do (already finished, or the job is gone); acknowledged.
    Skipped(&'static str),
}

impl Outcome {
    /// The status the job ended with now, if it ended now.
    pub fn status(&self) -> Option<JobStatus> {
        match self {
            Outcome::Finished(report) => Some(report.status),
            Outcome::Skipped(_) => None,
        }
    }
}

/// How a job went, for the worker's log line and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub status: JobStatus,
    pub failure: Option<FailureClass>,
    /// From the job's creation to its claim by a worker.
    pub queued_ms: u64,
    /// Fetching, decoding and recognising the image.
    pub ocr_ms: u64,
    /// The image's size, when it could be decoded.
    pub megapixels: Option<f64>,
    pub lines: usize,
}

/// Why a job failed, in classes a metric can count (the job itself keeps
/// the reason in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    ImageMissing,
    ImageTooLarge,
    /// Not an image, corrupt, or over the pixel limit.
    ImageRejected,
    RecognitionFailed,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::ImageMissing => "image-missing",
            FailureClass::ImageTooLarge => "image-too-large",
            FailureClass::ImageRejected => "image-rejected",
            FailureClass::RecognitionFailed => "recognition-failed",
        }
    }
}

/// Days a finished job and its result are kept unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy)]
pub struct ProcessorLimits {
    pub max_pixels: u64,
    pub max_object_bytes: u64,
    /// A PROCESSING job untouched for this long is presumed abandoned by a
    /// worker that died (Lambda timeout) and is taken over.
    pub lease: Duration,
    /// Results whose JSON exceeds this go to the blob store (DynamoDB items
    /// max out at 400 KB).
    pub max_inline_result_bytes: usize,
    pub preview_chars: usize,
    /// How long a finished job (and its result) is kept.
    pub retention: Duration,
}

impl Default for ProcessorLimits {
    fn default() -> Self {
        Self {
            max_pixels: imaging::DEFAULT_MAX_PIXELS,
            max_object_bytes: 20 * 1024 * 1024,
            lease: Duration::minutes(5),
            max_inline_result_bytes: 300 * 1024,
            preview_chars: 1000,
            retention: Duration::days(DEFAULT_RETENTION_DAYS),
        }
    }
}

pub struct JobProcessor {
    jobs: Arc<dyn JobStore>,
    blobs: Arc<dyn BlobStore>,
    emails: Arc<dyn crate::ports::EmailQueue>,
    recognizer: Arc<dyn TextRecognizer>,
    clock: Arc<dyn Clock>,
    limits: ProcessorLimits,
}

const MAX_CONFLICT_RETRIES: usize = 5;
/// How much of the text the "ready" e-mail quotes.
const EMAIL_EXCERPT_CHARS: usize = 280;

impl JobProcessor {
    pub fn new(
        jobs: Arc<dyn JobStore>,
        blobs: Arc<dyn BlobStore>,
        emails: Arc<dyn EmailQueue>,
        recognizer: Arc<dyn TextRecognizer>,
        clock: Arc<dyn Clock>,
        limits: ProcessorLimits,
    ) -> Self {
        Self { jobs, blobs, emails, recognizer, clock, limits }
    }

    /// Processes the upload of job `id`. Idempotent: a redelivered
    /// notification for a finished job does no work and sends no second mail.
    pub async fn process(&self, owner: &UserId, id: &JobId) -> Result<Outcome, Transient> {
        let Some(job) = self.claim(owner, id).await? else {
            return self.settle_unclaimed(owner, id).await;
        };
        let (report, mut job) = self.run(job).await?;
        // Read once and recorded: the image is not kept (see the README's
        // "Data retention"; the bucket's lifecycle rule is the safety net).
        if let Err(e) = self.blobs.delete(&job.upload_key).await {
            tracing::warn!(job_id = %job.id, error = %e, "could not delete the image of a finished job");
        }
        self.notify(&mut job).await?;
        Ok(Outcome::Finished(report))
    }

    /// Moves the job to PROCESSING; `None` when it is not ours to process.
    async fn claim(&self, owner: &UserId, id: &JobId) -> Result<Option<Job>, Transient> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let now = self.clock.now();
            let Some(mut job) = self.jobs.find_job(owner, id).await? else {
                return Ok(None);
            };
            match job.status {
                JobStatus::Done | JobStatus::Failed => return Ok(None),
                JobStatus::Processing if job.updated_at + self.limits.lease > now => {
                    return Err(Transient::because(format!("job {id} is being processed by another worker")));
                }
                _ => {}
            }
            job.status = JobStatus::Processing;
            job.started_at = Some(now);
            job.updated_at = now;
            job.expires_at = None;
            job.version += 1;
            match self.jobs.update_job(&job).await {
                Err(StoreError::Conflict) => continue,
                other => other?,
            }
            tracing::info!(job_id = %id, "job claimed");
            return Ok(Some(job));
        }
        Err(Transient::because(format!("job {id} kept changing while being claimed")))
    }

    /// A notification for a job we did not claim: finished already (make
    /// sure its mail went out), or gone (remove the orphaned upload, and the
    /// result a worker may have stored before the job was deleted under it).
    async fn settle_unclaimed(&self, owner: &UserId, id: &JobId) -> Result<Outcome, Transient> {
        match self.jobs.find_job(owner, id).await? {
            Some(mut job) if job.status.is_final() => {
                if !job.notified {
                    self.notify(&mut job).await?;
                }
                Ok(Outcome::Skipped("the job had already finished"))
            }
            Some(_) => Err(Transient::because(format!("job {id} changed state while being claimed"))),
            None => {
                for key in [upload_key(owner, id), result_key(id)] {
                    if let Err(e) = self.blobs.delete(&key).await {
                        tracing::warn!(job_id = %id, key, error = %e, "could not delete an object of a missing job");
                    }
                }
                Ok(Outcome::Skipped("the job no longer exists"))
            }
        }
    }

    /// Fetches, decodes and recognises, then records DONE or FAILED.
    async fn run(&self, mut job: Job) -> Result<(Report, Job), Transient> {
        let started = Instant::now();
        let verdict = match self.blobs.get(&job.upload_key, self.limits.max_object_bytes).await {
            Ok(bytes) => self.recognize(bytes).await,
            Err(BlobError::NotFound) => Err((FailureClass::ImageMissing, "the uploaded image is missing".to_owned())),
            Err(BlobError::TooLarge(limit)) => {
                Err((FailureClass::ImageTooLarge, format!("the image is larger than {limit} bytes")))
            }
            Err(unavailable @ BlobError::Unavailable(_)) => return Err(unavailable.into()),
        };
        let now = self.clock.now();
        let queued_ms =
            job.started_at.map_or(0, |claimed| (claimed - job.created_at).whole_milliseconds().max(0) as u64);
        let mut report =
            Report { status: JobStatus::Failed, failure: None, queued_ms, ocr_ms: 0, megapixels: None, lines: 0 };
        match verdict {
            Ok((recognized, (width, height))) => {
                let text = recognized.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
                report.megapixels = Some(f64::from(width) * f64::from(height) / 1e6);
                report.lines = recognized.lines.len();
                let result = OcrResult {
                    text,
                    lines: recognized.lines,
                    width,
                    height,
                    duration_ms: started.elapsed().as_millis() as u64,
                    engine: recognized.engine,
                };
                job.result = Some(self.store_result(&job.id, result).await?);
                job.status = JobStatus::Done;
            }
            Err((class, reason)) => {
                tracing::warn!(job_id = %job.id, reason, "job failed");
                report.failure = Some(class);
                job.failure = Some(reason);
                job.status = JobStatus::Failed;
            }
        }
        job.finished_at = Some(now);
        job.updated_at = now;
        job.expires_at = Some(now + self.limits.retention);
        job.version += 1;
        match self.jobs.update_job(&job).await {
            Ok(()) => {}
            // Deleted by its owner meanwhile, or taken over after our lease
            // ran out: either way the job is not ours to finish any more.
            Err(StoreError::Conflict) => {
                return Err(Transient::because(format!("job {} changed while being processed", job.id)));
            }
            Err(e) => return Err(e.into()),
        }
        report.status = job.status;
        report.ocr_ms = started.elapsed().as_millis() as u64;
        Ok((report, job))
    }

    /// Decoding and recognition are CPU-bound: off the async executor, and a
    /// panic inside them is a failed job, not a crashed worker.
    async fn recognize(&self, bytes: Vec<u8>) -> Result<(Recognized, (u32, u32)), (FailureClass, String)> {
        let recognizer = self.recognizer.clone();
        let max_pixels = self.limits.max_pixels;
        let work = tokio::task::spawn_blocking(move || {
            let image = imaging::decode(&bytes, max_pixels)
                .map_err(|e: ImageProblem| (FailureClass::ImageRejected, e.to_string()))?;
            drop(bytes);
            let dimensions = (image.width(), image.height());
            recognizer
                .recognize(&image)
                .map(|r| (r, dimensions))
                .map_err(|e| (FailureClass::RecognitionFailed, crate::errors::chain(&e)))
        });
        work.await.unwrap_or_else(|e| Err((FailureClass::RecognitionFailed, format!("text recognition crashed: {e}"))))
    }

    async fn store_result(&self, id: &JobId, result: OcrResult) -> Result<StoredResult, Transient> {
        let json = serde_json::to_vec(&result).map_err(|e| Transient(Box::new(e)))?;
        if json.len() <= self.limits.max_inline_result_bytes {
            return Ok(StoredResult::Inline(result));
        }
        let key = result_key(id);
        self.blobs.put(&key, json, "application/json").await?;
        Ok(StoredResult::Blob { key, preview: result.excerpt(self.limits.preview_chars) })
    }

    /// Queues the outcome e-mail, then records that it was queued. The
    /// e-mail job's id is derived from the job, so a repeat after a crash
    /// between the two steps is recognised by the notify function.
    async fn notify(&self, job: &mut Job) -> Result<(), Transient> {
        let message = match (&job.status, &job.result, &job.failure) {
            (JobStatus::Done, Some(result), _) => EmailMessage::OcrDone {
                job_id: job.id.to_string(),
                excerpt: match result {
                    StoredResult::Inline(r) => r.excerpt(EMAIL_EXCERPT_CHARS),
                    StoredResult::Blob { preview, .. } => excerpt(preview, EMAIL_EXCERPT_CHARS),
                },
                result_path: format!("/jobs/{}", job.id),
            },
            (JobStatus::Failed, _, failure) => EmailMessage::OcrFailed {
                job_id: job.id.to_string(),
                reason: failure.clone().unwrap_or_else(|| "unknown".into()),
            },
            _ => return Ok(()),
        };
        let email =
            EmailJob::idempotent(&format!("{}:{}", job.id, job.status.as_str()), job.owner_email.clone(), message);
        self.emails.enqueue(&email).await?;
        for _ in 0..MAX_CONFLICT_RETRIES {
            job.notified = true;
            job.version += 1;
            match self.jobs.update_job(job).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => match self.jobs.find_job(&job.owner, &job.id).await? {
                    Some(fresh) if !fresh.notified => *job = fresh,
                    _ => return Ok(()),
                },
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
