//! The sample events in events/ are real API Gateway HTTP API (v2) payloads:
//! lambda_http parses each one and the router answers it, here with
//! in-memory adapters. (#5 replays them against the release binary.)

use std::sync::Arc;

use auth::{AuthState, router};
use axum::body::Body;
use domain::clock::SystemClock;
use domain::memory::{self, MemoryEmailQueue};
use http::StatusCode;
use tower::ServiceExt;

fn event(name: &str) -> lambda_http::Request {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

fn app(emails: Arc<MemoryEmailQueue>) -> axum::Router {
    router(AuthState::new(Arc::new(memory::auth_service(emails, Arc::new(SystemClock)))))
}

async fn status_of(router: &axum::Router, name: &str) -> StatusCode {
    let (parts, body) = event(name).into_parts();
    let request = http::Request::from_parts(parts, Body::from(body.to_vec()));
    router.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn each_event_reaches_its_route() {
    let emails = Arc::new(MemoryEmailQueue::default());
    let router = app(emails.clone());
    assert_eq!(status_of(&router, "auth-register.json").await, StatusCode::CREATED);
    assert_eq!(emails.jobs().len(), 1, "register queued no e-mail job");
    // The sample code is not the one that was sent.
    assert_eq!(status_of(&router, "auth-verify.json").await, StatusCode::BAD_REQUEST);
    // Not verified yet: answered as a wrong password (no existence oracle).
    assert_eq!(status_of(&router, "auth-login.json").await, StatusCode::UNAUTHORIZED);
    // A code went out a moment ago: the same answer, and no second mail.
    assert_eq!(status_of(&router, "auth-request-code.json").await, StatusCode::ACCEPTED);
    assert_eq!(emails.jobs().len(), 1, "a second code within the minute");
    assert_eq!(status_of(&router, "auth-me.json").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&router, "auth-forgot-password.json").await, StatusCode::ACCEPTED);
    assert_eq!(emails.jobs().len(), 2, "forgot queued no e-mail job");
    // The sample code is not the one sent.
    assert_eq!(status_of(&router, "auth-reset-password.json").await, StatusCode::BAD_REQUEST);
    for protected in ["auth-change-password.json", "auth-sign-out-everywhere.json", "auth-delete-me.json"] {
        assert_eq!(status_of(&router, protected).await, StatusCode::UNAUTHORIZED, "{protected}");
    }
}
