//! The logs of a client session, captured in the format Lambda writes
//! (JSON lines): one line per request with its route, status and caller;
//! the job's whole life (request, claim, OCR, e-mail) under its id; and no
//! password, token or code anywhere. One test: the log subscriber is
//! global to this test binary.

#[path = "it/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{PASSWORD, TestApp, unique_email};
use local::Options;
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
    type Writer = Captured;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}")))
            .collect()
    }
}

fn span_field<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    line["span"][name].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_leaves_request_lines_and_a_job_trail_and_no_secret() {
    let captured = Captured::default();
    platform::telemetry::init_json("test", captured.clone());
    let app =
        TestApp::spawn_with(Options { run_ocr_worker: true, run_notify_worker: true, ..Options::for_test() }).await;

    // Sign up with the code from the e-mail actually sent, sign in, submit.
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), 201);
    let mail = app.sent_mail(&email, "code", 1).await;
    let code: String = mail[0].body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap().to_owned();
    assert_eq!(app.verify(&email, &code, PASSWORD).await.status(), 200);
    let login: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.login(&email, "not the password at all").await.status(), 401);
    let me: Value = app.get_with_token("/users/me", &token).await.json().await.unwrap();
    let user_id = me["id"].as_str().unwrap().to_owned();
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let image = test_kit::paragraph("t", &font, 24.0, &["Telemetry follows the job"]).png();
    let submitted: Value = app.upload_raw(&token, "image/png", image).await.json().await.unwrap();
    let job = submitted["job_id"].as_str().unwrap().to_owned();
    let finished = app.finished_job(&token, &job).await;
    assert_eq!(finished["status"], "DONE", "{finished}");
    app.sent_mail(&email, "ready", 1).await;
    // The worker logs the delivery just after SES took it.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let lines = captured.lines();
    let text = captured.text();
    if let Ok(path) = std::env::var("TELEMETRY_LOG_OUT") {
        std::fs::write(path, &text).unwrap();
    }

    // One line per request: method, route template, status, latency, and
    // the caller once the token was checked.
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    for line in &requests {
        assert!(line["status"].is_u64() && line["latency_ms"].is_number(), "{line}");
        assert!(span_field(line, "method").is_some() && span_field(line, "route").is_some(), "{line}");
    }
    let find = |method: &str, route: &str, status: u64| {
        requests
            .iter()
            .find(|l| {
                span_field(l, "method") == Some(method)
                    && span_field(l, "route") == Some(route)
                    && l["status"] == status
            })
            .unwrap_or_else(|| panic!("no request line for {method} {route} {status}"))
    };
    find("POST", "/auth/register", 201);
    find("POST", "/auth/verify", 200);
    find("POST", "/auth/login", 200);
    find("POST", "/auth/login", 401);
    assert_eq!(span_field(find("GET", "/users/me", 200), "user_id"), Some(user_id.as_str()));
    let submit = find("POST", "/ocr", 202);
    assert_eq!(span_field(submit, "user_id"), Some(user_id.as_str()));
    assert_eq!(span_field(submit, "job_id"), Some(job.as_str()));
    assert!(
        requests.iter().any(|l| span_field(l, "route") == Some("/jobs/{id}") && span_field(l, "job_id") == Some(&job)),
        "the job's polling requests name it"
    );

    // The job's life after the request, followed by its id: the worker's
    // record span (message id, receive count) carries it.
    let trail: Vec<&Value> = lines.iter().filter(|l| span_field(l, "job_id") == Some(&job)).collect();
    let said = |message: &str| trail.iter().find(|l| l["message"] == message).copied();
    let claimed = said("job claimed").expect("a claim line under the job's id");
    assert!(span_field(claimed, "message_id").is_some() && claimed["span"]["receive_count"].is_string(), "{claimed}");
    let finished = said("job finished").expect("a line for the finished job");
    assert_eq!(finished["status"], "DONE");
    assert!(finished["ocr_ms"].is_u64() && finished["lines"].as_u64() >= Some(1), "{finished}");
    let mailed = said("e-mail handled").expect("the e-mail's delivery under the job's id");
    assert_eq!(mailed["template"], "ocr_done");

    // No secret: not the password, the token, the code, nor the text of a
    // wrong password.
    for secret in [PASSWORD, token.as_str(), "not the password at all"] {
        assert!(!text.contains(secret), "the logs contain a secret: {secret}");
    }
    assert!(!contains_token(&text, &code), "the logs contain the one-time code");
}

/// Whether `word` occurs on its own (not inside an id, where six digits in
/// a row may occur by chance).
fn contains_token(text: &str, word: &str) -> bool {
    let part_of_id = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
    text.match_indices(word).any(|(at, _)| {
        !part_of_id(text[..at].chars().next_back()) && !part_of_id(text[at + word.len()..].chars().next())
    })
}
