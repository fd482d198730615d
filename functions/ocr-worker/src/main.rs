//! Lambda entry point: wiring only. The models load once per container.

use shared::aws::AwsClients;
use shared::config::Env;
use shared::{errors, sqs_batch, telemetry};

fn main() -> Result<(), lambda_runtime::Error> {
    // PDFs are opened and drawn in children of this program.
    shared::imaging::sandbox::serve_if_child();
    serve()
}

#[tokio::main]
async fn serve() -> Result<(), lambda_runtime::Error> {
    telemetry::init("ocr");
    // A failed start (the engine's self-check above all) is logged as one
    // JSON line with its causes; the exit makes it Lambda's init error.
    let worker = ocr_worker::Worker::from_env(&Env::process(), &AwsClients::from_env().await)
        .inspect_err(|e| tracing::error!(error = errors::chain(e.as_ref()), "the OCR function cannot start"))?;
    sqs_batch::serve(worker).await
}
