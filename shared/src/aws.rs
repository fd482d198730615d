//! The one place that builds AWS clients and wires adapters into services.
//!
//! The SDK honours `AWS_ENDPOINT_URL` (and the per-service variants), which is
//! how the local runner and the tests point everything at an emulator.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamodb::DynamoUserStore;
use crate::adapters::sqs::SqsEmailQueue;
use crate::auth::AuthService;
use crate::clock::SystemClock;
use crate::config::AuthConfig;

#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    pub async fn from_env() -> Self {
        Self::new(&aws_config::load_defaults(BehaviorVersion::latest()).await)
    }

    pub fn new(sdk: &SdkConfig) -> Self {
        Self { dynamodb: aws_sdk_dynamodb::Client::new(sdk), sqs: aws_sdk_sqs::Client::new(sdk) }
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
