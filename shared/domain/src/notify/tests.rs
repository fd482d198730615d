//! Rendering and at-most-once delivery against in-memory adapters.

use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::memory::{MemoryDeliveryLog, MemoryMailer};
use crate::values::Email;

fn job(message: EmailMessage) -> EmailJob {
    EmailJob::new(Email::parse("ada@example.org").unwrap(), message)
}

fn code_job() -> EmailJob {
    job(EmailMessage::VerifyCode { code: "012345".into(), expires_in_minutes: 10 })
}

fn notifier() -> (Notifier, Arc<MemoryMailer>, Arc<ManualClock>) {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Arc::new(ManualClock::default());
    let notifier =
        Notifier::new(mailer.clone(), Arc::new(MemoryDeliveryLog::default()), clock.clone(), Duration::minutes(2));
    (notifier, mailer, clock)
}

#[test]
fn every_template_has_a_subject_a_text_and_an_html_body() {
    let jobs = [
        code_job(),
        job(EmailMessage::OcrDone {
            job_id: "j1".into(),
            excerpt: "Hello\nworld".into(),
            result_path: "/jobs/j1".into(),
        }),
        job(EmailMessage::OcrFailed { job_id: "j2".into(), reason: "the image cannot be decoded".into() }),
    ];
    for job in jobs {
        let email = render(&job);
        assert!(!email.subject.is_empty() && email.subject.len() < 60, "{}", email.subject);
        assert!(email.html.starts_with("<!DOCTYPE html>"));
        assert!(!email.text.contains('<'));
    }
    let code = render(&code_job());
    assert!(code.text.contains("012345") && code.html.contains("012345") && code.subject.contains("012345"));
    let done = render(&job(EmailMessage::OcrDone {
        job_id: "j1".into(),
        excerpt: "TOTAL 15.87".into(),
        result_path: "/jobs/j1".into(),
    }));
    assert!(done.text.contains("j1") && done.text.contains("TOTAL 15.87") && done.text.contains("GET /jobs/j1"));
}

#[test]
fn user_content_is_escaped_in_html() {
    let nasty = "<script>alert('x')</script> & \"friends\"";
    let email = render(&job(EmailMessage::PasswordChanged { name: nasty.into() }));
    assert!(!email.html.contains("<script>"));
    assert!(email.html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;friends&quot;"));
    assert!(email.text.contains(nasty), "plain text stays as written");
    let ocr = render(&job(EmailMessage::OcrDone {
        job_id: "j".into(),
        excerpt: "<b>bold</b>".into(),
        result_path: "/jobs/j".into(),
    }));
    assert!(ocr.html.contains("&lt;b&gt;bold&lt;/b&gt;"));
}

#[tokio::test]
async fn a_job_is_sent_once_however_often_it_is_delivered() {
    let (notifier, mailer, _) = notifier();
    let job = code_job();
    assert_eq!(notifier.deliver(&job).await.unwrap(), Delivery::Sent);
    assert_eq!(notifier.deliver(&job).await.unwrap(), Delivery::Duplicate);
    assert_eq!(mailer.sent().len(), 1);
    assert_eq!(mailer.sent()[0].0.as_str(), "ada@example.org");
}

#[tokio::test]
async fn an_unavailable_mailer_is_transient_and_the_retry_sends() {
    let (notifier, mailer, _) = notifier();
    let job = code_job();
    mailer.set_unavailable(true);
    assert!(matches!(notifier.deliver(&job).await, Err(ref e) if !e.is_permanent()));
    mailer.set_unavailable(false);
    assert_eq!(notifier.deliver(&job).await.unwrap(), Delivery::Sent);
    assert_eq!(mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_rejected_recipient_is_permanent_and_never_retried() {
    let (notifier, mailer, _) = notifier();
    let job = code_job();
    mailer.set_rejecting(true);
    assert!(matches!(notifier.deliver(&job).await, Err(ref e) if e.is_permanent()));
    mailer.set_rejecting(false);
    assert_eq!(notifier.deliver(&job).await.unwrap(), Delivery::Duplicate);
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn a_claim_abandoned_by_a_dead_worker_is_taken_over_after_the_lease() {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Arc::new(ManualClock::default());
    let log = Arc::new(MemoryDeliveryLog::default());
    let notifier = Notifier::new(mailer.clone(), log.clone(), clock.clone(), Duration::minutes(2));
    let job = code_job();
    // A worker claimed it and died before sending.
    let dead = uuid::Uuid::new_v4();
    assert_eq!(log.claim(job.id, dead, clock.now(), Duration::minutes(2)).await.unwrap(), Claim::Claimed);
    assert!(matches!(notifier.deliver(&job).await, Err(ref e) if !e.is_permanent()));
    clock.advance(Duration::minutes(3));
    assert_eq!(notifier.deliver(&job).await.unwrap(), Delivery::Sent);
}

#[tokio::test]
async fn only_the_holder_of_a_claim_can_release_it() {
    let log = MemoryDeliveryLog::default();
    let clock = ManualClock::default();
    let (id, late, current) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let lease = Duration::minutes(2);
    assert_eq!(log.claim(id, late, clock.now(), lease).await.unwrap(), Claim::Claimed);
    // Its lease runs out; another worker takes the claim over and sends.
    clock.advance(Duration::minutes(3));
    assert_eq!(log.claim(id, current, clock.now(), lease).await.unwrap(), Claim::Claimed);
    // The late worker fails and releases: the newer claim must hold, or a
    // third worker would send the mail again.
    log.release(id, late).await.unwrap();
    assert_eq!(log.claim(id, uuid::Uuid::new_v4(), clock.now(), lease).await.unwrap(), Claim::InFlight);
    log.release(id, current).await.unwrap();
    assert_eq!(log.claim(id, uuid::Uuid::new_v4(), clock.now(), lease).await.unwrap(), Claim::Claimed);
}

#[test]
fn malformed_and_unknown_template_messages_are_permanent() {
    for body in [
        "not json",
        r#"{"id":"5f0c0e9e-6f5b-4c1a-9a51-0d1f2f0e2a11","to":"a@b.co","template":"newsletter","params":{}}"#,
        r#"{"id":"5f0c0e9e-6f5b-4c1a-9a51-0d1f2f0e2a11","to":"not an address","template":"ocr_failed","params":{"job_id":"j","reason":"r"}}"#,
        r#"{"id":"5f0c0e9e-6f5b-4c1a-9a51-0d1f2f0e2a11","to":"a@b.co","template":"verify_code","params":{"code":"1"}}"#,
    ] {
        assert!(matches!(Notifier::parse(body), Err(ref e) if e.is_permanent()), "{body}");
    }
    let ok = serde_json::to_string(&code_job()).unwrap();
    assert!(Notifier::parse(&ok).is_ok());
}
