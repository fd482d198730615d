//! The one telemetry module: structured logs through `tracing`.

use tracing_subscriber::EnvFilter;

/// JSON lines in Lambda (CloudWatch parses them), compact text elsewhere.
/// The level comes from `RUST_LOG` (template.yaml sets it from LogLevel).
/// Safe to call more than once.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        // Lambda adds its own timestamps and request ids.
        builder.json().with_current_span(false).without_time().with_target(false).try_init()
    } else {
        builder.compact().try_init()
    };
}
