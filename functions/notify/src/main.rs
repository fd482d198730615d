//! Lambda entry point: wiring only.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::config::{Env, NotifyConfig};
use shared::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = NotifyConfig::load(&Env::process())?;
    let (notifier, dead_letters) = aws::notifier(&config, &aws::AwsClients::from_env().await);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (notifier, dead_letters) = (notifier.clone(), dead_letters.clone());
        async move {
            Ok::<_, lambda_runtime::Error>(notify::handle_batch(&notifier, dead_letters.as_ref(), event.payload).await)
        }
    }))
    .await
}
