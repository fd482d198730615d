//! The upload → S3 → SQS → OCR → DynamoDB pipeline and the jobs API on the
//! emulator, exercised as a client.

use std::time::Duration;

use crate::common::{TestApp, assert_problem, unique_email};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use domain::email::EmailMessage;
use imaging::testing::{png as blank_png, png_claiming, with_exif_orientation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqs_host::{BatchWorker, Deadline};
use test_kit::{self, cer, load_font};

const TRUTH: [&str; 2] = ["Serverless OCR in Rust", "Hello from Lambda"];

fn text_png() -> Vec<u8> {
    let font = load_font("DejaVuSans.ttf").unwrap();
    test_kit::paragraph("hello", &font, 30.0, &TRUTH).png()
}

impl TestApp {
    async fn upload_multipart(&self, token: &str, field: &str, body: Vec<u8>) -> reqwest::Response {
        let boundary = "XtestBoundary42";
        let mut form = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"scan.png\"\r\nContent-Type: text/plain\r\n\r\n"
        )
        .into_bytes();
        form.extend_from_slice(&body);
        form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.upload_raw(token, &format!("multipart/form-data; boundary={boundary}"), form).await
    }

    async fn job(&self, token: &str, id: &str) -> reqwest::Response {
        self.get_with_token(&format!("/jobs/{id}"), token).await
    }
}

impl TestApp {
    async fn statuses(&self, token: &str, jobs: &[String]) -> Vec<Value> {
        let mut statuses = Vec::new();
        for id in jobs {
            statuses.push(self.job(token, id).await.json::<Value>().await.unwrap()["status"].clone());
        }
        statuses
    }
}

async fn spawn_with_ocr() -> TestApp {
    let mut options = local::Options::for_test();
    options.run_ocr_worker = true;
    TestApp::spawn_with(options).await
}

#[tokio::test]
async fn an_uploaded_image_is_read_and_a_ready_mail_is_queued() {
    let app = spawn_with_ocr().await;
    let email = unique_email();
    let token = app.signed_up_user(&email).await;

    let response = app.upload_multipart(&token, "file", text_png()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["status"], "QUEUED");
    assert_eq!(location, format!("/jobs/{id}"));
    assert_eq!(accepted["links"]["self"], location);

    let job = app.finished_job(&token, &id).await;
    assert_eq!(job["status"], "DONE", "{job}");
    assert_eq!(job["content_type"], "image/png", "the type comes from the bytes, not the part's header");
    let text = job["result"]["text"].as_str().unwrap();
    let rate = cer(&TRUTH.join("\n"), text);
    assert!(rate <= 0.05, "CER {rate}: {text:?}");
    let page = &job["result"]["pages"][0];
    assert_eq!(
        (page["page"].as_u64(), job["pages_total"].as_u64(), job["pages_done"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(page["lines"].as_array().unwrap().len(), 2);
    assert!(page["lines"][0]["bbox"]["width"].as_u64().unwrap() > 100);
    assert!(page["width"].as_u64().unwrap() > 0);
    assert_eq!(job["result"]["engine"]["name"], "ppocrv6-small", "the default engine");
    let first = &page["lines"][0];
    assert!(first["confidence"].as_f64().unwrap() > 0.8, "{first}");
    assert!(!first["words"].as_array().unwrap().is_empty(), "{first}");
    assert!(job["finished_at"].is_string());

    let mails = app.drain_emails(Duration::from_secs(10)).await;
    let ready: Vec<_> = mails.iter().filter(|m| m.template() == "ocr_done").collect();
    assert_eq!(ready.len(), 1, "{mails:?}");
    assert_eq!(ready[0].to.as_str(), email);
    let EmailMessage::OcrDone { job_id, excerpt, .. } = &ready[0].message else { unreachable!() };
    assert_eq!(job_id, &id);
    assert!(excerpt.contains("Serverless"), "{excerpt}");
}

/// Phone photos store their pixels sideways or upside down and say so in
/// EXIF; the text is read as a viewer shows it, and the result says what
/// was turned, with the upright page's size and boxes.
#[tokio::test]
async fn photos_with_an_exif_orientation_are_read_upright() {
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let font = load_font("DejaVuSans.ttf").unwrap();
    let page = test_kit::paragraph("hello", &font, 30.0, &TRUTH);
    let upright = image::DynamicImage::ImageRgb8(page.image.clone());
    let cases = [
        (image::ImageFormat::Jpeg, "image/jpeg", 6),
        (image::ImageFormat::Png, "image/png", 6),
        (image::ImageFormat::Jpeg, "image/jpeg", 3),
        (image::ImageFormat::Png, "image/png", 8),
    ];
    for (format, content_type, orientation) in cases {
        let bytes = with_exif_orientation(&upright, orientation, format);
        let accepted = app.upload_raw(&token, content_type, bytes).await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        let id = accepted.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
        let job = app.finished_job(&token, &id).await;
        assert_eq!(job["status"], "DONE", "{job}");
        let text = job["result"]["text"].as_str().unwrap();
        assert!(cer(&page.truth, text) <= 0.05, "{content_type} {orientation}: {text:?}");
        let first = &job["result"]["pages"][0];
        assert_eq!(first["orientation_applied"], orientation, "{first}");
        assert_eq!(
            (first["width"].as_u64(), first["height"].as_u64()),
            (Some(upright.width().into()), Some(upright.height().into()))
        );
    }
}

/// One account cannot hold every OCR worker, nor ask for pages without end:
/// unfinished jobs at once and pages a day are bounded (here 2 and 5),
/// with a 429 and when to ask again; a presigned document whose pages turn
/// out to be over the day's quota ends FAILED with the reason.
#[tokio::test]
async fn jobs_in_flight_and_pages_a_day_are_bounded_per_account() {
    use imaging::testing::{multipage_tiff, scanned_pdf};
    let quota = |in_flight: &str, pages: &str| {
        let mut options = local::Options::for_test();
        options.parameters.insert("MaxJobsInFlight".into(), in_flight.into());
        options.parameters.insert("MaxPagesPerDay".into(), pages.into());
        options
    };
    // No worker: jobs stay QUEUED, in flight.
    let app = TestApp::spawn_with(quota("2", "100")).await;
    let token = app.signed_up_user(&unique_email()).await;
    for _ in 0..2 {
        assert_eq!(app.upload_raw(&token, "image/png", text_png()).await.status(), StatusCode::ACCEPTED);
    }
    let refused = app.upload_raw(&token, "image/png", text_png()).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "quota-exceeded").await;
    let presign = json!({"content_type": "application/pdf", "bytes": 1000});
    let refused = app.send_with_token(reqwest::Method::POST, "/uploads", &token, presign).await;
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "quota-exceeded").await;
    // Another account is not held back.
    let other = app.signed_up_user(&unique_email()).await;
    assert_eq!(app.upload_raw(&other, "image/png", text_png()).await.status(), StatusCode::ACCEPTED);

    // Pages a day: 2 + 2 > 3 is refused at once, the first 2 deleted or
    // not; a presigned 3-page PDF is
    // let in (its pages unknown) and fails when they are counted.
    let app = TestApp::spawn_with(local::Options { run_ocr_worker: true, ..quota("100", "3") }).await;
    let token = app.signed_up_user(&unique_email()).await;
    let page = image::DynamicImage::ImageRgb8(
        test_kit::paragraph("p", &load_font("DejaVuSans.ttf").unwrap(), 24.0, &["A page"]).image,
    )
    .to_luma8();
    let two_pages = multipage_tiff(&[page.clone(), page.clone()]);
    let accepted = app.upload_raw(&token, "image/tiff", two_pages.clone()).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let first: serde_json::Value = accepted.json().await.unwrap();
    let first = first["job_id"].as_str().unwrap();
    app.finished_job(&token, first).await;
    // Deleting the job gives its pages back to nobody.
    let deleted = app.send_with_token(reqwest::Method::DELETE, &format!("/jobs/{first}"), &token, json!(null)).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let refused = app.upload_raw(&token, "image/tiff", two_pages).await;
    let problem = assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "quota-exceeded").await;
    assert!(problem["detail"].as_str().unwrap().contains("pages"), "{problem}");
    let id =
        app.upload_presigned(&token, "application/pdf", scanned_pdf(&[page.clone(), page.clone(), page], 150.0)).await;
    let job = app.finished_job(&token, &id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job["error"].as_str().unwrap_or_default().contains("a day"), "{job}");
}

#[tokio::test]
async fn a_raw_image_body_works_and_jobs_list_newest_first() {
    let app = TestApp::spawn().await;
    let token = app.signed_up_user(&unique_email()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let response = app.upload_raw(&token, "image/jpeg", blank_png(20, 20)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let page: Value = app.get_with_token("/jobs?limit=2", &token).await.json().await.unwrap();
    let first: Vec<&str> = page["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap()).collect();
    assert_eq!(first, ids[..2]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page: Value = app.get_with_token(&format!("/jobs?limit=2&cursor={cursor}"), &token).await.json().await.unwrap();
    assert_eq!(page["jobs"][0]["job_id"], ids[2]);
    assert_eq!(page["jobs"][0]["status"], "QUEUED");

    let bad = app.get_with_token("/jobs?limit=500", &token).await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid-query").await;
    let bad = app.get_with_token("/jobs?cursor=%21%21", &token).await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid-query").await;
    let bad = app.get_with_token("/jobs?color=red", &token).await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid-query").await;
}

#[tokio::test]
async fn jobs_are_private_and_deletable() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up_user(&unique_email()).await;
    let eve = app.signed_up_user(&unique_email()).await;
    let body: Value = app.upload_raw(&alice, "image/png", blank_png(10, 10)).await.json().await.unwrap();
    let id = body["job_id"].as_str().unwrap();

    assert_problem(app.job(&eve, id).await, StatusCode::NOT_FOUND, "not-found").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_problem(app.job(&alice, &unknown).await, StatusCode::NOT_FOUND, "not-found").await;
    assert_problem(app.job(&alice, "not-a-uuid").await, StatusCode::NOT_FOUND, "not-found").await;
    let eve_list: Value = app.get_with_token("/jobs", &eve).await.json().await.unwrap();
    assert!(eve_list["jobs"].as_array().unwrap().is_empty());

    let steal = app.http.delete(app.url(&format!("/jobs/{id}"))).bearer_auth(&eve).send().await.unwrap();
    assert_problem(steal, StatusCode::NOT_FOUND, "not-found").await;
    let delete = app.http.delete(app.url(&format!("/jobs/{id}"))).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert_problem(app.job(&alice, id).await, StatusCode::NOT_FOUND, "not-found").await;

    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let objects = app.system.clients.s3().list_objects_v2().bucket(bucket).send().await.unwrap();
    assert_eq!(objects.key_count.unwrap_or(0), 0, "the upload outlived its job");
}

#[tokio::test]
async fn a_corrupt_image_fails_its_job_with_a_reason_and_a_failure_mail() {
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let mut corrupt = text_png();
    let cut = corrupt.len() / 2;
    corrupt.truncate(cut);
    let body: Value = app.upload_raw(&token, "image/png", corrupt).await.json().await.unwrap();
    let id = body["job_id"].as_str().unwrap();
    let job = app.finished_job(&token, id).await;
    assert_eq!(job["status"], "FAILED");
    assert!(job["error"].as_str().unwrap().contains("cannot be decoded"), "{job}");
    let mails = app.drain_emails(Duration::from_secs(10)).await;
    assert!(mails.iter().any(|m| m.template() == "ocr_failed"), "{mails:?}");
}

#[tokio::test]
async fn a_presigned_upload_runs_the_same_pipeline() {
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let image = text_png();
    let response = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .json(&json!({"content_type": "image/png", "bytes": image.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "AWAITING_UPLOAD");
    let id = body["job_id"].as_str().unwrap();
    let url = body["upload"]["url"].as_str().unwrap();
    let put = app.http.put(url).header("content-type", "image/png").body(image).send().await.unwrap();
    assert!(put.status().is_success(), "PUT to the presigned URL: {}", put.text().await.unwrap());
    let job = app.finished_job(&token, id).await;
    assert_eq!(job["status"], "DONE", "{job}");
    assert!(cer(&TRUTH.join("\n"), job["result"]["text"].as_str().unwrap()) <= 0.05);

    // The URL is still valid: a second PUT after the job is done is removed
    // too ("images are deleted as soon as they are read").
    let put = app.http.put(url).header("content-type", "image/png").body(text_png()).send().await.unwrap();
    assert!(put.status().is_success());
    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let objects =
            app.system.clients.s3().list_objects_v2().bucket(&bucket).prefix("uploads/").send().await.unwrap();
        if !objects.contents().iter().filter_map(|o| o.key()).any(|k| k.contains(id)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the image PUT again after the job was done is still there");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let again = app.get_with_token(&format!("/jobs/{id}"), &token).await.json::<Value>().await.unwrap();
    assert_eq!(again["result"], job["result"], "read again");

    let bad = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .json(&json!({"content_type": "application/zip", "bytes": 10}))
        .send()
        .await
        .unwrap();
    assert_problem(bad, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-image-type").await;
    let too_big = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .json(&json!({"content_type": "image/png", "bytes": 1u64 << 40}))
        .send()
        .await
        .unwrap();
    assert_problem(too_big, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large").await;
}

fn notification_body(bucket: &str, key: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-22T05:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "x"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "x"}, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "0"}}
    }]})
    .to_string()
}

fn message(id: &str, body: String) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(body);
    m
}

#[tokio::test]
async fn duplicate_deliveries_give_one_result_and_one_mail_and_bad_records_fail_alone() {
    let app = TestApp::spawn().await;
    let token = app.signed_up_user(&unique_email()).await;
    let body: Value = app.upload_raw(&token, "image/png", text_png()).await.json().await.unwrap();
    let id = body["job_id"].as_str().unwrap();
    let job_key = {
        let me: Value = app.get_with_token("/users/me", &token).await.json().await.unwrap();
        format!("uploads/{}/{id}", me["id"].as_str().unwrap())
    };
    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let env = app.system.stack.function_env("OcrFunction").unwrap();
    let worker = ocr_worker::Worker::from_env(&env, &app.system.clients, app.system.pdf_reader).unwrap();

    // One batch: the same notification twice, S3's test event, a message
    // that is no notification at all, one for a key outside uploads/, and
    // one for another bucket.
    let mut event = SqsEvent::default();
    event.records = vec![
        message("first", notification_body(&bucket, &job_key)),
        message("duplicate", notification_body(&bucket, &job_key)),
        message("test-event", json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}).to_string()),
        message("garbage", "{not json".into()),
        message("elsewhere", notification_body(&bucket, "results/whatever.json")),
        message("another-bucket", notification_body("someone-elses-bucket", &job_key)),
    ];
    let response = worker.handle_batch(event.clone(), None).await;
    assert!(response.batch_item_failures.is_empty(), "nothing here is worth a retry: {response:?}");
    // The two that can never succeed were parked at once, with their reasons.
    let mut reasons: Vec<String> =
        app.parked("OcrJobsDeadLetterQueue", 1).await.into_iter().map(|(_, reason)| reason).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("someone-elses-bucket") && reasons[1].contains("not JSON"), "{reasons:?}");
    // And once more, as a redelivery of the whole batch.
    worker.handle_batch(event, None).await;

    let job: Value = app.job(&token, id).await.json().await.unwrap();
    assert_eq!(job["status"], "DONE");
    let mails = app.drain_emails(Duration::from_secs(3)).await;
    assert_eq!(mails.iter().filter(|m| m.template() == "ocr_done").count(), 1, "{mails:?}");
}

#[tokio::test]
async fn every_class_of_bad_upload_gets_a_clear_4xx_problem() {
    let app = TestApp::spawn().await;
    let token = app.signed_up_user(&unique_email()).await;

    let anonymous =
        app.http.post(app.url("/ocr")).header("content-type", "image/png").body(blank_png(5, 5)).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("image/png", vec![], StatusCode::BAD_REQUEST, "invalid-body"),
        ("text/plain", b"hello".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        (
            "image/png",
            b"PK\x03\x04 this is a zip".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-image-type",
        ),
        // A PDF is welcome, a broken one is not.
        ("image/png", b"%PDF-1.7 this is no pdf".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "unreadable-image"),
        ("image/png", b"\x89PNG\r\n\x1a\n garbage".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "unreadable-image"),
        ("image/png", png_claiming(50_000, 50_000), StatusCode::UNPROCESSABLE_ENTITY, "image-too-large"),
        ("image/png", vec![0x89; 4 * 1024 * 1024 + 1], StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
    ];
    for (content_type, body, status, kind) in cases {
        let response = app.upload_raw(&token, content_type, body).await;
        assert_problem(response, status, kind).await;
    }
    let no_file = app.upload_multipart(&token, "picture", blank_png(5, 5)).await;
    let problem = assert_problem(no_file, StatusCode::BAD_REQUEST, "invalid-body").await;
    assert!(problem["detail"].as_str().unwrap().contains("file"));
    let broken = app.upload_raw(&token, "multipart/form-data; boundary=x", b"not multipart".to_vec()).await;
    assert_problem(broken, StatusCode::BAD_REQUEST, "invalid-body").await;

    let listed: Value = app.get_with_token("/jobs", &token).await.json().await.unwrap();
    assert!(listed["jobs"].as_array().unwrap().is_empty(), "a refused upload left a job: {listed}");
}

#[tokio::test]
async fn every_route_in_template_yaml_is_served() {
    let app = TestApp::spawn().await;
    let routes = app.system.stack.template().http_routes("UploadFunction");
    assert_eq!(routes.len(), 6, "{routes:?}");
    for (method, path) in routes {
        let path = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let response = app.http.request(method.parse().unwrap(), app.url(&path)).send().await.unwrap();
        // Unauthenticated: 401 proves the route exists (unknown routes 404).
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn a_batch_longer_than_the_deadline_loses_nothing_and_does_nothing_twice() {
    let app = TestApp::spawn().await;
    let token = app.signed_up_user(&unique_email()).await;
    let owner =
        app.get_with_token("/users/me", &token).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let mut event = SqsEvent::default();
    let mut jobs = Vec::new();
    for i in 0..3 {
        let body: Value = app.upload_raw(&token, "image/png", text_png()).await.json().await.unwrap();
        let id = body["job_id"].as_str().unwrap().to_owned();
        event.records.push(message(&format!("m{i}"), notification_body(&bucket, &format!("uploads/{owner}/{id}"))));
        jobs.push(id);
    }
    let env = app.system.stack.function_env("OcrFunction").unwrap();
    let worker = ocr_worker::Worker::from_env(&env, &app.system.clients, app.system.pdf_reader).unwrap();

    // Time for one record only (one takes well over 50 ms): the rest go
    // back to the queue as new messages, untouched, and count no receive.
    let margin = Duration::from_secs(30);
    let deadline = Deadline { at: tokio::time::Instant::now() + margin + Duration::from_millis(50), margin };
    let response = worker.handle_batch(event.clone(), Some(deadline)).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    assert_eq!(app.statuses(&token, &jobs).await, ["DONE", "QUEUED", "QUEUED"]);
    let queue = app.system.stack.reference("OcrJobsQueue").unwrap().to_owned();
    let sqs = app.system.clients.sqs();
    // (The queue also holds the uploads' own notifications: no worker runs.)
    let expected: Vec<String> = event.records[1..].iter().map(|r| r.body.clone().unwrap()).collect();
    let mut on_the_queue = Vec::new();
    while !expected.iter().all(|e| on_the_queue.contains(e)) {
        let out = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).wait_time_seconds(2);
        let out = out.send().await.unwrap();
        assert!(!out.messages().is_empty(), "not sent back: {expected:?}");
        on_the_queue.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
    }

    // A later invocation gets them (here: the whole batch again, as if the
    // first record were delivered twice too).
    let response = worker.handle_batch(event, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(app.statuses(&token, &jobs).await, ["DONE", "DONE", "DONE"]);
    let mails = app.drain_emails(Duration::from_secs(3)).await;
    let done: Vec<_> = mails.iter().filter(|m| m.template() == "ocr_done").collect();
    assert_eq!(done.len(), 3, "one mail per job, none twice: {mails:?}");
}

#[tokio::test]
async fn a_finished_job_keeps_no_image_and_is_gone_once_expired() {
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let owner =
        app.get_with_token("/users/me", &token).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let body: Value = app.upload_raw(&token, "image/png", text_png()).await.json().await.unwrap();
    let id = body["job_id"].as_str().unwrap().to_owned();
    let job = app.finished_job(&token, &id).await;
    assert_eq!(job["status"], "DONE");

    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let objects = app.system.clients.s3().list_objects_v2().bucket(&bucket).prefix("uploads/").send().await.unwrap();
    assert!(objects.contents().is_empty(), "the image of a finished job was kept");

    // Past its retention (the table's TTL removes it some time later). The
    // worker writes the job once more after DONE (its e-mail queued): wait
    // for that write, or it would undo this edit on a loaded machine.
    let table = app.system.stack.reference("JobsTable").unwrap().to_owned();
    let key = |name: &str, value: &str| (name.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(value.into()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let item = app
            .system
            .clients
            .dynamodb()
            .get_item()
            .table_name(&table)
            .set_key(Some([key("pk", &owner), key("sk", &id)].into_iter().collect()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        if item.get("notified").and_then(|v| v.as_bool().ok()) == Some(&true) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the finished job was never marked notified");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let past = (time::OffsetDateTime::now_utc() - time::Duration::minutes(1)).unix_timestamp().to_string();
    app.system
        .clients
        .dynamodb()
        .update_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(owner))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(id.clone()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", aws_sdk_dynamodb::types::AttributeValue::N(past))
        .send()
        .await
        .unwrap();
    assert_problem(app.job(&token, &id).await, StatusCode::GONE, "job-expired").await;
    let listed: Value = app.get_with_token("/jobs", &token).await.json().await.unwrap();
    assert_eq!(listed["jobs"], json!([]), "{listed}");
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retried_upload_return_the_first_job() {
    let app = TestApp::spawn().await;
    let token = app.signed_up_user(&unique_email()).await;
    let post = |path: &str, key: &str, content_type: &str, body: Vec<u8>| {
        app.http
            .post(app.url(path))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let image = blank_png(30, 20);
    let first = post("/ocr", "k-1", "image/png", image.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let again = post("/ocr", "k-1", "image/png", image.clone()).await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first, "a repeat must get the first answer");
    let listed: Value = app.get_with_token("/jobs", &token).await.json().await.unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1, "a repeat made a second job: {listed}");

    // Another request under the same key is refused: other bytes, or the
    // same bytes for another engine or OCR mode.
    let other = post("/ocr", "k-1", "image/png", blank_png(31, 20)).await.unwrap();
    assert_problem(other, StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused").await;
    for query in ["/ocr?engine=ocrs", "/ocr?ocr=always"] {
        let other = post(query, "k-1", "image/png", image.clone()).await.unwrap();
        assert_problem(other, StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused").await;
    }

    // Presigned uploads too.
    let presign = json!({"content_type": "image/png", "bytes": 100}).to_string().into_bytes();
    let a: Value = post("/uploads", "k-2", "application/json", presign.clone()).await.unwrap().json().await.unwrap();
    let b = post("/uploads", "k-2", "application/json", presign).await.unwrap();
    assert_eq!(b.status(), StatusCode::CREATED);
    assert_eq!(b.json::<Value>().await.unwrap()["job_id"], a["job_id"]);

    // A request that failed frees its key: the corrected retry goes through.
    let refused = post("/ocr", "k-3", "image/png", b"not an image".to_vec()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(post("/ocr", "k-3", "image/png", image).await.unwrap().status(), StatusCode::ACCEPTED);

    for bad in ["", "has space", &"x".repeat(256)] {
        let response = post("/ocr", bad, "image/png", blank_png(5, 5)).await;
        if let Ok(response) = response {
            assert_problem(response, StatusCode::BAD_REQUEST, "invalid-idempotency-key").await;
        }
    }
}
