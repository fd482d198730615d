//! Lambda entry point: wiring only.

use shared::config::{Env, UploadConfig};
use shared::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = UploadConfig::load(&Env::process())?;
    let service = aws::job_service(&config, &aws::AwsClients::from_env().await);
    lambda_http::run(upload::router(upload::UploadState::new(service, config.jwt.token_service()))).await
}
