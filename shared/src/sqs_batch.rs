//! The per-record loop every SQS-triggered function shares: handle each
//! message, and report in `batchItemFailures` only those to retry.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// Runs `handle` on every record in order; an `Err` marks that record (and
/// only it) for redelivery.
pub async fn each_record<'a, F, Fut>(event: &'a SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        if let Err(why) = handle(message).await {
            tracing::warn!(message_id = ?message.message_id, error = %why, "record will be retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}
