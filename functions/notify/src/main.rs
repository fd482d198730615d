//! Lambda entry point: wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::aws::AwsClients;
use shared::config::Env;
use shared::sqs_batch::Deadline;
use shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let worker = notify::Worker::from_env(&Env::process(), &AwsClients::from_env().await)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        let deadline = Deadline::from_epoch_millis(event.context.deadline, notify::RECORD_MARGIN);
        async move { Ok::<_, lambda_runtime::Error>(worker.handle_batch(event.payload, Some(deadline)).await) }
    }))
    .await
}
