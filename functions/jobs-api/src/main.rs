//! Lambda entry point: wiring only.

use aws_adapters::AwsClients;
use platform::config::Env;
use platform::telemetry;

fn main() -> Result<(), lambda_http::Error> {
    // PDFs are opened in children of this program.
    let pdf_reader = imaging::document::serve_if_child();
    serve(pdf_reader)
}

#[tokio::main]
async fn serve(pdf_reader: imaging::document::PdfReader) -> Result<(), lambda_http::Error> {
    telemetry::init("jobs-api");
    let state = jobs_api::JobsApiState::from_env(&Env::process(), &AwsClients::from_env().await, pdf_reader).await?;
    lambda_http::run(jobs_api::router(state)).await
}
