//! One INFO line per HTTP request, in a span that every line the request
//! logs carries (method, route template, Lambda's and API Gateway's request
//! ids, the caller once authenticated), and the request's metrics. Never a
//! header or a body: tokens, passwords and codes stay out of the logs.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

use domain::values::UserId;
use platform::telemetry::emf::{self, Metric};

/// The middleware (`axum::middleware::from_fn(log_requests)`, added with
/// `Router::layer` so that the matched route is known).
pub async fn log_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    // The route's template, not the path: no ids in the metric dimension.
    let route = request.extensions().get::<MatchedPath>().map_or("(none)", |p| p.as_str()).to_owned();
    let lambda_request_id = request.extensions().get::<lambda_http::Context>().map(|c| c.request_id.clone());
    let gateway_request_id = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id = lambda_request_id.as_deref(),
        apigw_request_id = gateway_request_id.as_deref(),
        user_id = Empty,
        job_id = Empty,
        cold_start = Empty,
    );
    // Only a Lambda process has cold starts worth a field.
    if lambda_request_id.is_some() {
        span.record("cold_start", platform::telemetry::take_cold_start());
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms = (latency_ms * 10.0).round() / 10.0, "request"));
    emit_request_metrics(&method, &route, status, latency_ms);
    response
}

/// Names the caller in the current request's span (called once the token
/// is checked).
pub fn record_user(user: &UserId) {
    tracing::Span::current().record("user_id", tracing::field::display(user));
}

fn emit_request_metrics(method: &str, route: &str, status: u16, latency_ms: f64) {
    let route_name = format!("{method} {route}");
    let flag = |yes: bool| u64::from(yes);
    emf::emit(
        &[("Route", &route_name)],
        &[
            Metric::count("Requests", 1),
            Metric::count("ClientErrors", flag((400..500).contains(&status))),
            Metric::count("ServerErrors", flag(status >= 500)),
            Metric::milliseconds("Latency", latency_ms),
        ],
        &[("status", Value::from(status))],
    );
    // What the use cases mean, read off the routes' answers.
    let event = match (method, route, status) {
        ("POST", "/auth/login", 200) => "LoginsSucceeded",
        ("POST", "/auth/login", 401) => "LoginsFailed",
        // Locked out: the account's or the source's failures.
        ("POST", "/auth/login", 429) => "LoginsLocked",
        ("POST", "/ocr", 202) | ("POST", "/uploads", 201) => "JobsSubmitted",
        _ => return,
    };
    emf::emit(&[], &[Metric::count(event, 1)], &[]);
}
