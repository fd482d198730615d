//! Lambda entry point: wiring only.

use shared::config::{AuthConfig, Env};
use shared::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = AuthConfig::load(&Env::process())?;
    let service = aws::auth_service(&config, &aws::AwsClients::from_env().await);
    lambda_http::run(auth::router(auth::AuthState::new(service))).await
}
