//! Jobs and their processing against in-memory adapters and a fake engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::clock::ManualClock;
use crate::email::EmailMessage;
use crate::jobs::ports::TextRecognizer;
use crate::memory::{MemoryBlobStore, MemoryEmailQueue, MemoryJobQueue, MemoryJobStore};
use imaging::ImageProblem;
use imaging::document::PdfReader;
use imaging::testing::{png, png_claiming};

/// Reads "text" made of one line per 10 pixels of image height.
struct FakeRecognizer {
    calls: AtomicUsize,
    line: String,
    panic: bool,
    /// What the fake says it did to each page.
    straightening: imaging::straighten::Straightening,
}

impl FakeRecognizer {
    fn new(line: &str) -> Self {
        Self { calls: AtomicUsize::new(0), line: line.into(), panic: false, straightening: Default::default() }
    }
}

impl TextRecognizer for FakeRecognizer {
    fn recognize(
        &self,
        image: &image::DynamicImage,
        engine: EngineChoice,
    ) -> Result<Recognized, crate::jobs::ports::RecognizeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panic {
            panic!("engine bug");
        }
        let lines = (0..image.height() / 10)
            .map(|i| TextLine {
                text: format!("{} {i}", self.line),
                bbox: BoundingBox { x: 0, y: i as i32 * 10, width: image.width(), height: 10 },
                confidence: 0.99,
                words: Vec::new(),
            })
            .collect();
        Ok(Recognized {
            lines,
            engine: EngineInfo {
                name: format!("fake-{}", engine.as_str()),
                version: "0".into(),
                detection_model_sha256: "d".into(),
                recognition_model_sha256: "r".into(),
                sequence_model_sha256: None,
                kernel: None,
            },
            straightening: self.straightening,
        })
    }
}

struct Harness {
    service: JobService,
    processor: JobProcessor,
    jobs: Arc<MemoryJobStore>,
    blobs: Arc<MemoryBlobStore>,
    emails: Arc<MemoryEmailQueue>,
    queue: Arc<MemoryJobQueue>,
    recognizer: Arc<FakeRecognizer>,
    clock: Arc<ManualClock>,
    owner: Owner,
}

fn harness_with(recognizer: FakeRecognizer, limits: ProcessorLimits) -> Harness {
    let jobs = Arc::new(MemoryJobStore::default());
    let blobs = Arc::new(MemoryBlobStore::default());
    let emails = Arc::new(MemoryEmailQueue::default());
    let queue = Arc::new(MemoryJobQueue::default());
    let clock = Arc::new(ManualClock::default());
    let recognizer = Arc::new(recognizer);
    let accounts = Arc::new(crate::memory::EveryAccountExists);
    // PDFs are read in this process: the confined child is tested with
    // the local runner's binary (local/tests/it/hostile_documents.rs).
    let upload_limits = UploadLimits { pdf_reader: PdfReader::InProcess, ..UploadLimits::default() };
    let service = JobService::new(jobs.clone(), jobs.clone(), blobs.clone(), accounts, clock.clone(), upload_limits);
    let processor = JobProcessor::new(
        jobs.clone(),
        blobs.clone(),
        emails.clone(),
        queue.clone(),
        recognizer.clone(),
        clock.clone(),
        ProcessorLimits { pdf_reader: PdfReader::InProcess, ..limits },
    );
    let owner = Owner { id: UserId::new(), email: Email::parse("ada@example.org").unwrap() };
    Harness { service, processor, jobs, blobs, emails, queue, recognizer, clock, owner }
}

fn harness() -> Harness {
    harness_with(FakeRecognizer::new("hello"), ProcessorLimits::default())
}

#[tokio::test]
async fn submit_stores_the_job_and_the_image_under_the_owner() {
    let h = harness();
    let job = h.service.submit(&h.owner, png(20, 30)).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.content_type, "image/png");
    assert_eq!(job.upload_key, format!("uploads/{}/{}", h.owner.id, job.id));
    assert_eq!(h.blobs.keys(), vec![job.upload_key.clone()]);
    assert!(job.expires_at.is_some(), "an unprocessed job must be able to expire");
}

#[tokio::test]
async fn submit_refuses_bad_images_before_storing_anything() {
    let h = harness();
    let bomb = png_claiming(50_000, 50_000);
    assert!(matches!(
        h.service.submit(&h.owner, bomb.clone()).await,
        Err(JobError::Image(ImageProblem::TooManyPixels { .. }))
    ));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "empty"),
        (b"%PDF-1.4".to_vec(), "unsupported"),
        (bomb, "pixels"),
        (vec![0x89; 5 * 1024 * 1024], "too large"),
    ];
    for (bytes, case) in cases {
        assert!(h.service.submit(&h.owner, bytes).await.is_err(), "{case}");
    }
    assert!(h.jobs.all().is_empty());
    assert!(h.blobs.keys().is_empty());
}

#[tokio::test]
async fn a_failed_image_store_leaves_no_job_behind() {
    let h = harness();
    h.blobs.set_failing_puts(true);
    assert!(matches!(h.service.submit(&h.owner, png(5, 5)).await, Err(JobError::Unavailable(_))));
    assert!(h.jobs.all().is_empty());
}

#[tokio::test]
async fn processing_finishes_the_job_and_queues_one_ready_mail() {
    let h = harness();
    let job = h.service.submit(&h.owner, png(40, 30)).await.unwrap();
    let outcome = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    let Outcome::Finished(report) = outcome else { panic!("not finished: {outcome:?}") };
    assert_eq!((report.status, report.failure, report.lines), (JobStatus::Done, None, 3));
    assert_eq!(report.megapixels, Some(40.0 * 30.0 / 1e6));

    let details = h.service.get(&h.owner, &job.id).await.unwrap();
    assert_eq!(details.job.status, JobStatus::Done);
    assert!(details.job.notified);
    assert_eq!(details.job.expires_at, Some(details.job.finished_at.unwrap() + ProcessorLimits::default().retention));
    let result = details.result.unwrap();
    assert_eq!(result.text, "hello 0\nhello 1\nhello 2");
    assert_eq!((result.pages[0].width, result.pages[0].height), (40, 30));
    assert_eq!(result.pages[0].lines.len(), 3);

    // Redelivery: no work, no second mail.
    let again = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    assert!(matches!(again, Outcome::Skipped(_)));
    assert_eq!(h.recognizer.calls.load(Ordering::SeqCst), 1);
    let mails = h.emails.jobs();
    assert_eq!(mails.len(), 1);
    match &mails[0].message {
        EmailMessage::OcrDone { job_id, excerpt, result_path } => {
            assert_eq!(job_id, &job.id.to_string());
            assert!(excerpt.starts_with("hello 0"));
            assert_eq!(result_path, &format!("/jobs/{}", job.id));
        }
        other => panic!("unexpected mail {other:?}"),
    }
}

/// The engine a job was submitted with reads every page of it, whichever
/// way it was submitted; a job that says nothing gets the default.
#[tokio::test]
async fn each_job_is_read_by_the_engine_it_chose() {
    let h = harness();
    let chosen = |engine| ReadingOptions { engine, ..Default::default() };
    let mut jobs = vec![
        (h.service.submit(&h.owner, png(20, 20)).await.unwrap(), EngineChoice::default()),
        (h.service.submit_with(&h.owner, png(20, 20), chosen(EngineChoice::Ocrs)).await.unwrap(), EngineChoice::Ocrs),
        (h.service.submit_with(&h.owner, png(20, 20), chosen(EngineChoice::Ppocr)).await.unwrap(), EngineChoice::Ppocr),
    ];
    let (presigned, _) = h.service.presign_with(&h.owner, "image/png", 100, chosen(EngineChoice::Ocrs)).await.unwrap();
    h.blobs.put(&presigned.upload_key, png(20, 20), "image/png").await.unwrap();
    jobs.push((presigned, EngineChoice::Ocrs));
    assert_eq!(EngineChoice::default(), EngineChoice::Ppocr);
    for (job, engine) in jobs {
        assert_eq!(job.engine, engine);
        h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
        let result = h.service.get(&h.owner, &job.id).await.unwrap().result.unwrap();
        assert_eq!(result.engine.name, format!("fake-{}", engine.as_str()), "{job:?}");
    }
}

#[tokio::test]
async fn a_corrupt_image_fails_the_job_permanently_with_a_reason() {
    let h = harness();
    let mut data = png(64, 64);
    data.truncate(data.len() - 20);
    let job = h.service.submit(&h.owner, data).await.unwrap();
    let outcome = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    let Outcome::Finished(report) = outcome else { panic!("not finished: {outcome:?}") };
    assert_eq!((report.status, report.failure), (JobStatus::Failed, Some(FailureClass::ImageRejected)));
    let details = h.service.get(&h.owner, &job.id).await.unwrap();
    assert!(details.job.failure.unwrap().contains("cannot be decoded"));
    assert!(matches!(h.emails.jobs()[0].message, EmailMessage::OcrFailed { .. }));
}

#[tokio::test]
async fn an_engine_panic_fails_the_job_instead_of_the_worker() {
    let h = harness_with(FakeRecognizer { panic: true, ..FakeRecognizer::new("x") }, ProcessorLimits::default());
    let job = h.service.submit(&h.owner, png(10, 10)).await.unwrap();
    let outcome = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::Finished(Report { failure: Some(FailureClass::RecognitionFailed), .. })));
    let failure = h.service.get(&h.owner, &job.id).await.unwrap().job.failure.unwrap();
    assert!(failure.contains("crashed"), "{failure}");
}

#[tokio::test]
async fn a_notification_for_a_vanished_job_removes_its_upload_and_any_result() {
    let h = harness();
    let job = h.service.submit(&h.owner, png(10, 10)).await.unwrap();
    h.jobs.delete_job(&job).await.unwrap();
    // As a worker leaves it when the job is deleted while it reads the image.
    h.blobs.put(&result_key(&job.id), b"{}".to_vec(), "application/json").await.unwrap();
    assert!(matches!(h.processor.process(&h.owner.id, &job.id, None).await.unwrap(), Outcome::Skipped(_)));
    assert!(h.blobs.keys().is_empty());
    assert!(h.emails.jobs().is_empty());
}

#[tokio::test]
async fn a_job_held_by_a_live_worker_is_retried_later_and_a_dead_workers_is_taken_over() {
    let h = harness();
    let mut job = h.service.submit(&h.owner, png(10, 20)).await.unwrap();
    job.status = JobStatus::Processing;
    job.updated_at = h.clock.now();
    job.version += 1;
    h.jobs.update_job(&job).await.unwrap();
    assert!(h.processor.process(&h.owner.id, &job.id, None).await.is_err(), "a live lease must be respected");
    h.clock.advance(ProcessorLimits::default().lease);
    assert_eq!(h.processor.process(&h.owner.id, &job.id, None).await.unwrap().status(), Some(JobStatus::Done));
}

#[tokio::test]
async fn a_failed_mail_is_sent_on_redelivery_without_reprocessing() {
    let h = harness();
    let job = h.service.submit(&h.owner, png(10, 10)).await.unwrap();
    h.emails.set_failing(true);
    assert!(h.processor.process(&h.owner.id, &job.id, None).await.is_err());
    assert_eq!(h.service.get(&h.owner, &job.id).await.unwrap().job.status, JobStatus::Done);
    h.emails.set_failing(false);
    assert!(matches!(h.processor.process(&h.owner.id, &job.id, None).await.unwrap(), Outcome::Skipped(_)));
    assert_eq!(h.recognizer.calls.load(Ordering::SeqCst), 1);
    assert_eq!(h.emails.jobs().len(), 1);
    assert!(h.service.get(&h.owner, &job.id).await.unwrap().job.notified);
}

#[tokio::test]
async fn large_results_go_to_the_blob_store_with_a_preview_in_the_job() {
    let limits = ProcessorLimits { max_inline_result_bytes: 200, preview_chars: 20, ..Default::default() };
    let h = harness_with(FakeRecognizer::new("a fairly long line of text"), limits);
    let job = h.service.submit(&h.owner, png(10, 200)).await.unwrap();
    h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    let stored = h.jobs.find_job(&h.owner.id, &job.id).await.unwrap().unwrap();
    match stored.result {
        Some(StoredResult::Blob { key, preview }) => {
            assert_eq!(key, format!("results/{}.json", job.id));
            assert_eq!(preview.chars().count(), 21);
        }
        other => panic!("expected a blob result, got {other:?}"),
    }
    let details = h.service.get(&h.owner, &job.id).await.unwrap();
    assert_eq!(details.result.unwrap().pages[0].lines.len(), 20);
}

#[tokio::test]
async fn jobs_are_private_listed_newest_first_and_paginated() {
    let h = harness();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.service.submit(&h.owner, png(5, 5)).await.unwrap().id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let stranger = Owner { id: UserId::new(), email: Email::parse("eve@example.org").unwrap() };
    assert!(matches!(h.service.get(&stranger, &ids[0]).await, Err(JobError::NotFound)));
    assert!(matches!(h.service.delete(&stranger, &ids[0]).await, Err(JobError::NotFound)));
    assert!(h.service.list(&stranger, None, 10).await.unwrap().jobs.is_empty());

    let first = h.service.list(&h.owner, None, 2).await.unwrap();
    let second = h.service.list(&h.owner, first.next_cursor.as_deref(), 2).await.unwrap();
    let third = h.service.list(&h.owner, second.next_cursor.as_deref(), 2).await.unwrap();
    let listed: Vec<JobId> = [first.jobs, second.jobs, third.jobs].concat().iter().map(|j| j.id).collect();
    ids.reverse();
    assert_eq!(listed, ids);
    assert!(third.next_cursor.is_none());
    assert!(matches!(h.service.list(&h.owner, Some("!!"), 2).await, Err(JobError::InvalidCursor)));
}

#[tokio::test]
async fn delete_removes_the_job_its_image_and_its_result() {
    let limits = ProcessorLimits { max_inline_result_bytes: 10, ..Default::default() };
    let h = harness_with(FakeRecognizer::new("x"), limits);
    let job = h.service.submit(&h.owner, png(10, 20)).await.unwrap();
    h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    assert_eq!(
        h.blobs.keys(),
        [result_key(&job.id), searchable_pdf_key(&job.id)],
        "the image goes when the job is finished"
    );
    h.service.delete(&h.owner, &job.id).await.unwrap();
    assert!(h.blobs.keys().is_empty());
    assert!(matches!(h.service.get(&h.owner, &job.id).await, Err(JobError::NotFound)));
}

#[tokio::test]
async fn presigned_uploads_wait_for_their_image_then_run_the_same_pipeline() {
    let h = harness();
    let (job, upload) = h.service.presign(&h.owner, "image/PNG", 1234).await.unwrap();
    assert_eq!(job.status, JobStatus::AwaitingUpload);
    assert_eq!(upload.content_type, "image/png");
    assert!(upload.url.contains(&job.upload_key));
    assert!(h.service.presign(&h.owner, "text/plain", 10).await.is_err());
    assert!(h.service.presign(&h.owner, "application/pdf", 10).await.is_ok());
    assert!(h.service.presign(&h.owner, "image/png", 0).await.is_err());
    assert!(h.service.presign(&h.owner, "image/png", 21 * 1024 * 1024).await.is_err());
    // The image lands (as S3 would store it), then its notification arrives.
    h.blobs.put(&job.upload_key, png(10, 10), "image/png").await.unwrap();
    assert_eq!(h.processor.process(&h.owner.id, &job.id, None).await.unwrap().status(), Some(JobStatus::Done));
}

#[tokio::test]
async fn a_finished_job_keeps_no_image_and_is_gone_after_the_retention_period() {
    let h = harness();
    let job = h.service.submit(&h.owner, png(10, 10)).await.unwrap();
    assert_eq!(h.processor.process(&h.owner.id, &job.id, None).await.unwrap().status(), Some(JobStatus::Done));
    assert!(!h.blobs.keys().contains(&job.upload_key), "the image of a finished job was kept");
    let finished = h.service.get(&h.owner, &job.id).await.unwrap().job;
    let retention = ProcessorLimits::default().retention;
    assert_eq!(finished.expires_at, Some(finished.finished_at.unwrap() + retention));

    h.clock.advance(retention);
    assert!(matches!(h.service.get(&h.owner, &job.id).await, Err(JobError::Expired)));
    assert!(h.service.list(&h.owner, None, 10).await.unwrap().jobs.is_empty(), "an expired job is still listed");
}

#[tokio::test]
async fn a_result_that_is_gone_is_expired_not_unavailable() {
    let h = harness();
    let mut job = h.service.submit(&h.owner, png(10, 10)).await.unwrap();
    job.status = JobStatus::Done;
    job.result = Some(StoredResult::Blob { key: result_key(&job.id), preview: "text".into() });
    job.version += 1;
    h.jobs.update_job(&job).await.unwrap();
    assert!(matches!(h.service.get(&h.owner, &job.id).await, Err(JobError::Expired)));
}

#[tokio::test]
async fn an_upload_abandoned_before_its_image_is_stored_leaves_no_queued_job() {
    let h = harness();
    h.blobs.set_stalling_puts(true);
    let abandoned = tokio::time::timeout(std::time::Duration::from_millis(50), h.service.submit(&h.owner, png(10, 10)));
    assert!(abandoned.await.is_err(), "the request should have been cut off");
    h.blobs.set_stalling_puts(false);
    let jobs = h.jobs.all();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::AwaitingUpload, "an imageless job claims to be queued");
    let shown = h.service.get(&h.owner, &jobs[0].id).await.unwrap().job;
    assert_eq!(shown.status, JobStatus::AwaitingUpload);
    h.clock.advance(UploadLimits::default().direct_upload_window);
    assert!(matches!(h.service.get(&h.owner, &jobs[0].id).await, Err(JobError::Expired)));
    // A completed submission is queued.
    let job = h.service.submit(&h.owner, png(10, 10)).await.unwrap();
    assert_eq!(h.service.get(&h.owner, &job.id).await.unwrap().job.status, JobStatus::Queued);
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer_for_a_day() {
    let h = harness();
    let key = IdempotencyKey::parse("abc").unwrap();
    let reply = StoredReply { status: 202, location: Some("/jobs/x".into()), body: serde_json::json!({"job_id": "x"}) };
    assert_eq!(h.service.begin(&h.owner.id, &key, b"request").await.unwrap(), Begin::Fresh);
    assert!(matches!(h.service.begin(&h.owner.id, &key, b"request").await, Err(JobError::IdempotencyKeyInFlight)));
    assert!(matches!(h.service.begin(&h.owner.id, &key, b"another").await, Err(JobError::IdempotencyKeyReused)));
    h.service.remember(&h.owner.id, &key, b"request", reply.clone()).await.unwrap();
    assert_eq!(h.service.begin(&h.owner.id, &key, b"request").await.unwrap(), Begin::Replay(reply));
    // Another user's key of the same name is theirs.
    assert_eq!(h.service.begin(&UserId::new(), &key, b"request").await.unwrap(), Begin::Fresh);
    // After a day the key is free again.
    h.clock.advance(KEY_LIFETIME);
    assert_eq!(h.service.begin(&h.owner.id, &key, b"another").await.unwrap(), Begin::Fresh);
    // A claim whose request died is taken over after two minutes.
    let orphan = IdempotencyKey::parse("orphan").unwrap();
    h.service.begin(&h.owner.id, &orphan, b"request").await.unwrap();
    h.clock.advance(time::Duration::minutes(2));
    assert_eq!(h.service.begin(&h.owner.id, &orphan, b"request").await.unwrap(), Begin::Fresh);
    assert!(matches!(IdempotencyKey::parse("has space"), Err(JobError::InvalidIdempotencyKey)));
}

fn gray_pages(heights: &[u32]) -> Vec<image::GrayImage> {
    heights.iter().map(|&h| image::GrayImage::from_pixel(60, h, image::Luma([255]))).collect()
}

#[tokio::test]
async fn a_document_gives_a_result_per_page_a_searchable_pdf_and_its_progress() {
    use imaging::testing::{multipage_tiff, scanned_pdf};
    let h = harness();
    // Heights that give 2, 3 and 4 lines whether drawn exactly or a pixel short.
    let pages = gray_pages(&[25, 35, 45]);
    for document in [multipage_tiff(&pages), scanned_pdf(&pages, 200.0)] {
        let job = h.service.submit(&h.owner, document).await.unwrap();
        assert_eq!((job.pages_total, job.pages_done), (Some(3), 0), "pages counted at upload");
        let outcome = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
        let Outcome::Finished(report) = outcome else { panic!("not finished: {outcome:?}") };
        assert_eq!((report.status, report.pages, report.lines), (JobStatus::Done, 3, 2 + 3 + 4));
        let details = h.service.get(&h.owner, &job.id).await.unwrap();
        assert_eq!((details.job.pages_total, details.job.pages_done), (Some(3), 3));
        let result = details.result.unwrap();
        let lines: Vec<usize> = result.pages.iter().map(|p| p.lines.len()).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert_eq!(result.pages.iter().map(|p| p.page).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(result.text.matches(PAGE_SEPARATOR).count(), 2, "{:?}", result.text);
        let pdf = h.blobs.get(&searchable_pdf_key(&job.id), u64::MAX).await.unwrap();
        assert_eq!(hayro::hayro_syntax::Pdf::new(pdf).unwrap().pages().len(), 3);
        let mine = h.blobs.keys().into_iter().filter(|k| k.contains(&job.id.to_string())).collect::<Vec<_>>();
        assert_eq!(mine, [searchable_pdf_key(&job.id)], "the searchable PDF, nothing kept between invocations");
    }
}

#[tokio::test]
async fn a_document_that_outlasts_the_deadline_is_handed_on_and_finished_by_the_next_invocation() {
    use imaging::testing::multipage_tiff;
    let h = harness();
    let job = h.service.submit(&h.owner, multipage_tiff(&gray_pages(&[20, 30, 40, 50]))).await.unwrap();
    // A deadline already close: one page per invocation.
    let soon = || Some(std::time::Instant::now() + std::time::Duration::from_secs(1));
    let mut invocations = 0;
    loop {
        invocations += 1;
        match h.processor.process(&h.owner.id, &job.id, soon()).await.unwrap() {
            Outcome::HandedOn { pages_done, pages_total } => {
                assert_eq!((pages_done, pages_total), (invocations, 4));
                assert_eq!(h.queue.take(), [(h.owner.id, job.id)], "the job handed on through the queue");
                let waiting = h.service.get(&h.owner, &job.id).await.unwrap().job;
                assert_eq!((waiting.status, waiting.pages_done), (JobStatus::Queued, invocations));
            }
            Outcome::Finished(report) => {
                assert_eq!((report.status, report.pages), (JobStatus::Done, 4));
                break;
            }
            other => panic!("{other:?}"),
        }
        assert!(invocations < 10);
    }
    assert_eq!(invocations, 4);
    assert_eq!(h.recognizer.calls.load(Ordering::SeqCst), 4, "no page read twice");
    let result = h.service.get(&h.owner, &job.id).await.unwrap().result.unwrap();
    assert_eq!(result.pages.iter().map(|p| p.lines.len()).collect::<Vec<_>>(), [2, 3, 4, 5]);
    let left: Vec<_> = h.blobs.keys().into_iter().filter(|k| k.contains("/pages/")).collect();
    assert!(left.is_empty(), "pages kept between invocations are removed: {left:?}");
    assert_eq!(h.emails.jobs().len(), 1, "one mail, when it is done");
}

#[tokio::test]
async fn a_document_is_handed_on_after_its_pages_per_invocation_even_with_time_to_spare() {
    use imaging::testing::multipage_tiff;
    let turn = std::num::NonZeroU32::new(2);
    let h =
        harness_with(FakeRecognizer::new("x"), ProcessorLimits { pages_per_invocation: turn, ..Default::default() });
    let job = h.service.submit(&h.owner, multipage_tiff(&gray_pages(&[20, 30, 40, 50, 60]))).await.unwrap();
    let mut handed_on_at = Vec::new();
    loop {
        // No deadline at all: only the turn's length hands it on.
        match h.processor.process(&h.owner.id, &job.id, None).await.unwrap() {
            Outcome::HandedOn { pages_done, .. } => {
                handed_on_at.push(pages_done);
                assert_eq!(h.queue.take(), [(h.owner.id, job.id)]);
            }
            Outcome::Finished(report) => {
                assert_eq!((report.status, report.pages), (JobStatus::Done, 5));
                break;
            }
            other => panic!("{other:?}"),
        }
        assert!(handed_on_at.len() < 10);
    }
    assert_eq!(handed_on_at, [2, 4]);
    assert_eq!(h.recognizer.calls.load(Ordering::SeqCst), 5, "no page read twice");
    assert_eq!(h.emails.jobs().len(), 1);
}

#[tokio::test]
async fn pages_kept_for_a_job_deleted_meanwhile_are_removed_when_it_comes_back() {
    use imaging::testing::multipage_tiff;
    let h = harness();
    let job = h.service.submit(&h.owner, multipage_tiff(&gray_pages(&[20, 30, 40, 50]))).await.unwrap();
    let soon = Some(std::time::Instant::now() + std::time::Duration::from_secs(1));
    let outcome = h.processor.process(&h.owner.id, &job.id, soon).await.unwrap();
    assert!(matches!(outcome, Outcome::HandedOn { .. }), "{outcome:?}");
    assert!(h.blobs.keys().iter().any(|k| k.contains("/pages/")), "a page kept for the next invocation");
    // Deleted by its owner while it was read: the deletion's own clean-up
    // ran before the worker kept its pages.
    let stored = h.jobs.all().into_iter().find(|j| j.id == job.id).unwrap();
    h.jobs.delete_job(&stored).await.unwrap();
    let outcome = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
    let left: Vec<_> = h.blobs.keys().into_iter().filter(|k| k.contains(&job.id.to_string())).collect();
    assert!(left.is_empty(), "left behind a deleted job: {left:?}");
}

#[tokio::test]
async fn a_page_over_the_workers_pixel_limit_fails_the_document_with_the_reason() {
    use imaging::testing::multipage_tiff;
    let h = harness_with(FakeRecognizer::new("x"), ProcessorLimits { max_pixels: 60 * 30, ..Default::default() });
    // Accepted at upload (the limit there is the default); the worker's is lower.
    let job = h.service.submit(&h.owner, multipage_tiff(&gray_pages(&[20, 30, 40]))).await.unwrap();
    let Outcome::Finished(report) = h.processor.process(&h.owner.id, &job.id, None).await.unwrap() else {
        panic!("not finished")
    };
    assert_eq!((report.status, report.failure), (JobStatus::Failed, Some(FailureClass::ImageRejected)));
    let failure = h.service.get(&h.owner, &job.id).await.unwrap().job.failure.unwrap();
    assert!(failure.contains("60×40") && failure.contains("pixels"), "{failure}");
    assert_eq!(h.recognizer.calls.load(Ordering::SeqCst), 0, "refused before any page was read");
}

#[tokio::test]
async fn a_page_the_engine_turned_is_reported_stored_and_drawn_as_turned() {
    use imaging::straighten::Straightening;
    let mut recognizer = FakeRecognizer::new("turned");
    recognizer.straightening = Straightening { rotation: 90, skew_degrees: 0.0 };
    let h = harness_with(recognizer, ProcessorLimits::default());
    let job = h.service.submit(&h.owner, png(40, 30)).await.unwrap();
    h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    let result = h.service.get(&h.owner, &job.id).await.unwrap().result.unwrap();
    let page = &result.pages[0];
    // The page as the engine read it: a quarter turn makes 40×30 30×40.
    assert_eq!((page.width, page.height, page.rotation, page.skew_degrees), (30, 40, 90, 0.0));
    let json = serde_json::to_value(page).unwrap();
    assert_eq!((json["rotation"].as_u64(), json["skew_degrees"].as_f64()), (Some(90), Some(0.0)));
    // The searchable PDF's page is the turned page (30×40 px at the 150
    // dpi assumed for images), its image the upload's own 40×30 pixels
    // drawn turned (outputs.rs tests where they land).
    let pdf = h.blobs.get(&searchable_pdf_key(&job.id), u64::MAX).await.unwrap();
    let parsed = hayro::hayro_syntax::Pdf::new(pdf.clone()).unwrap();
    let (width, height) = parsed.pages()[0].render_dimensions();
    assert!((width - 14.4).abs() < 0.01 && (height - 19.2).abs() < 0.01, "{width}×{height} pt");
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("/Width 40") && text.contains("/Height 30"), "the page image is the upload's");

    // A skew grows the canvas: the stored size is the deskewed page's.
    let mut recognizer = FakeRecognizer::new("skewed");
    recognizer.straightening = Straightening { rotation: 0, skew_degrees: 5.0 };
    let h = harness_with(recognizer, ProcessorLimits::default());
    let job = h.service.submit(&h.owner, png(40, 30)).await.unwrap();
    h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    let page = h.service.get(&h.owner, &job.id).await.unwrap().result.unwrap().pages.remove(0);
    assert_eq!((page.width, page.height), (42, 33));
    assert_eq!(page.skew_degrees, 5.0);
}

/// A job service over `h`'s stores with a quota of its own.
fn service_with_quota(h: &Harness, quota: Quota) -> JobService {
    let limits = UploadLimits { quota, pdf_reader: PdfReader::InProcess, ..UploadLimits::default() };
    let accounts = Arc::new(crate::memory::EveryAccountExists);
    JobService::new(h.jobs.clone(), h.jobs.clone(), h.blobs.clone(), accounts, h.clock.clone(), limits)
}

#[tokio::test]
async fn deleting_jobs_gives_no_pages_back_and_every_path_that_reads_pages_is_charged() {
    use imaging::testing::multipage_tiff;
    let quota = Quota { max_in_flight: 100, max_pages_per_day: 5 };
    let h = harness_with(FakeRecognizer::new("x"), ProcessorLimits { quota, ..Default::default() });
    let service = service_with_quota(&h, quota);
    let three = || multipage_tiff(&gray_pages(&[20, 30, 40]));
    let job = service.submit(&h.owner, three()).await.unwrap();
    h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    service.delete(&h.owner, &job.id).await.unwrap();
    let refused = service.submit(&h.owner, three()).await;
    assert!(matches!(refused, Err(JobError::OverQuota(_))), "the deleted job's pages still count: {refused:?}");
    // A presigned upload is charged a page at once and the rest when read.
    let (job, _) = service.presign(&h.owner, "image/tiff", 1000).await.unwrap();
    h.blobs.put(&job.upload_key, three(), "image/tiff").await.unwrap();
    let Outcome::Finished(report) = h.processor.process(&h.owner.id, &job.id, None).await.unwrap() else {
        panic!("not finished")
    };
    assert_eq!(report.failure, Some(FailureClass::OverQuota));
    let failure = h.service.get(&h.owner, &job.id).await.unwrap().job.failure.unwrap();
    assert!(failure.contains("3 pages") && failure.contains("3 others today"), "{failure}");
    // The next day (UTC) starts again.
    h.clock.advance(time::Duration::days(1));
    service.submit(&h.owner, three()).await.unwrap();
}

#[tokio::test]
async fn a_second_put_of_another_document_after_a_hand_on_fails_the_job() {
    use imaging::testing::multipage_tiff;
    let turn = std::num::NonZeroU32::new(2);
    let h =
        harness_with(FakeRecognizer::new("x"), ProcessorLimits { pages_per_invocation: turn, ..Default::default() });
    let (job, _) = h.service.presign(&h.owner, "image/tiff", 1000).await.unwrap();
    h.blobs.put(&job.upload_key, multipage_tiff(&gray_pages(&[20, 30, 40, 50])), "image/tiff").await.unwrap();
    let outcome = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::HandedOn { pages_done: 2, pages_total: 4 }), "{outcome:?}");
    // The URL is still valid: a longer document, never admitted, replaces it.
    let longer = multipage_tiff(&gray_pages(&[20, 30, 40, 50, 60, 70, 80, 90]));
    h.blobs.put(&job.upload_key, longer, "image/tiff").await.unwrap();
    let Outcome::Finished(report) = h.processor.process(&h.owner.id, &job.id, None).await.unwrap() else {
        panic!("not finished")
    };
    assert_eq!(report.status, JobStatus::Failed);
    let failure = h.service.get(&h.owner, &job.id).await.unwrap().job.failure.unwrap();
    assert!(failure.contains("replaced"), "{failure}");
    assert_eq!(h.recognizer.calls.load(Ordering::SeqCst), 2, "no page of the second document read");
}

#[tokio::test]
async fn lost_kept_pages_fail_the_job_instead_of_starting_it_again() {
    use imaging::testing::multipage_tiff;
    let turn = std::num::NonZeroU32::new(2);
    let h =
        harness_with(FakeRecognizer::new("x"), ProcessorLimits { pages_per_invocation: turn, ..Default::default() });
    let job = h.service.submit(&h.owner, multipage_tiff(&gray_pages(&[20, 30, 40, 50, 60]))).await.unwrap();
    let outcome = h.processor.process(&h.owner.id, &job.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::HandedOn { .. }), "{outcome:?}");
    let kept: Vec<_> = h.blobs.keys().into_iter().filter(|k| k.contains("/pages/")).collect();
    assert!(!kept.is_empty());
    // Lost (say, to a lifecycle rule) before the next invocation.
    h.blobs.delete(&kept[0]).await.unwrap();
    let Outcome::Finished(report) = h.processor.process(&h.owner.id, &job.id, None).await.unwrap() else {
        panic!("started again instead of failing")
    };
    assert_eq!(report.status, JobStatus::Failed);
    let failure = h.service.get(&h.owner, &job.id).await.unwrap().job.failure.unwrap();
    assert!(failure.contains("lost"), "{failure}");
}

#[tokio::test]
async fn a_documents_text_is_capped_for_the_whole_job() {
    use imaging::testing::multipage_tiff;
    // "hello 0" … "hello 19": 7 or 8 characters a line, 20 lines a page.
    let limits = ProcessorLimits { max_text_chars: 350, ..Default::default() };
    let h = harness_with(FakeRecognizer::new("hello"), limits);
    let job = h.service.submit(&h.owner, multipage_tiff(&gray_pages(&[200, 200, 200]))).await.unwrap();
    let Outcome::Finished(report) = h.processor.process(&h.owner.id, &job.id, None).await.unwrap() else {
        panic!("not finished")
    };
    assert_eq!((report.status, report.failure), (JobStatus::Failed, Some(FailureClass::ImageRejected)));
    let failure = h.service.get(&h.owner, &job.id).await.unwrap().job.failure.unwrap();
    assert_eq!(failure, "page 3: the document's text is longer than 350 characters");
}
