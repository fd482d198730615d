//! Lambda entry point: wiring only. The models load once per container.

use shared::aws::AwsClients;
use shared::config::Env;
use shared::{sqs_batch, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init("ocr");
    sqs_batch::serve(ocr::Worker::from_env(&Env::process(), &AwsClients::from_env().await)?).await
}
