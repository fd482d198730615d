//! The one place that builds AWS clients and wires adapters into services.
//!
//! The SDK honours `AWS_ENDPOINT_URL` (and the per-service variants), which is
//! how the local runner and the tests point everything at an emulator.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::account_content::JobsOfAccount;
use crate::adapters::dynamodb::DynamoUserStore;
use crate::adapters::dynamodb_deliveries::DynamoDeliveryLog;
use crate::adapters::dynamodb_jobs::DynamoJobStore;
use crate::adapters::s3::S3BlobStore;
use crate::adapters::ses::SesMailer;
use crate::adapters::sqs::{SqsDeadLetters, SqsSourceQueue};
use crate::adapters::sqs::{SqsEmailQueue, SqsJobQueue};
use crate::auth::{AccessGuard, AuthPorts, AuthService};
use crate::clock::SystemClock;
use crate::config::{AuthConfig, ConfigError, JobsApiConfig, JwtConfig, JwtSecret, NotifyConfig, OcrConfig};
use crate::jobs::ports::TextRecognizer;
use crate::jobs::{JobProcessor, JobService};
use crate::notify::Notifier;
use crate::sqs_batch::RecordQueues;

/// Builds each service's client on demand from one shared configuration, so
/// a function's binary links (after LTO) only the SDKs it actually uses.
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

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        // Emulators serve every bucket on one host: path-style addressing.
        let config =
            aws_sdk_s3::config::Builder::from(&self.sdk).force_path_style(self.sdk.endpoint_url().is_some()).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    pub fn ses(&self) -> aws_sdk_ses::Client {
        aws_sdk_ses::Client::new(&self.sdk)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the secret {id} from Secrets Manager")]
    Unreadable {
        id: String,
        #[source]
        source: aws_sdk_secretsmanager::Error,
    },
    #[error("the secret {0} holds no SecretString")]
    Empty(String),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Reads the token-signing key; called once per container, at init.
pub async fn jwt_secret(config: &JwtConfig, clients: &AwsClients) -> Result<JwtSecret, SecretError> {
    let out = clients
        .secrets_manager()
        .get_secret_value()
        .secret_id(&config.secret_id)
        .send()
        .await
        .map_err(|e| SecretError::Unreadable { id: config.secret_id.clone(), source: e.into() })?;
    let value = out.secret_string.ok_or_else(|| SecretError::Empty(config.secret_id.clone()))?;
    Ok(JwtSecret::new(value)?)
}

pub fn auth_service(config: &AuthConfig, secret: &JwtSecret, clients: &AwsClients) -> Arc<AuthService> {
    let users = Arc::new(DynamoUserStore::new(clients.dynamodb(), &config.users_table));
    let jobs = Arc::new(DynamoJobStore::new(clients.dynamodb(), &config.jobs_table));
    let content =
        JobsOfAccount::new(jobs.clone(), jobs, Arc::new(S3BlobStore::new(clients.s3(), &config.uploads_bucket)));
    let ports = AuthPorts {
        users: users.clone(),
        records: users,
        emails: Arc::new(SqsEmailQueue::new(clients.sqs(), &config.email_queue_url)),
        content: Arc::new(content),
        clock: Arc::new(SystemClock),
    };
    Arc::new(AuthService::new(ports, secret.token_service(&config.jwt), secret.code_key()))
}

/// The token check of every protected route outside the auth function.
pub fn access_guard(users_table: &str, jwt: &JwtConfig, secret: &JwtSecret, clients: &AwsClients) -> AccessGuard {
    AccessGuard::new(secret.token_service(jwt), Arc::new(DynamoUserStore::new(clients.dynamodb(), users_table)))
}

pub fn job_service(config: &JobsApiConfig, clients: &AwsClients) -> Arc<JobService> {
    let jobs = Arc::new(DynamoJobStore::new(clients.dynamodb(), &config.jobs_table));
    Arc::new(JobService::new(
        jobs.clone(),
        jobs,
        Arc::new(S3BlobStore::new(clients.s3(), &config.uploads_bucket)),
        Arc::new(DynamoUserStore::new(clients.dynamodb(), &config.users_table)),
        Arc::new(SystemClock),
        config.limits,
    ))
}

pub fn job_processor(
    config: &OcrConfig,
    clients: &AwsClients,
    recognizer: Arc<dyn TextRecognizer>,
) -> Arc<JobProcessor> {
    Arc::new(JobProcessor::new(
        Arc::new(DynamoJobStore::new(clients.dynamodb(), &config.jobs_table)),
        Arc::new(S3BlobStore::new(clients.s3(), &config.uploads_bucket)),
        Arc::new(SqsEmailQueue::new(clients.sqs(), &config.email_queue_url)),
        Arc::new(SqsJobQueue::new(clients.sqs(), &config.ocr_queue_url)),
        recognizer,
        Arc::new(SystemClock),
        config.limits,
    ))
}

/// A worker's queues: the one its records come from (records it had no
/// time for go back there) and the one it parks those that can never
/// succeed in.
pub fn record_queues(clients: &AwsClients, source_url: &str, dead_letter_url: &str) -> RecordQueues {
    RecordQueues {
        source: Arc::new(SqsSourceQueue::new(clients.sqs(), source_url)),
        dead_letters: Arc::new(SqsDeadLetters::new(clients.sqs(), dead_letter_url)),
    }
}

/// How long a claimed e-mail is left to its worker before another may send
/// it: well over the notify function's timeout.
pub const EMAIL_CLAIM_LEASE: time::Duration = time::Duration::minutes(2);

pub fn notifier(config: &NotifyConfig, clients: &AwsClients) -> (Arc<Notifier>, RecordQueues) {
    let notifier = Notifier::new(
        Arc::new(SesMailer::new(clients.ses(), config.sender.clone())),
        Arc::new(DynamoDeliveryLog::new(clients.dynamodb(), &config.sent_emails_table)),
        Arc::new(SystemClock),
        EMAIL_CLAIM_LEASE,
    );
    (Arc::new(notifier), record_queues(clients, &config.queue_url, &config.dead_letter_queue_url))
}
