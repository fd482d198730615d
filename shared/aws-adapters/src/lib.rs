//! The one place that builds AWS clients and wires adapters into services.
//!
//! The SDK honours `AWS_ENDPOINT_URL` (and the per-service variants), which is
//! how the local runner and the tests point everything at an emulator.

use aws_config::{BehaviorVersion, SdkConfig};

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "dynamodb")]
pub mod dynamodb_deliveries;
#[cfg(feature = "dynamodb")]
pub mod dynamodb_jobs;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "secretsmanager")]
pub mod secrets;
#[cfg(feature = "ses")]
pub mod ses;
#[cfg(feature = "sqs")]
pub mod sqs;

/// Builds each service's client on demand from one shared configuration;
/// a client exists only in a build with its service's feature, so a
/// function compiles only the SDKs it names in its `Cargo.toml`.
#[derive(Debug, Clone)]
pub struct AwsClients {
    sdk: SdkConfig,
}

/// Every AWS call is bounded, so that a stalled service gives a clean 503
/// (or a retried record) in seconds instead of a request that hangs until
/// API Gateway's 30 s or the function's timeout cuts it: 2 s to connect,
/// 3 s per attempt, 3 attempts (standard retry mode: throttling and 5xx,
/// with jittered back-off), 8 s in all, inside the API functions' 10 s.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);
pub const MAX_ATTEMPTS: u32 = 3;

impl AwsClients {
    pub async fn from_env() -> Self {
        Self::new(Self::loader().load().await)
    }

    /// The same clients against another endpoint (an emulator, or a test's
    /// stand-in for a service that does not answer).
    pub async fn with_endpoint(endpoint: &str) -> Self {
        Self::new(Self::loader().endpoint_url(endpoint).load().await)
    }

    fn loader() -> aws_config::ConfigLoader {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
    }

    pub fn new(sdk: SdkConfig) -> Self {
        Self { sdk }
    }

    /// The configuration every client is built from (for a test that adds
    /// an interceptor to one client).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    #[cfg(feature = "dynamodb")]
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    #[cfg(feature = "sqs")]
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    #[cfg(feature = "s3")]
    pub fn s3(&self) -> aws_sdk_s3::Client {
        // Emulators serve every bucket on one host: path-style addressing.
        let config =
            aws_sdk_s3::config::Builder::from(&self.sdk).force_path_style(self.sdk.endpoint_url().is_some()).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    #[cfg(feature = "secretsmanager")]
    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    #[cfg(feature = "ses")]
    pub fn ses(&self) -> aws_sdk_ses::Client {
        aws_sdk_ses::Client::new(&self.sdk)
    }
}
