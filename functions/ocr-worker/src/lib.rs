//! The OCR worker: an SQS batch of S3 upload notifications in, a
//! `batchItemFailures` response out. Lambda runs it through
//! `lambda_runtime`; the local runner feeds it from a poller.

pub mod engine;
#[cfg(feature = "stock")]
pub mod stock;

use std::sync::Arc;
use std::time::Duration;

use aws_adapters::AwsClients;
use aws_adapters::dynamodb_jobs::DynamoJobStore;
use aws_adapters::s3::S3BlobStore;
use aws_adapters::sqs::{SqsEmailQueue, SqsJobQueue};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::clock::SystemClock;
use domain::jobs::{ContinueJob, JobId, JobProcessor, JobStatus, Outcome, Report, Transient, parse_upload_key};
use domain::values::UserId;
use engine::Engines;
use imaging::document::PdfReader;
use percent_encoding::percent_decode_str;
use platform::config::{Env, OcrConfig};
use platform::telemetry::emf::{self, Metric};
use sqs_host::{BatchWorker, Deadline, RecordError, RecordQueues};

/// S3 URL-encodes keys in notifications, with `+` for spaces.
fn decode_key(raw: &str) -> String {
    percent_decode_str(&raw.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// What one SQS message asks for.
#[derive(Debug, PartialEq, Eq)]
enum Notification {
    /// S3's check that it may write to the queue.
    Test,
    Objects(Vec<(String, String)>),
    /// A document an earlier invocation handed on.
    Continue(ContinueJob),
}

fn parse_notification(body: &str) -> Result<Notification, String> {
    if let Some(next) = ContinueJob::from_message(body) {
        return Ok(Notification::Continue(next));
    }
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    // Only the fields used are read: emulators (and S3 event versions)
    // differ in the rest, which aws_lambda_events' S3Event requires.
    let records = value
        .get("Records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| "not an S3 notification: no Records".to_owned())?;
    let mut objects = Vec::new();
    for record in records {
        let created = record.get("eventName").and_then(|n| n.as_str()).is_some_and(|n| n.starts_with("ObjectCreated"));
        if !created {
            continue;
        }
        let s3 = record.get("s3").ok_or_else(|| "an S3 record without `s3`".to_owned())?;
        let bucket = s3.pointer("/bucket/name").and_then(|v| v.as_str());
        let key = s3.pointer("/object/key").and_then(|v| v.as_str());
        match (bucket, key) {
            (Some(bucket), Some(key)) => objects.push((bucket.to_owned(), decode_key(key))),
            _ => return Err("an S3 record without bucket name or object key".into()),
        }
    }
    Ok(Notification::Objects(objects))
}

/// The one line a finished job leaves (in the record's span, so with its
/// job id), and its metrics.
fn report_job(report: &Report) {
    let failure = report.failure.map(|f| f.as_str());
    tracing::info!(
        status = report.status.as_str(),
        failure,
        ocr_ms = report.ocr_ms,
        queued_ms = report.queued_ms,
        megapixels = report.megapixels.map(|m| (m * 100.0).round() / 100.0),
        pages = report.pages,
        lines = report.lines,
        "job finished"
    );
    let mut timings = vec![
        Metric::milliseconds("OcrMilliseconds", report.ocr_ms as f64),
        Metric::milliseconds("QueueWaitMilliseconds", report.queued_ms as f64),
    ];
    if let Some(megapixels) = report.megapixels {
        timings.push(Metric::plain("Megapixels", megapixels));
    }
    match (report.status, failure) {
        (JobStatus::Done, _) => {
            timings.push(Metric::count("JobsSucceeded", 1));
            emf::emit(&[], &timings, &[]);
        }
        (_, reason) => {
            timings.push(Metric::count("JobsFailed", 1));
            emf::emit(&[], &timings, &[]);
            emf::emit(&[("Reason", reason.unwrap_or("unknown"))], &[Metric::count("JobsFailed", 1)], &[]);
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    processor: Arc<JobProcessor>,
    bucket: String,
    queues: RecordQueues,
}

impl Worker {
    pub fn new(processor: Arc<JobProcessor>, bucket: impl Into<String>, queues: RecordQueues) -> Self {
        Self { processor, bucket: bucket.into(), queues }
    }

    /// The function's wiring, for the Lambda and the local runner alike; the
    /// models load here, once per container.
    /// `pdf_reader`: how this program reads PDFs (its `main` says).
    pub fn from_env(
        env: &Env,
        clients: &AwsClients,
        pdf_reader: PdfReader,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = OcrConfig::load(env, pdf_reader)?;
        // PDFs are drawn in a confined child: it must be.
        imaging::document::check_confinement(pdf_reader, config.limits.pdf_confinement)?;
        // Reads a reference line first: an engine that misreads on this CPU
        // fails initialisation (Lambda reports an init error) instead of
        // marking jobs DONE with wrong text.
        let recognizer = Arc::new(Engines::load_checked(config.models_dir.as_deref())?);
        let processor = JobProcessor::new(
            Arc::new(DynamoJobStore::new(clients.dynamodb(), &config.jobs_table)),
            Arc::new(S3BlobStore::new(clients.s3(), &config.uploads_bucket)),
            Arc::new(SqsEmailQueue::new(clients.sqs(), &config.email_queue_url)),
            Arc::new(SqsJobQueue::new(clients.sqs(), &config.ocr_queue_url)),
            recognizer,
            Arc::new(SystemClock),
            config.limits,
        );
        let queues = RecordQueues::in_sqs(clients, &config.ocr_queue_url, &config.dead_letter_queue_url);
        Ok(Self::new(Arc::new(processor), config.uploads_bucket, queues))
    }

    async fn handle_message(&self, message: &SqsMessage, deadline: Option<Deadline>) -> Result<(), WorkerError> {
        let body = message.body.as_deref().unwrap_or_default();
        let objects = match parse_notification(body).map_err(WorkerError::NotANotification)? {
            Notification::Test => {
                tracing::info!("S3 test event acknowledged");
                return Ok(());
            }
            Notification::Continue(next) => return self.process(&next.owner, &next.job_id, deadline).await,
            Notification::Objects(objects) => objects,
        };
        for (bucket, key) in objects {
            if bucket != self.bucket {
                return Err(WorkerError::ForeignBucket { bucket, ours: self.bucket.clone() });
            }
            let Some((owner, job)) = parse_upload_key(&key) else {
                tracing::warn!(bucket, key, "object is not a job upload; ignored");
                continue;
            };
            self.process(&owner, &job, deadline).await?;
        }
        Ok(())
    }

    async fn process(&self, owner: &UserId, job: &JobId, deadline: Option<Deadline>) -> Result<(), WorkerError> {
        platform::telemetry::record_job(job);
        let finish_by = deadline.map(|d| d.at.into_std());
        let outcome = self.processor.process(owner, job, finish_by).await?;
        match outcome {
            Outcome::Finished(report) => report_job(&report),
            Outcome::HandedOn { pages_done, pages_total } => {
                tracing::info!(pages_done, pages_total, "document handed on to the next invocation")
            }
            Outcome::Skipped(why) => tracing::info!(why, "notification acknowledged; nothing to do"),
        }
        Ok(())
    }
}

impl BatchWorker for Worker {
    /// The slowest allowed record (one image at the pixel limit, plus its
    /// reads and writes); see template.yaml's OcrFunction for the figures.
    const RECORD_MARGIN: Duration = Duration::from_secs(20);

    /// Processes the records that fit before `deadline`; reports only the
    /// ones to retry. Permanent problems with an image are recorded on its
    /// job (FAILED) and acknowledged; a message that is no upload
    /// notification of our bucket is parked with the reason.
    async fn handle_batch(&self, event: SqsEvent, deadline: Option<Deadline>) -> SqsBatchResponse {
        sqs_host::each_record(&event, deadline, &self.queues, |m| async move {
            self.handle_message(m, deadline).await.map_err(record_error)
        })
        .await
    }
}

/// Why an upload notification was not handled. (A job that fails is not
/// one: it ends FAILED with its reason, and the record is done.)
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    NotANotification(String),
    #[error("an object of bucket {bucket}, not of {ours}")]
    ForeignBucket { bucket: String, ours: String },
    #[error(transparent)]
    Processing(#[from] Transient),
}

/// The one place a record's failure becomes the loop's decision: a message
/// that is not ours is parked, trouble processing its job is retried.
fn record_error(error: WorkerError) -> RecordError {
    match error {
        WorkerError::NotANotification(_) | WorkerError::ForeignBucket { .. } => RecordError::Permanent(error.into()),
        WorkerError::Processing(_) => RecordError::Transient(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_not_ours_is_parked_with_its_reason_trouble_with_a_job_retried() {
        let foreign = WorkerError::ForeignBucket { bucket: "theirs".into(), ours: "ours".into() };
        let RecordError::Permanent(cause) = record_error(foreign) else { panic!("another bucket's object is parked") };
        assert_eq!(domain::errors::chain(cause.as_ref()), "an object of bucket theirs, not of ours");
        let junk = parse_notification("not json").unwrap_err();
        assert!(matches!(record_error(WorkerError::NotANotification(junk)), RecordError::Permanent(_)));
        let busy = Transient("job 1 is being processed by another worker".into());
        assert!(matches!(record_error(busy.into()), RecordError::Transient(_)));
    }

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(decode_key("uploads/a%2Fb+c"), "uploads/a/b c");
    }

    #[test]
    fn understands_test_events_and_object_created_records() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-22T05:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse_notification(test), Ok(Notification::Test));
        let created = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-22T05:00:00.000Z","eventName":"ObjectCreated:Put",
            "userIdentity":{"principalId":"x"},"requestParameters":{"sourceIPAddress":"1.2.3.4"},
            "responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"c",
            "bucket":{"name":"bucket","ownerIdentity":{"principalId":"x"},"arn":"arn:aws:s3:::bucket"},
            "object":{"key":"uploads/u/j%3D","size":10,"eTag":"e","sequencer":"0"}}}]}"#;
        assert_eq!(
            parse_notification(created),
            Ok(Notification::Objects(vec![("bucket".into(), "uploads/u/j=".into())]))
        );
        let next = ContinueJob { owner: UserId::new(), job_id: JobId::new() };
        assert_eq!(parse_notification(&next.to_message()), Ok(Notification::Continue(next)));
        assert!(parse_notification("not json").is_err());
        assert!(parse_notification(r#"{"hello":1}"#).is_err());
    }
}
