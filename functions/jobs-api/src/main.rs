//! Lambda entry point: wiring only.

use shared::aws::AwsClients;
use shared::config::Env;
use shared::telemetry;

fn main() -> Result<(), lambda_http::Error> {
    // PDFs are opened in children of this program.
    shared::imaging::sandbox::serve_if_child();
    serve()
}

#[tokio::main]
async fn serve() -> Result<(), lambda_http::Error> {
    telemetry::init("jobs-api");
    let state = jobs_api::JobsApiState::from_env(&Env::process(), &AwsClients::from_env().await).await?;
    lambda_http::run(jobs_api::router(state)).await
}
