//! Test harness: spawns the system on its own stack and talks to it as a client.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use domain::email::{EmailJob, EmailMessage};
use imaging::document::PdfReader;
use imaging::sandbox::ChildProgram;
use local::{LocalSystem, Options};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "analytical engine";

pub struct TestApp {
    pub system: LocalSystem,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::for_test()).await
    }

    pub async fn spawn_with(mut options: Options) -> Self {
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "AWS_ENDPOINT_URL is not set: run the tests with ./dev test, which starts the emulator"
        );
        // PDFs are opened and drawn in children, as in Lambda: of the local
        // runner's binary, since this test binary cannot be its own child.
        // (The CLI's tests, which share this file, have no such binary at
        // hand and draw PDFs in process.)
        static RUNNER: std::sync::OnceLock<Option<ChildProgram>> = std::sync::OnceLock::new();
        if let Some(program) = *RUNNER.get_or_init(|| option_env!("CARGO_BIN_EXE_local").map(ChildProgram::new)) {
            options.pdf_reader = PdfReader::Confined(program);
        }
        let system = LocalSystem::start(options).await.expect("the local system starts");
        Self { system, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.system.api_url)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).json(&body).send().await.expect("request sent")
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub fn env(&self, function: &str, name: &str) -> String {
        self.system.stack.function_env(function).unwrap().get(name).unwrap_or_else(|| panic!("{name} not set"))
    }

    /// Receives every e-mail job now on the queue (waiting up to `wait`
    /// for the first), deleting them.
    pub async fn drain_emails(&self, wait: Duration) -> Vec<EmailJob> {
        let url = self.system.stack.reference("EmailQueue").unwrap().to_owned();
        let deadline = Instant::now() + wait;
        let mut jobs = Vec::new();
        loop {
            let out = self
                .system
                .clients
                .sqs()
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(if jobs.is_empty() { 1 } else { 0 })
                .send()
                .await
                .expect("receive from the e-mail queue");
            let messages = out.messages.unwrap_or_default();
            for message in &messages {
                let body = message.body.as_deref().unwrap_or_default();
                jobs.push(serde_json::from_str(body).unwrap_or_else(|e| panic!("not an e-mail job ({e}): {body}")));
                let handle = message.receipt_handle.clone().unwrap();
                self.system.clients.sqs().delete_message().queue_url(&url).receipt_handle(handle).send().await.unwrap();
            }
            if (messages.is_empty() && !jobs.is_empty()) || Instant::now() >= deadline {
                return jobs;
            }
        }
    }

    /// The code in the newest verification or reset e-mail job for `email`.
    pub async fn code_for(&self, email: &str) -> String {
        let jobs = self.drain_emails(Duration::from_secs(10)).await;
        jobs.into_iter()
            .rev()
            .find_map(|job| match job.message {
                EmailMessage::VerifyCode { code, .. } | EmailMessage::PasswordResetCode { code, .. }
                    if job.to.as_str() == email =>
                {
                    Some(code)
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no code e-mail for {email}"))
    }

    pub async fn verify(&self, email: &str, code: &str, password: &str) -> Response {
        self.post_json("/auth/verify", json!({"email": email, "code": code, "password": password})).await
    }

    /// A request with a bearer token and, unless `Null`, a JSON body.
    pub async fn send_with_token(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Response {
        let request = self.http.request(method, self.url(path)).bearer_auth(token);
        let request = if body.is_null() { request } else { request.json(&body) };
        request.send().await.expect("request sent")
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json("/auth/register", json!({"name": "Ada Lovelace", "email": email, "password": password})).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/auth/login", json!({"email": email, "password": password})).await
    }

    /// Registers, verifies and logs in; returns the access token.
    pub async fn signed_up_user(&self, email: &str) -> String {
        assert_eq!(self.register(email, PASSWORD).await.status(), StatusCode::CREATED);
        let code = self.code_for(email).await;
        assert_eq!(self.verify(email, &code, PASSWORD).await.status(), StatusCode::OK);
        let login: Value = self.login(email, PASSWORD).await.json().await.unwrap();
        login["access_token"].as_str().expect("an access token").to_owned()
    }
}

impl TestApp {
    /// Rewrites the JSON document of a record in the users table (to age
    /// codes and send logs instead of waiting).
    pub async fn edit_record(&self, pk: &str, edit: impl FnOnce(&mut Value)) {
        let table = self.system.stack.reference("UsersTable").unwrap().to_owned();
        let dynamodb = self.system.clients.dynamodb();
        let item = dynamodb
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no record {pk}"));
        let mut doc: Value = serde_json::from_str(item["doc"].as_s().unwrap()).unwrap();
        edit(&mut doc);
        dynamodb
            .update_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.into()))
            .update_expression("SET doc = :doc")
            .expression_attribute_values(":doc", AttributeValue::S(doc.to_string()))
            .send()
            .await
            .unwrap();
    }

    /// Lets the one-code-a-minute limit pass for `email` (every purpose,
    /// from this machine and from everywhere).
    pub async fn forget_sends(&self, email: &str) {
        for purpose in ["signup", "reset"] {
            for key in [format!("SENDS#{purpose}#{email}#127.0.0.1"), format!("SENDS#{purpose}#{email}")] {
                if self.record_exists(&key).await {
                    self.edit_record(&key, |doc| doc["sent_at"] = json!([])).await;
                }
            }
        }
    }

    async fn record_exists(&self, pk: &str) -> bool {
        let table = self.system.stack.reference("UsersTable").unwrap().to_owned();
        let found = self.system.clients.dynamodb().get_item().table_name(table);
        let found = found.key("pk", AttributeValue::S(pk.into())).send().await.unwrap();
        found.item.is_some()
    }
}

impl TestApp {
    /// The messages parked in a dead-letter queue: `(body, failure_reason)`,
    /// waiting up to `wait_seconds` for the first.
    pub async fn parked(&self, dead_letter_queue: &str, wait_seconds: i32) -> Vec<(String, String)> {
        let url = self.system.stack.reference(dead_letter_queue).unwrap().to_owned();
        let out = self
            .system
            .clients
            .sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .map(|m| {
                let reason = m.message_attributes().and_then(|a| a.get("failure_reason"));
                let reason = reason.and_then(|r| r.string_value()).unwrap_or_default().to_owned();
                (m.body().unwrap_or_default().to_owned(), reason)
            })
            .collect()
    }
}

/// Asserts an RFC 9457 problem with this status and type; returns it.
/// A test fails when the API answered it outside its OpenAPI description.
impl Drop for TestApp {
    fn drop(&mut self) {
        let violations = self.system.contract.take_violations();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("responses broke web/openapi.json:\n{}", violations.join("\n"));
        }
    }
}

pub async fn assert_problem(response: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status, "wrong status for an expected {kind} problem");
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["type"], format!("/problems/{kind}"), "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

pub fn unique_email() -> String {
    format!("user-{}@example.org", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    /// Waits for the emulator's SES to have sent `count` e-mails to `to`
    /// whose subject contains `subject`; returns them.
    pub async fn sent_mail(&self, to: &str, subject: &str, count: usize) -> Vec<local::sent_mail::SentEmail> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // moto's data view can fail while other tests write; ask again.
            let mail: Vec<_> = match local::sent_mail::fetch(&self.http, &endpoint).await {
                Ok(mail) => {
                    mail.into_iter().filter(|m| m.to.iter().any(|t| t == to) && m.subject.contains(subject)).collect()
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("sent mail not readable yet: {e:#}");
                    Vec::new()
                }
                Err(e) => panic!("cannot read sent mail: {e:#}"),
            };
            if mail.len() >= count || Instant::now() >= deadline {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl TestApp {
    /// `POST /ocr` with the raw bytes as `content_type`.
    pub async fn upload_raw(&self, token: &str, content_type: &str, body: Vec<u8>) -> Response {
        self.http
            .post(self.url("/ocr"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /uploads` then the PUT to the URL it gives; returns the job id.
    pub async fn upload_presigned(&self, token: &str, content_type: &str, body: Vec<u8>) -> String {
        let answer: Value = self
            .http
            .post(self.url("/uploads"))
            .bearer_auth(token)
            .json(&json!({"content_type": content_type, "bytes": body.len()}))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .unwrap();
        let url = answer["upload"]["url"].as_str().unwrap_or_else(|| panic!("no upload URL: {answer}"));
        let put = self.http.put(url).header("content-type", content_type).body(body).send().await.unwrap();
        assert!(put.status().is_success(), "PUT to the presigned URL: {}", put.text().await.unwrap());
        answer["job_id"].as_str().unwrap().to_owned()
    }

    /// Polls `GET /jobs/{id}` until the job is DONE or FAILED.
    pub async fn finished_job(&self, token: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job: Value = self.get_with_token(&format!("/jobs/{id}"), token).await.json().await.unwrap();
            if job["status"] == "DONE" || job["status"] == "FAILED" {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
