//! Feeds an SQS queue to a worker the way Lambda's event source mapping does:
//! batches of up to the function's `BatchSize` as an `SqsEvent`, deleting only the messages the
//! worker did not report in `batchItemFailures`; the rest reappear after the
//! visibility timeout and, past maxReceiveCount, go to the dead-letter queue.

use std::collections::HashMap;
use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use tokio::sync::watch;

use crate::stack::REGION;

pub struct QueueSource {
    pub name: String,
    pub url: String,
    pub arn: String,
    /// Records per batch, as the function's event source takes them.
    pub batch_size: i32,
}

fn to_lambda_message(message: Message, source: &QueueSource) -> SqsMessage {
    let mut out = SqsMessage::default();
    out.message_id = message.message_id;
    out.receipt_handle = message.receipt_handle;
    out.body = message.body;
    out.md5_of_body = message.md5_of_body;
    out.attributes = message
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect::<HashMap<_, _>>();
    out.event_source = Some("aws:sqs".into());
    out.event_source_arn = Some(source.arn.clone());
    out.aws_region = Some(REGION.into());
    out
}

/// Polls until `shutdown` turns true. A handler error fails the whole batch,
/// as an error returned by a Lambda function does.
pub async fn run<H, F>(client: Client, source: QueueSource, handler: H, mut shutdown: watch::Receiver<bool>)
where
    H: Fn(SqsEvent) -> F,
    F: Future<Output = Result<SqsBatchResponse, String>>,
{
    loop {
        let receive = client
            .receive_message()
            .queue_url(&source.url)
            .max_number_of_messages(source.batch_size)
            .wait_time_seconds(2)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send();
        let received = tokio::select! {
            _ = shutdown.changed() => return,
            received = receive => received,
        };
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(queue = %source.name, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive failed");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = messages.into_iter().map(|m| to_lambda_message(m, &source)).collect();
        let receipts: Vec<(String, String)> =
            event.records.iter().filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?))).collect();
        let failed: Vec<String> = match handler(event).await {
            Ok(response) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
            Err(e) => {
                tracing::error!(queue = %source.name, error = %e, "worker failed the whole batch");
                continue;
            }
        };
        let entries: Vec<_> = receipts
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .filter_map(|(id, handle)| {
                DeleteMessageBatchRequestEntry::builder().id(id).receipt_handle(handle).build().ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        if let Err(e) = client.delete_message_batch().queue_url(&source.url).set_entries(Some(entries)).send().await {
            tracing::warn!(queue = %source.name, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed; messages will be redelivered");
        }
    }
}
