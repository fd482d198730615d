//! The one telemetry module: structured logs through `tracing` (a line per
//! HTTP request, a span per SQS record), and metrics as CloudWatch Embedded
//! Metric Format lines (see `emf`). Each function's `main.rs` calls `init`
//! with its service name; nothing else there. The HTTP request's own line
//! and metrics are the HTTP edge's (`http_edge::requests`).

pub mod emf;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

static SERVICE: OnceLock<&'static str> = OnceLock::new();
static COLD: AtomicBool = AtomicBool::new(true);

/// Whether this process runs in Lambda (JSON logs, EMF metrics on stdout)
/// rather than on a developer's machine (readable lines).
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// The service this process serves (`auth`, `jobs-api`, `ocr`, `notify`;
/// `local` for the runner that hosts them all): a metric dimension.
pub fn service() -> &'static str {
    SERVICE.get().copied().unwrap_or("local")
}

/// Names the OCR job in the current span (a request's or an SQS record's),
/// so that its whole life can be followed in the logs by its id.
pub fn record_job(job: &dyn std::fmt::Display) {
    tracing::Span::current().record("job_id", tracing::field::display(job));
}

/// True once per process, for its first invocation: a Lambda cold start.
pub fn take_cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

/// JSON lines in Lambda (CloudWatch parses them; each line carries the
/// fields of its span: the request, or the SQS record and its job), compact
/// text elsewhere. The level comes from `RUST_LOG` (template.yaml sets it
/// from LogLevel). Safe to call more than once; the first service wins.
pub fn init(service: &'static str) {
    if in_lambda() {
        init_json(service, std::io::stdout);
    } else {
        let _ = SERVICE.set(service);
        let _ = tracing_subscriber::fmt().with_env_filter(filter()).compact().try_init();
    }
}

/// The Lambda format, written to `writer` (tests capture it there).
pub fn init_json<W>(service: &'static str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = SERVICE.set(service);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        // Lambda adds its own timestamps.
        .without_time()
        .try_init();
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}
