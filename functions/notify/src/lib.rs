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

use aws_adapters::AwsClients;
use aws_adapters::dynamodb_deliveries::DynamoDeliveryLog;
use aws_adapters::ses::SesMailer;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::clock::SystemClock;
use domain::notify::{Delivery, Notifier, NotifyError};
use platform::config::{ConfigError, Env, NotifyConfig};
use platform::telemetry::emf::{self, Metric};
use sqs_host::{BatchWorker, Deadline, RecordError, RecordQueues};

/// How long a claimed e-mail is left to its worker before another may send
/// it: well over the function's timeout.
pub const EMAIL_CLAIM_LEASE: time::Duration = time::Duration::minutes(2);

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
    pub fn from_env(env: &Env, clients: &AwsClients) -> Result<Self, ConfigError> {
        let config = NotifyConfig::load(env)?;
        let notifier = Notifier::new(
            Arc::new(SesMailer::new(clients.ses(), config.sender.clone())),
            Arc::new(DynamoDeliveryLog::new(clients.dynamodb(), &config.sent_emails_table)),
            Arc::new(SystemClock),
            EMAIL_CLAIM_LEASE,
        );
        let queues = RecordQueues::in_sqs(clients, &config.queue_url, &config.dead_letter_queue_url);
        Ok(Self::new(Arc::new(notifier), queues))
    }

    async fn handle_message(&self, message: &SqsMessage) -> Result<(), NotifyError> {
        let job = Notifier::parse(message.body.as_deref().unwrap_or_default())?;
        let span = tracing::Span::current();
        span.record("email_id", tracing::field::display(&job.id));
        if let Some(ocr_job) = job.job_id() {
            platform::telemetry::record_job(&ocr_job);
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
        sqs_host::each_record(&event, deadline, &self.queues, |m| async {
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
            domain::errors::chain(cause.as_ref()),
            "the mail service rejected it: address on the suppression list"
        );
        let malformed = Notifier::parse("{").unwrap_err();
        assert!(matches!(record_error(malformed), RecordError::Permanent(_)));
        let down = NotifyError::Log(domain::ports::StoreError::Unavailable("throttled".into()));
        assert!(matches!(record_error(down), RecordError::Transient(_)));
    }
}
