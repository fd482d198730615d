//! The one place that builds AWS clients and wires adapters into services.
//!
//! The SDK honours `AWS_ENDPOINT_URL` (and the per-service variants), which is
//! how the local runner and the tests point everything at an emulator.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamodb::DynamoUserStore;
use crate::adapters::dynamodb_deliveries::DynamoDeliveryLog;
use crate::adapters::dynamodb_jobs::DynamoJobStore;
use crate::adapters::s3::S3BlobStore;
use crate::adapters::ses::SesMailer;
use crate::adapters::sqs::SqsDeadLetters;
use crate::adapters::sqs::SqsEmailQueue;
use crate::auth::AuthService;
use crate::clock::SystemClock;
use crate::config::{AuthConfig, NotifyConfig, OcrConfig, UploadConfig};
use crate::jobs::{JobProcessor, JobService};
use crate::notify::Notifier;
use crate::ports::TextRecognizer;

#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub ses: aws_sdk_ses::Client,
}

impl AwsClients {
    pub async fn from_env() -> Self {
        Self::new(&aws_config::load_defaults(BehaviorVersion::latest()).await)
    }

    pub fn new(sdk: &SdkConfig) -> Self {
        // Emulators serve every bucket on one host: path-style addressing.
        let s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            ses: aws_sdk_ses::Client::new(sdk),
        }
    }
}

pub fn auth_service(config: &AuthConfig, clients: &AwsClients) -> Arc<AuthService> {
    Arc::new(AuthService::new(
        Arc::new(DynamoUserStore::new(clients.dynamodb.clone(), &config.users_table)),
        Arc::new(SqsEmailQueue::new(clients.sqs.clone(), &config.email_queue_url)),
        config.jwt.token_service(),
        Arc::new(SystemClock),
        config.jwt.code_key(),
    ))
}

pub fn job_service(config: &UploadConfig, clients: &AwsClients) -> Arc<JobService> {
    Arc::new(JobService::new(
        Arc::new(DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table)),
        Arc::new(S3BlobStore::new(clients.s3.clone(), &config.uploads_bucket)),
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
        Arc::new(DynamoJobStore::new(clients.dynamodb.clone(), &config.jobs_table)),
        Arc::new(S3BlobStore::new(clients.s3.clone(), &config.uploads_bucket)),
        Arc::new(SqsEmailQueue::new(clients.sqs.clone(), &config.email_queue_url)),
        recognizer,
        Arc::new(SystemClock),
        config.limits,
    ))
}

/// How long a claimed e-mail is left to its worker before another may send
/// it: well over the notify function's timeout.
pub const EMAIL_CLAIM_LEASE: time::Duration = time::Duration::minutes(2);

pub fn notifier(config: &NotifyConfig, clients: &AwsClients) -> (Arc<Notifier>, Arc<SqsDeadLetters>) {
    let notifier = Notifier::new(
        Arc::new(SesMailer::new(clients.ses.clone(), config.sender.clone())),
        Arc::new(DynamoDeliveryLog::new(clients.dynamodb.clone(), &config.sent_emails_table)),
        Arc::new(SystemClock),
        EMAIL_CLAIM_LEASE,
    );
    (Arc::new(notifier), Arc::new(SqsDeadLetters::new(clients.sqs.clone(), &config.dead_letter_queue_url)))
}
