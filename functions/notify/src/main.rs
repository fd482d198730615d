//! Lambda entry point: wiring only.

use aws_adapters::AwsClients;
use platform::config::Env;
use platform::telemetry;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init("notify");
    sqs_host::serve(notify::Worker::from_env(&Env::process(), &AwsClients::from_env().await)?).await
}
