//! Lambda entry point: wiring only.

use aws_adapters::AwsClients;
use platform::config::Env;
use platform::telemetry;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init("auth");
    let state = auth::AuthState::from_env(&Env::process(), &AwsClients::from_env().await).await?;
    lambda_http::run(auth::router(state)).await
}
