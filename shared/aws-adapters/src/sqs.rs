//! SQS adapter for the e-mail queue.

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use domain::email::{EmailJob, EmailQueue};
use domain::ports::QueueError;

async fn send(client: &Client, queue_url: &str, body: String) -> Result<(), QueueError> {
    client
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| QueueError(Box::new(aws_sdk_sqs::Error::from(e))))
}

#[derive(Debug, Clone)]
pub struct SqsEmailQueue {
    client: Client,
    queue_url: String,
}

impl SqsEmailQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl EmailQueue for SqsEmailQueue {
    async fn enqueue(&self, job: &EmailJob) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError(Box::new(e)))?;
        send(&self.client, &self.queue_url, body).await?;
        tracing::info!(email_id = %job.id, template = job.template(), "e-mail job queued");
        Ok(())
    }
}

/// The OCR queue, for handing a document on to the next invocation. The
/// message names the job; the worker tells it from S3's notifications.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl domain::jobs::ports::JobQueue for SqsJobQueue {
    async fn continue_job(&self, owner: &domain::values::UserId, id: &domain::jobs::JobId) -> Result<(), QueueError> {
        let body = domain::jobs::ContinueJob { owner: *owner, job_id: *id }.to_message();
        send(&self.client, &self.queue_url, body).await?;
        tracing::info!(job_id = %id, "job handed on to the next invocation");
        Ok(())
    }
}

/// The e-mail queue's dead-letter queue, written to directly for messages
/// that can never be sent (no point in three redeliveries first).
#[derive(Debug, Clone)]
pub struct SqsSourceQueue {
    client: Client,
    queue_url: String,
}

impl SqsSourceQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl domain::ports::SourceQueue for SqsSourceQueue {
    async fn send_again(&self, body: &str) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError(Box::new(aws_sdk_sqs::Error::from(e))))?;
        Ok(())
    }
}

pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl domain::ports::DeadLetters for SqsDeadLetters {
    async fn park(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        let reason_attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| QueueError(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("failure_reason", reason_attribute)
            .send()
            .await
            .map_err(|e| QueueError(Box::new(aws_sdk_sqs::Error::from(e))))?;
        Ok(())
    }
}
