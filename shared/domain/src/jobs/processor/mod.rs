//! Turns an uploaded image into a result: claim the job, fetch and inspect
//! the upload, read its pages (`pages`), write the outputs, finish and
//! notify; how each ends is in `outcome`. Safe against redelivery at every
//! step.

mod outcome;
mod pages;

pub use outcome::{FailureClass, JobFailure, Outcome, Report, Transient};
use pages::{DonePage, KeptPage, blocking, recognize_page};

use std::sync::Arc;
use std::time::Instant;

use time::Duration;

use super::model::*;
use super::outputs;
use crate::clock::Clock;
use crate::email::{EmailJob, EmailMessage, EmailQueue};
use crate::jobs::ports::{JobQueue, JobStore, TextRecognizer};
use crate::ports::{BlobError, BlobStore, StoreError};
use crate::values::UserId;
use imaging::document::{self, DocumentInfo, DocumentLimits, PdfReader};
use imaging::sandbox::Confinement;

/// Days a finished job and its result are kept unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy)]
pub struct ProcessorLimits {
    /// Per page.
    pub max_pixels: u64,
    pub max_pages: u32,
    pub pdf_dpi: f32,
    /// Where a PDF's pages are drawn (none unless the program names its
    /// reader), and what drawing one may take there.
    pub pdf_reader: PdfReader,
    pub pdf_confinement: Confinement,
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
    /// Pages a day per account: a presigned upload's pages are known only
    /// when it arrives, and checked then.
    pub quota: super::Quota,
    /// Pages of one document read in one invocation before it is handed on
    /// to the back of the queue (`None`: as many as the deadline allows), so
    /// that jobs queued behind long documents start sooner.
    pub pages_per_invocation: Option<std::num::NonZeroU32>,
    /// Characters of text a job may hold, all its pages together: a page's
    /// own text is capped (`imaging::text_layer::MAX_GLYPHS_PER_PAGE`), and
    /// this bounds what the worker keeps of a whole document.
    pub max_text_chars: usize,
}

impl Default for ProcessorLimits {
    fn default() -> Self {
        Self {
            max_pixels: imaging::DEFAULT_MAX_PIXELS,
            max_pages: document::DEFAULT_MAX_PAGES,
            pdf_dpi: document::DEFAULT_PDF_DPI,
            pdf_reader: PdfReader::Unavailable,
            pdf_confinement: Confinement::default(),
            max_object_bytes: 20 * 1024 * 1024,
            lease: Duration::minutes(5),
            max_inline_result_bytes: 300 * 1024,
            preview_chars: 1000,
            retention: Duration::days(DEFAULT_RETENTION_DAYS),
            quota: super::Quota::default(),
            pages_per_invocation: None,
            max_text_chars: 1_000_000,
        }
    }
}

impl ProcessorLimits {
    fn document(&self) -> DocumentLimits {
        DocumentLimits {
            max_pixels: self.max_pixels,
            max_pages: self.max_pages,
            pdf_dpi: self.pdf_dpi,
            pdf_reader: self.pdf_reader,
            confinement: self.pdf_confinement,
        }
    }
}

pub struct JobProcessor {
    jobs: Arc<dyn JobStore>,
    blobs: Arc<dyn BlobStore>,
    emails: Arc<dyn EmailQueue>,
    queue: Arc<dyn JobQueue>,
    recognizer: Arc<dyn TextRecognizer>,
    clock: Arc<dyn Clock>,
    limits: ProcessorLimits,
}

const MAX_CONFLICT_RETRIES: usize = 5;
/// Time to keep a document's pages and hand it on, left before the deadline.
const HAND_ON_TIME: std::time::Duration = std::time::Duration::from_secs(5);
/// A kept page's JSON or JPEG.
const MAX_KEPT_PAGE_BYTES: u64 = 64 * 1024 * 1024;

/// An upload fetched and inspected.
struct Upload {
    bytes: Arc<Vec<u8>>,
    info: DocumentInfo,
}

/// How reading a document's pages stopped.
enum PagesRead {
    All(Vec<DonePage>),
    Failed(JobFailure),
    /// Out of time (or at the end of its turn): the pages so far, of which
    /// the first `kept` were read by earlier invocations.
    HandOn {
        pages: Vec<DonePage>,
        kept: usize,
    },
}

/// How a run ended. One lives for a moment per run: not worth a box.
#[allow(clippy::large_enum_variant)]
enum Run {
    Finished(Report, Job),
    HandedOn { pages_done: u32, pages_total: u32 },
}

/// How much of the text the "ready" e-mail quotes.
const EMAIL_EXCERPT_CHARS: usize = 280;

impl JobProcessor {
    pub fn new(
        jobs: Arc<dyn JobStore>,
        blobs: Arc<dyn BlobStore>,
        emails: Arc<dyn EmailQueue>,
        queue: Arc<dyn JobQueue>,
        recognizer: Arc<dyn TextRecognizer>,
        clock: Arc<dyn Clock>,
        limits: ProcessorLimits,
    ) -> Self {
        Self { jobs, blobs, emails, queue, recognizer, clock, limits }
    }

    /// Processes the upload of job `id`, or goes on with it where the last
    /// invocation stopped. Idempotent: a redelivered notification for a
    /// finished job does no work and sends no second mail. A document whose
    /// next page would not be done by `finish_by` is handed on.
    pub async fn process(&self, owner: &UserId, id: &JobId, finish_by: Option<Instant>) -> Result<Outcome, Transient> {
        let Some(job) = self.claim(owner, id).await? else {
            return self.settle_unclaimed(owner, id).await;
        };
        match self.run(job, finish_by).await? {
            Run::Finished(report, mut job) => {
                // Read once and recorded: the image is not kept (see the
                // docs/operations.md, "Data retention"; the bucket's lifecycle rule is
                // the safety net), nor the pages kept between invocations.
                let done = JobObjects::of(&job).read_and_done(job.pages_total.unwrap_or(0));
                if let Err(e) = self.blobs.delete_many(&done).await {
                    tracing::warn!(job_id = %job.id, error = %e, "could not delete the objects of a finished job");
                }
                self.notify(&mut job).await?;
                Ok(Outcome::Finished(report))
            }
            Run::HandedOn { pages_done, pages_total } => {
                self.queue.continue_job(owner, id).await?;
                Ok(Outcome::HandedOn { pages_done, pages_total })
            }
        }
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
            // A document handed on keeps the time it was first started.
            job.started_at.get_or_insert(now);
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
    /// sure its mail went out, and remove an image PUT again to its upload
    /// URL after it finished), or gone (remove everything a worker may have
    /// stored before the job was deleted under it).
    async fn settle_unclaimed(&self, owner: &UserId, id: &JobId) -> Result<Outcome, Transient> {
        match self.jobs.find_job(owner, id).await? {
            Some(mut job) if job.status.is_final() => {
                if !job.notified {
                    self.notify(&mut job).await?;
                }
                // A finished job keeps no image ("deleted as soon as read").
                self.blobs.delete(&JobObjects::of(&job).upload()).await?;
                Ok(Outcome::Skipped("the job had already finished"))
            }
            Some(_) => Err(Transient::because(format!("job {id} changed state while being claimed"))),
            None => {
                self.remove_leftovers(owner, id).await;
                Ok(Outcome::Skipped("the job no longer exists"))
            }
        }
    }

    /// Every object a job that no longer exists may have left: its upload,
    /// result and searchable PDF, and the pages a worker kept between
    /// invocations (as many as a document may have: the job that said how
    /// many is gone). Best effort; the bucket's lifecycle rule is the
    /// backstop.
    async fn remove_leftovers(&self, owner: &UserId, id: &JobId) {
        let objects = JobObjects::new(owner, id).all(self.limits.max_pages);
        if let Err(e) = self.blobs.delete_many(&objects).await {
            tracing::warn!(job_id = %id, error = %e, "could not delete the objects of a missing job");
        }
    }

    /// Fetches the upload, then draws and recognises its pages in order from
    /// the first not yet done; records DONE or FAILED, or hands the
    /// document on when the deadline comes before its last page.
    async fn run(&self, mut job: Job, finish_by: Option<Instant>) -> Result<Run, Transient> {
        let started = Instant::now();
        let queued_ms =
            job.started_at.map_or(0, |claimed| (claimed - job.created_at).whole_milliseconds().max(0) as u64);
        let mut report = Report {
            status: JobStatus::Failed,
            failure: None,
            queued_ms,
            ocr_ms: 0,
            megapixels: None,
            pages: 0,
            lines: 0,
        };
        let upload = match self.fetch_and_inspect(&mut job).await? {
            Ok(upload) => upload,
            Err(failure) => return self.finish(job, Err(failure), report, started).await,
        };
        match self.read_pages(&mut job, &upload, finish_by).await? {
            PagesRead::HandOn { pages, kept } => self.hand_on(job, &pages, kept, upload.info.pages).await,
            PagesRead::Failed(failure) => self.finish(job, Err(failure), report, started).await,
            PagesRead::All(pages) => {
                report.pages = upload.info.pages;
                report.megapixels = Some(
                    pages.iter().map(|p| f64::from(p.page.result.width) * f64::from(p.page.result.height)).sum::<f64>()
                        / 1e6,
                );
                report.lines = pages.iter().map(|p| p.page.result.lines.len()).sum();
                self.finish(job, Ok(pages), report, started).await
            }
        }
    }

    /// The upload's bytes and what document they are; a presigned upload's
    /// pages are admitted to its account's day now that they are known.
    async fn fetch_and_inspect(&self, job: &mut Job) -> Result<Result<Upload, JobFailure>, Transient> {
        let bytes = match self.blobs.get(&job.upload_key, self.limits.max_object_bytes).await {
            Ok(bytes) => Arc::new(bytes),
            Err(BlobError::NotFound) => return Ok(Err(JobFailure::ImageMissing)),
            Err(BlobError::TooLarge(limit)) => return Ok(Err(JobFailure::ImageTooLarge { limit })),
            Err(unavailable @ BlobError::Unavailable(_)) => return Err(unavailable.into()),
        };
        let limits = self.limits.document();
        let inspected = {
            let bytes = bytes.clone();
            blocking(move || Ok(document::inspect_document(&bytes, &limits)?)).await
        };
        let info = match inspected {
            Ok(info) => info,
            Err(failure) if failure.is_transient() => return Err(Transient(Box::new(failure))),
            Err(failure) => return Ok(Err(failure)),
        };
        match job.pages_total {
            None => {
                if let Err(over) = self.admit_pages(job, info.pages).await? {
                    return Ok(Err(over));
                }
            }
            // A presigned URL still valid after a hand-on takes a second PUT:
            // another document, whose pages nobody admitted.
            Some(was) if was != info.pages => {
                return Ok(Err(JobFailure::UploadReplaced { was, now: info.pages }));
            }
            Some(_) => {}
        }
        job.pages_total = Some(info.pages);
        Ok(Ok(Upload { bytes, info }))
    }

    /// Reads the pages not yet read, in order, until the last, a failure,
    /// or the time (or the turn) to hand the document on.
    async fn read_pages(
        &self,
        job: &mut Job,
        upload: &Upload,
        finish_by: Option<Instant>,
    ) -> Result<PagesRead, Transient> {
        let (limits, info) = (self.limits.document(), upload.info);
        let mut pages = match self.kept_pages(job).await? {
            Some(pages) => pages,
            None => return Ok(PagesRead::Failed(JobFailure::KeptPagesLost)),
        };
        let kept = pages.len();
        let mut text_chars: usize = pages.iter().map(|p| p.page.result.text_chars()).sum();
        let mut slowest = std::time::Duration::ZERO;
        while (pages.len() as u32) < info.pages {
            let index = pages.len() as u32;
            let read_here = (pages.len() - kept) as u32;
            let out_of_time = finish_by.is_some_and(|t| Instant::now() + slowest.mul_f32(1.5) + HAND_ON_TIME > t);
            let turn_over = self.limits.pages_per_invocation.is_some_and(|turn| read_here >= turn.get());
            if read_here > 0 && (out_of_time || turn_over) {
                return Ok(PagesRead::HandOn { pages, kept });
            }
            let page_started = Instant::now();
            let (recognizer, bytes) = (self.recognizer.clone(), upload.bytes.clone());
            let (ocr, engine) = (job.ocr, job.engine);
            let drawn =
                blocking(move || recognize_page(recognizer.as_ref(), &bytes, &info, index, &limits, ocr, engine)).await;
            match drawn {
                Ok(page) => {
                    text_chars = text_chars.saturating_add(page.page.result.text_chars());
                    if text_chars > self.limits.max_text_chars {
                        let failure = JobFailure::TooMuchText { limit: self.limits.max_text_chars };
                        return Ok(PagesRead::Failed(failure.on_page(index, info.pages)));
                    }
                    pages.push(page)
                }
                Err(failure) if failure.is_transient() => return Err(Transient(Box::new(failure))),
                Err(failure) => return Ok(PagesRead::Failed(failure.on_page(index, info.pages))),
            }
            slowest = slowest.max(page_started.elapsed());
            if info.pages > 1 {
                // Progress for GET /jobs/{id}, and a renewed lease.
                job.pages_done = pages.len() as u32;
                self.save(job).await?;
            }
        }
        Ok(PagesRead::All(pages))
    }

    /// Records the outcome: the result (and the searchable PDF) and DONE,
    /// or FAILED with the reason.
    async fn finish(
        &self,
        mut job: Job,
        verdict: Result<Vec<DonePage>, JobFailure>,
        mut report: Report,
        started: Instant,
    ) -> Result<Run, Transient> {
        match verdict {
            Ok(pages) => {
                // The engine that read the document; a document read only
                // from its own text says so.
                let engine = pages
                    .iter()
                    .rev()
                    .find(|p| p.page.result.source == PageSource::Ocr)
                    .or(pages.last())
                    .map(|p| p.page.engine.clone())
                    .unwrap_or_else(EngineInfo::unknown);
                let pdf_pages: Vec<_> = pages
                    .iter()
                    .map(|p| outputs::PdfPage {
                        result: &p.page.result,
                        jpeg: &p.jpeg,
                        gray: p.page.gray,
                        dpi: p.page.dpi,
                        placement: p.page.placement,
                    })
                    .collect();
                let pdf = outputs::searchable_pdf(&pdf_pages);
                self.blobs.put(&searchable_pdf_key(&job.id), pdf, "application/pdf").await?;
                let results = pages.into_iter().map(|p| p.page.result).collect();
                let result = OcrResult::new(results, started.elapsed().as_millis() as u64, engine);
                job.pages_done = result.pages.len() as u32;
                job.result = Some(self.store_result(&job.id, result).await?);
                job.status = JobStatus::Done;
            }
            Err(failure) => {
                let reason = failure.reason();
                tracing::warn!(job_id = %job.id, reason, "job failed");
                report.failure = Some(failure.class());
                job.failure = Some(reason);
                job.status = JobStatus::Failed;
            }
        }
        let now = self.clock.now();
        job.finished_at = Some(now);
        job.expires_at = Some(now + self.limits.retention);
        self.save(&mut job).await?;
        report.status = job.status;
        report.ocr_ms = started.elapsed().as_millis() as u64;
        Ok(Run::Finished(report, job))
    }

    /// Charges a presigned upload's pages to its owner's day, now that they
    /// are known (its first page was charged when its URL was given), or
    /// refuses them over the day's quota.
    async fn admit_pages(&self, job: &Job, pages: u32) -> Result<Result<(), JobFailure>, Transient> {
        let Some(more) = pages.checked_sub(1).filter(|&more| more > 0) else {
            return Ok(Ok(()));
        };
        let now = self.clock.now();
        let limit = self.limits.quota.max_pages_per_day;
        Ok(match self.jobs.charge_pages(&job.owner, super::quota_day(now), more, limit).await? {
            crate::jobs::ports::PageCharge::Charged { .. } => Ok(()),
            crate::jobs::ports::PageCharge::Over { used } => {
                Err(JobFailure::OverQuota { pages, used: used.saturating_sub(1), limit })
            }
        })
    }

    /// Writes the job as this worker holds it (renewing its lease).
    async fn save(&self, job: &mut Job) -> Result<(), Transient> {
        job.updated_at = self.clock.now();
        job.version += 1;
        match self.jobs.update_job(job).await {
            Ok(()) => Ok(()),
            // Deleted by its owner meanwhile, or taken over after our lease
            // ran out: either way the job is not ours to finish any more.
            // Deleted: what this worker wrote for it goes at once.
            Err(StoreError::Conflict) => {
                if self.jobs.find_job(&job.owner, &job.id).await?.is_none() {
                    self.remove_leftovers(&job.owner, &job.id).await;
                }
                Err(Transient::because(format!("job {} changed while being processed", job.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps the pages done in this invocation for the next one, puts the
    /// job back in the queue's hands (QUEUED, with its progress) and lets the
    /// caller queue the message that continues it.
    async fn hand_on(&self, mut job: Job, pages: &[DonePage], kept: usize, pages_total: u32) -> Result<Run, Transient> {
        for page in &pages[kept..] {
            let (json_key, jpeg_key) = page_keys(&job.id, page.page.result.page);
            let json = serde_json::to_vec(&page.page).map_err(|e| Transient(Box::new(e)))?;
            self.blobs.put(&json_key, json, "application/json").await?;
            self.blobs.put(&jpeg_key, page.jpeg.clone(), "image/jpeg").await?;
        }
        job.status = JobStatus::Queued;
        job.pages_done = pages.len() as u32;
        self.save(&mut job).await?;
        tracing::info!(job_id = %job.id, pages_done = job.pages_done, pages_total, "document handed on before the deadline");
        Ok(Run::HandedOn { pages_done: job.pages_done, pages_total })
    }

    /// The pages an earlier invocation kept, in order; `None` if any is
    /// missing (then the job fails: starting again could loop for ever).
    async fn kept_pages(&self, job: &Job) -> Result<Option<Vec<DonePage>>, Transient> {
        let mut pages = Vec::new();
        for page in 1..=job.pages_done {
            let (json_key, jpeg_key) = page_keys(&job.id, page);
            let kept = match self.blobs.get(&json_key, MAX_KEPT_PAGE_BYTES).await {
                Ok(json) => serde_json::from_slice::<KeptPage>(&json).ok(),
                Err(BlobError::Unavailable(e)) => return Err(Transient(e)),
                Err(_) => None,
            };
            let jpeg = match self.blobs.get(&jpeg_key, MAX_KEPT_PAGE_BYTES).await {
                Ok(jpeg) => Some(jpeg),
                Err(BlobError::Unavailable(e)) => return Err(Transient(e)),
                Err(_) => None,
            };
            let (Some(kept), Some(jpeg)) = (kept, jpeg) else {
                tracing::warn!(job_id = %job.id, page, "a kept page is missing; the job fails");
                return Ok(None);
            };
            pages.push(DonePage { page: kept, jpeg });
        }
        Ok(Some(pages))
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
                result_path: job_path(&job.id),
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
