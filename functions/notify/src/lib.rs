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

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use shared::notify::{DeadLetters, Notifier, NotifyError};

async fn handle_message(
    notifier: &Notifier,
    dead_letters: &dyn DeadLetters,
    message: &SqsMessage,
) -> Result<(), String> {
    let body = message.body.as_deref().unwrap_or_default();
    let outcome = match Notifier::parse(body) {
        Ok(job) => {
            notifier.deliver(&job).await.map(|delivery| tracing::info!(email_id = %job.id, ?delivery, "handled"))
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(()),
        Err(NotifyError::Transient(why)) => Err(why),
        Err(NotifyError::Permanent(why)) => {
            tracing::error!(message_id = ?message.message_id, reason = %why, "e-mail job cannot be sent; parked in the dead-letter queue");
            // If even parking fails, let SQS redeliver (and redrive) it.
            dead_letters.park(body, &why).await.map_err(|e| e.to_string())
        }
    }
}

pub async fn handle_batch(notifier: &Notifier, dead_letters: &dyn DeadLetters, event: SqsEvent) -> SqsBatchResponse {
    shared::sqs_batch::each_record(&event, |message| handle_message(notifier, dead_letters, message)).await
}
