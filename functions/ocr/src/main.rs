//! Lambda entry point: wiring only. The models load once per container.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use ocr::engine::FastEngine;
use shared::config::{Env, OcrConfig};
use shared::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = OcrConfig::load(&Env::process())?;
    let recognizer = Arc::new(FastEngine::load(config.models_dir.as_deref())?);
    let processor = aws::job_processor(&config, &aws::AwsClients::from_env().await, recognizer);
    lambda_runtime::run(service_fn(|event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
        let processor = processor.clone();
        async move { Ok::<_, lambda_runtime::Error>(ocr::handle_batch(&processor, event.payload).await) }
    }))
    .await
}
