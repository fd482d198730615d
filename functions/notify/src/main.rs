//! Lambda entry point: wiring only.

use shared::aws::AwsClients;
use shared::config::Env;
use shared::{sqs_batch, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init("notify");
    sqs_batch::serve(notify::Worker::from_env(&Env::process(), &AwsClients::from_env().await)?).await
}
