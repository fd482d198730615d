//! Lambda entry point: wiring only. The models load once per container.

use aws_adapters::AwsClients;
use domain::errors;
use platform::config::Env;
use platform::telemetry;

fn main() -> Result<(), lambda_runtime::Error> {
    // PDFs are opened and drawn in children of this program.
    let pdf_reader = imaging::document::serve_if_child();
    serve(pdf_reader)
}

#[tokio::main]
async fn serve(pdf_reader: imaging::document::PdfReader) -> Result<(), lambda_runtime::Error> {
    telemetry::init("ocr");
    // A failed start (the engine's self-check above all) is logged as one
    // JSON line with its causes; the exit makes it Lambda's init error.
    let worker = ocr_worker::Worker::from_env(&Env::process(), &AwsClients::from_env().await, pdf_reader)
        .inspect_err(|e| tracing::error!(error = errors::chain(e.as_ref()), "the OCR function cannot start"))?;
    sqs_host::serve(worker).await
}
