//! The product's definition of done: everything a user does, through the
//! HTTP API and the e-mail SES sends, with every worker running.

use std::time::Duration;

use crate::common::{PASSWORD, TestApp, unique_email};
use domain::email::{EmailJob, EmailMessage};
use reqwest::StatusCode;
use serde_json::Value;
use test_kit::{self, cer, load_font};

async fn spawn_everything() -> TestApp {
    let mut options = local::Options::for_test();
    options.run_ocr_worker = true;
    options.run_notify_worker = true;
    TestApp::spawn_with(options).await
}

/// The six digits in "Your verification code: 123456".
fn code_in(subject: &str) -> String {
    let code: String = subject.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "no code in {subject:?}");
    code
}

#[tokio::test]
async fn sign_up_upload_and_get_the_text_and_the_mail() {
    let app = spawn_everything().await;
    let email = unique_email();

    // Register; the code arrives by e-mail.
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    let mail = app.sent_mail(&email, "verification code", 1).await;
    assert_eq!(mail.len(), 1, "no verification e-mail");
    let code = code_in(&mail[0].subject);
    assert!(mail[0].body.contains(&code), "the body carries the code too");

    // Verify, log in.
    assert_eq!(app.verify(&email, &code, PASSWORD).await.status(), StatusCode::OK);
    let login: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();

    // Upload an image with known text; poll until it is read.
    let font = load_font("DejaVuSans.ttf").unwrap();
    let truth = ["Invoice 2026-117", "Total due: 15.87 EUR"];
    let image = test_kit::paragraph("invoice", &font, 30.0, &truth).png();
    let upload = app.upload_raw(&token, "image/png", image).await;
    assert_eq!(upload.status(), StatusCode::ACCEPTED);
    let id = upload.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let job = app.finished_job(&token, &id).await;
    assert_eq!(job["status"], "DONE", "{job}");
    let text = job["result"]["text"].as_str().unwrap();
    let rate = cer(&truth.join("\n"), text);
    assert!(rate <= 0.05, "CER {rate}: {text:?}");

    // The "ready" e-mail names the job.
    let ready = app.sent_mail(&email, "Your text is ready", 1).await;
    assert_eq!(ready.len(), 1, "no ready e-mail");
    assert!(ready[0].body.contains(&id), "{}", ready[0].body);
    assert!(ready[0].body.contains("Invoice"), "{}", ready[0].body);
}

#[tokio::test]
async fn a_failed_job_sends_the_failure_mail() {
    let app = spawn_everything().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let code = code_in(&app.sent_mail(&email, "verification code", 1).await[0].subject);
    app.verify(&email, &code, PASSWORD).await;
    let login: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap();

    let mut corrupt = imaging::testing::png(64, 64);
    corrupt.truncate(corrupt.len() - 20);
    let upload = app.upload_raw(token, "image/png", corrupt).await;
    let id = upload.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let job = app.finished_job(token, &id).await;
    assert_eq!(job["status"], "FAILED");
    let failed = app.sent_mail(&email, "could not read your image", 1).await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].body.contains(&id));
}

#[tokio::test]
async fn a_duplicated_email_job_is_sent_once_and_a_bad_one_is_parked() {
    let app = spawn_everything().await;
    let email = unique_email();
    let queue = app.system.stack.reference("EmailQueue").unwrap().to_owned();
    let job = EmailJob::new(
        domain::values::Email::parse(&email).unwrap(),
        EmailMessage::OcrFailed { job_id: "dup-1".into(), reason: "testing duplicates".into() },
    );
    let body = serde_json::to_string(&job).unwrap();
    for _ in 0..3 {
        app.system.clients.sqs().send_message().queue_url(&queue).message_body(&body).send().await.unwrap();
    }
    let garbage = r#"{"id":"5f0c0e9e-6f5b-4c1a-9a51-0d1f2f0e2a11","to":"a@b.co","template":"newsletter","params":{}}"#;
    app.system.clients.sqs().send_message().queue_url(&queue).message_body(garbage).send().await.unwrap();

    let sent = app.sent_mail(&email, "could not read your image", 1).await;
    assert_eq!(sent.len(), 1);
    // Give any duplicate time to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.sent_mail(&email, "could not read your image", 1).await.len(), 1, "sent more than once");

    let parked = app.parked("EmailDeadLetterQueue", 5).await;
    assert_eq!(parked.len(), 1);
    let (body, reason) = &parked[0];
    assert_eq!(body, garbage);
    assert!(reason.contains("newsletter") || reason.contains("variant"), "{reason}");
}
