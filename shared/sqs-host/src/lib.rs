//! The per-record loop every SQS-triggered function shares: handle each
//! message within the invocation's deadline; report in `batchItemFailures`
//! only those to retry; park at once, with the reason, those that can never
//! succeed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_adapters::AwsClients;
use aws_adapters::sqs::{SqsDeadLetters, SqsSourceQueue};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

use domain::errors::chain;
use domain::ports::{Cause, DeadLetters, SourceQueue};
use platform::telemetry::emf::{self, Metric};

/// What the loop does with a record that was not handled. Each worker has
/// its own error type and maps it to this once, in its function's `lib.rs`;
/// the cause travels with it, for the log and the parked record's reason.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Worth another try (throttling, a service unavailable, a lease held
    /// by another worker): the record is reported for redelivery.
    #[error("the record will be retried")]
    Transient(#[source] Cause),
    /// Retrying cannot help (a malformed message, a bucket that is not
    /// ours): the record is parked in the dead-letter queue at once.
    #[error("the record can never succeed")]
    Permanent(#[source] Cause),
}

/// The queues of a worker besides the records it is given.
#[derive(Clone)]
pub struct RecordQueues {
    /// Where its records come from: those it has no time to start go back.
    pub source: Arc<dyn SourceQueue>,
    /// Where records that can never succeed are parked, with the reason.
    pub dead_letters: Arc<dyn DeadLetters>,
}

impl RecordQueues {
    /// The queues in SQS: `source_url` the worker's own, `dead_letter_url`
    /// its dead-letter queue.
    pub fn in_sqs(clients: &AwsClients, source_url: &str, dead_letter_url: &str) -> Self {
        Self {
            source: Arc::new(SqsSourceQueue::new(clients.sqs(), source_url)),
            dead_letters: Arc::new(SqsDeadLetters::new(clients.sqs(), dead_letter_url)),
        }
    }
}

/// When the invocation must have answered, and how long the slowest record
/// may take: a record is started only if it can finish in time.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: Instant,
    pub margin: Duration,
}

impl Deadline {
    /// From the Lambda context's deadline (milliseconds since the epoch).
    pub fn from_epoch_millis(deadline_ms: u64, margin: Duration) -> Self {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        Self { at: Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)), margin }
    }

    fn leaves_room(&self) -> bool {
        Instant::now() + self.margin <= self.at
    }
}

/// An SQS-triggered function's handler, as both hosts drive it: Lambda
/// with the invocation's deadline, the local poller with the template's
/// `Timeout`.
pub trait BatchWorker: Clone + Send + Sync + 'static {
    /// Time the slowest record may take: a record starts only with this
    /// much left before the deadline.
    const RECORD_MARGIN: Duration;

    fn handle_batch(
        &self,
        event: SqsEvent,
        deadline: Option<Deadline>,
    ) -> impl Future<Output = SqsBatchResponse> + Send;
}

/// Serves `worker` as a Lambda function: each invocation's batch, with its
/// deadline. The `main.rs` of both workers is this and their wiring.
pub async fn serve<W: BatchWorker>(worker: W) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(|event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        let deadline = Deadline::from_epoch_millis(event.context.deadline, W::RECORD_MARGIN);
        let span = tracing::info_span!(
            "invocation",
            request_id = %event.context.request_id,
            records = event.payload.records.len(),
            cold_start = platform::telemetry::take_cold_start(),
        );
        async move {
            // The invocation's one line of its own: its request id, batch
            // size and cold start, in the span's fields.
            tracing::info!("invocation");
            Ok::<_, lambda_runtime::Error>(worker.handle_batch(event.payload, Some(deadline)).await)
        }
        .instrument(span)
    }))
    .await
}

/// The span of one record: every line logged while it is handled carries
/// its message id, how often SQS has delivered it, and (once the worker
/// knows) the job it is about.
fn record_span(message: &SqsMessage) -> tracing::Span {
    let receive_count = message.attributes.get("ApproximateReceiveCount").map(String::as_str);
    tracing::info_span!(
        "record",
        message_id = message.message_id.as_deref(),
        receive_count,
        job_id = Empty,
        email_id = Empty,
    )
}

fn failure(message: &SqsMessage) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = message.message_id.clone().unwrap_or_default();
    failure
}

/// Runs `handle` on the records in order while the deadline leaves room;
/// a transient error marks that record (and only it) for redelivery, a
/// permanent one parks it. Records not started for want of time go back to
/// their queue as new messages and are acknowledged: reported for
/// redelivery, each would count a receive, and a record that waits behind
/// long documents batch after batch would be dead-lettered untouched. Only
/// if sending one back fails is it reported for redelivery.
pub async fn each_record<'a, F, Fut>(
    event: &'a SqsEvent,
    deadline: Option<Deadline>,
    queues: &RecordQueues,
    mut handle: F,
) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let mut response = SqsBatchResponse::default();
    for (index, message) in event.records.iter().enumerate() {
        if deadline.is_some_and(|d| !d.leaves_room()) {
            let left = &event.records[index..];
            tracing::info!(records = left.len(), "too little time left for another record; sent back to the queue");
            for message in left {
                let body = message.body.as_deref().unwrap_or_default();
                if let Err(e) = queues.source.send_again(body).instrument(record_span(message)).await {
                    tracing::warn!(error = %e, "could not send a record back; left for redelivery");
                    response.batch_item_failures.push(failure(message));
                }
            }
            emf::emit(&[], &[Metric::count("RecordsSentAgain", left.len() as u64)], &[]);
            break;
        }
        let redeliver = async {
            match handle(message).await {
                Ok(()) => false,
                Err(RecordError::Transient(cause)) => {
                    tracing::warn!(error = chain(cause.as_ref()), "record will be retried");
                    emf::emit(&[], &[Metric::count("RecordsRetried", 1)], &[]);
                    true
                }
                Err(RecordError::Permanent(cause)) => {
                    let why = chain(cause.as_ref());
                    let body = message.body.as_deref().unwrap_or_default();
                    match queues.dead_letters.park(body, &why).await {
                        Ok(()) => {
                            tracing::error!(reason = %why, "record can never succeed; parked in the dead-letter queue");
                            emf::emit(&[], &[Metric::count("RecordsParked", 1)], &[]);
                            false
                        }
                        // If even parking fails, let SQS redeliver (and redrive) it.
                        Err(e) => {
                            tracing::error!(reason = %why, error = %e, "could not park a record; it will be redelivered");
                            true
                        }
                    }
                }
            }
        }
        .instrument(record_span(message))
        .await;
        if redeliver {
            response.batch_item_failures.push(failure(message));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::memory::{MemoryDeadLetters, MemorySourceQueue};
    use std::cell::RefCell;

    fn batch(n: usize) -> SqsEvent {
        let mut event = SqsEvent::default();
        for i in 0..n {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m{i}"));
            message.body = Some(format!("body {i}"));
            event.records.push(message);
        }
        event
    }

    fn queues() -> (RecordQueues, Arc<MemorySourceQueue>, Arc<MemoryDeadLetters>) {
        let (source, parked) = (Arc::new(MemorySourceQueue::default()), Arc::new(MemoryDeadLetters::default()));
        (RecordQueues { source: source.clone(), dead_letters: parked.clone() }, source, parked)
    }

    fn ids(response: &SqsBatchResponse) -> Vec<String> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
    }

    #[tokio::test]
    async fn records_that_cannot_start_in_time_go_back_to_the_queue_untouched_and_count_no_receive() {
        let event = batch(5);
        let (queues, source, parked) = queues();
        let handled = RefCell::new(Vec::new());
        // Each record takes 1 s; 3.5 s are left and the slowest takes 1 s:
        // three start (the third with 1.5 s left), the fourth would find
        // 0.5 s. Real time, with half a second of slack for a busy machine.
        let deadline = Deadline { at: Instant::now() + Duration::from_millis(3500), margin: Duration::from_secs(1) };
        let response = each_record(&event, Some(deadline), &queues, |m| {
            handled.borrow_mut().push(m.message_id.clone().unwrap());
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            }
        })
        .await;
        assert_eq!(*handled.borrow(), ["m0", "m1", "m2"]);
        assert_eq!(source.sent(), ["body 3", "body 4"], "sent back as new messages, once each");
        assert!(ids(&response).is_empty(), "acknowledged: no receive counts against them");
        assert!(parked.parked().is_empty());
        assert!(Instant::now() <= deadline.at);
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_sent_back_is_left_for_redelivery() {
        let event = batch(3);
        let (queues, source, _) = queues();
        source.set_failing(true);
        let deadline = Deadline { at: Instant::now(), margin: Duration::from_secs(1) };
        let response = each_record(&event, Some(deadline), &queues, |_| async { Ok(()) }).await;
        assert_eq!(ids(&response), ["m0", "m1", "m2"]);
    }

    #[tokio::test]
    async fn transient_records_are_retried_and_permanent_ones_parked_with_their_reason() {
        let event = batch(3);
        let (queues, _, parked) = queues();
        let response = each_record(&event, None, &queues, |m| {
            let id = m.message_id.clone().unwrap();
            async move {
                match id.as_str() {
                    "m0" => Err(RecordError::Transient("throttled".into())),
                    "m1" => Err(RecordError::Permanent("not JSON".into())),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(ids(&response), ["m0"]);
        assert_eq!(parked.parked(), [("body 1".to_owned(), "not JSON".to_owned())]);
    }
}
