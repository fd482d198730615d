//! The notify worker: an SQS batch of e-mail jobs in, e-mails out through
//! the mailer, a `batchItemFailures` response back.
//!
//! - sent, or already sent before (same job id): acknowledged;
//! - transient trouble (throttling, SES or DynamoDB unavailable): reported,
//!   so only that record is retried, and after 3 receives SQS moves it to
//!   the dead-letter queue;
//! - permanent trouble (not an e-mail job, unknown template, recipient
//!   rejected): parked at once in the dead-letter queue with the reason as
//!   the `failure_reason` attribute, logged with the message id, and
//!   acknowledged. Nothing is dropped silently.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use shared::aws::{self, AwsClients};
use shared::config::{Env, NotifyConfig};
use shared::notify::{Delivery, Notifier, NotifyError};
use shared::sqs_batch::{self, BatchWorker, Deadline, RecordError, RecordQueues};
use shared::telemetry::emf::{self, Metric};

#[derive(Clone)]
pub struct Worker {
    notifier: Arc<Notifier>,
    queues: RecordQueues,
}

impl Worker {
    pub fn new(notifier: Arc<Notifier>, queues: RecordQueues) -> Self {
        Self { notifier, queues }
    }

    /// The function's wiring, for the Lambda and the local runner alike.
    pub fn from_env(env: &Env, clients: &AwsClients) -> Result<Self, shared::config::ConfigError> {
        let (notifier, queues) = aws::notifier(&NotifyConfig::load(env)?, clients);
        Ok(Self::new(notifier, queues))
    }

    async fn handle_message(&self, message: &SqsMessage) -> Result<(), NotifyError> {
        let job = Notifier::parse(message.body.as_deref().unwrap_or_default())?;
        let span = tracing::Span::current();
        span.record("email_id", tracing::field::display(&job.id));
        if let Some(ocr_job) = job.job_id() {
            shared::telemetry::record_job(&ocr_job);
        }
        let delivery = self.notifier.deliver(&job).await?;
        tracing::info!(template = job.template(), ?delivery, "e-mail handled");
        let metric = match delivery {
            Delivery::Sent => "EmailsSent",
            Delivery::Duplicate => "EmailsDuplicate",
        };
        emf::emit(&[], &[Metric::count(metric, 1)], &[]);
        Ok(())
    }
}

impl BatchWorker for Worker {
    /// An SES call and two DynamoDB writes, each bounded by the clients'
    /// operation timeout.
    const RECORD_MARGIN: Duration = Duration::from_secs(8);

    /// Handles the records that fit before `deadline`.
    async fn handle_batch(&self, event: SqsEvent, deadline: Option<Deadline>) -> SqsBatchResponse {
        sqs_batch::each_record(&event, deadline, &self.queues, |m| async {
            self.handle_message(m).await.map_err(record_error)
        })
        .await
    }
}

/// The one place a delivery's failure becomes the loop's decision: park
/// what can never be sent, retry the rest.
fn record_error(error: NotifyError) -> RecordError {
    if error.is_permanent() { RecordError::Permanent(error.into()) } else { RecordError::Transient(error.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_can_never_be_sent_is_parked_with_its_reason_the_rest_retried() {
        let parked = record_error(NotifyError::Rejected("address on the suppression list".into()));
        let RecordError::Permanent(cause) = parked else { panic!("a rejected recipient is never retried") };
        assert_eq!(
            shared::errors::chain(cause.as_ref()),
            "the mail service rejected it: address on the suppression list"
        );
        let malformed = Notifier::parse("{").unwrap_err();
        assert!(matches!(record_error(malformed), RecordError::Permanent(_)));
        let down = NotifyError::Log(shared::ports::StoreError::Unavailable("throttled".into()));
        assert!(matches!(record_error(down), RecordError::Transient(_)));
    }
}
