//! The whole system on one machine: resources from template.yaml created on
//! an AWS emulator, every HTTP function's router served on one port, and
//! every queue worker fed by a poller. Used by the `local` binary and by the
//! integration tests, which talk to it as a client would.

pub mod contract;
pub mod lambda_host;
pub mod mail;
pub mod poller;
pub mod sam;
pub mod sent_mail;
pub mod stack;
pub mod template;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use aws_adapters::AwsClients;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::Router;
use contract::Contract;
use imaging::document::PdfReader;
use sqs_host::{BatchWorker, Deadline};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use stack::Stack;
pub use template::Template;

/// The template beside the workspace root.
pub fn default_template_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
}

#[derive(Debug, Clone)]
pub struct Options {
    pub template_path: PathBuf,
    pub stack_name: String,
    pub api_addr: SocketAddr,
    pub parameters: HashMap<String, String>,
    /// Feed the OCR queue to the OCR worker.
    pub run_ocr_worker: bool,
    /// Feed the e-mail queue to the notify worker (the API tests leave it
    /// off and read the queue themselves).
    pub run_notify_worker: bool,
    /// Print, on the console, every e-mail the emulator's SES sends.
    pub print_sent_mail: bool,
    /// At most this many batches in flight per queue worker (default: the
    /// function's `MaximumConcurrency`, capped at the number of cores).
    pub max_pollers: Option<usize>,
    /// A shorter invocation deadline for the queue workers than the
    /// template's `Timeout` (to see a document handed on between
    /// invocations without a document of hundreds of pages).
    pub worker_timeout: Option<std::time::Duration>,
    /// How the functions read PDFs: in confined children of the runner's
    /// own binary (`imaging::document::serve_if_child` in its `main`), or
    /// in process for a test whose binary cannot be its own child.
    pub pdf_reader: PdfReader,
}

/// The sender used locally unless `SenderEmail` is given.
pub const LOCAL_SENDER: &str = "no-reply@serverless-ocr.test";

impl Options {
    /// A stack of its own on an ephemeral port, for one test.
    pub fn for_test() -> Self {
        Self {
            template_path: default_template_path(),
            stack_name: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            parameters: HashMap::new(),
            run_ocr_worker: false,
            run_notify_worker: false,
            print_sent_mail: false,
            max_pollers: None,
            worker_timeout: None,
            // A test binary is not its own child; the tests that have the
            // runner's binary at hand name it (tests/it/common).
            pdf_reader: PdfReader::InProcess,
        }
    }
}

pub struct LocalSystem {
    pub stack: Stack,
    pub clients: AwsClients,
    pub api_url: String,
    /// Every API response is held to `web/openapi.json`; what breaks it is
    /// kept here.
    pub contract: Arc<Contract>,
    /// How its functions read PDFs (see [`Options::pdf_reader`]).
    pub pdf_reader: PdfReader,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Every HTTP function's router, each built by the constructor its Lambda
/// calls, from its own resolved environment.
pub async fn api_router(stack: &Stack, clients: &AwsClients, pdf_reader: PdfReader) -> Result<Router> {
    let auth = auth::AuthState::from_env(&stack.function_env("AuthFunction")?, clients)
        .await
        .map_err(wiring_error("AuthFunction"))?;
    let jobs = jobs_api::JobsApiState::from_env(&stack.function_env("UploadFunction")?, clients, pdf_reader)
        .await
        .map_err(wiring_error("UploadFunction"))?;
    Ok(http_edge::api_layers(Router::new().merge(auth::routes(auth)).merge(jobs_api::routes(jobs))))
}

/// Feeds `worker` from a queue as Lambda's event source would: batches of
/// the function's `BatchSize`, a deadline of its `Timeout` (or the options'
/// `worker_timeout`) from the start of each batch, a batch stopped when it
/// outlives that deadline (its work dropped at its next await; PDF drawing,
/// the one step without bounds of its own, runs in a child with a time
/// limit), and as many batches at once as its `MaximumConcurrency` allows,
/// but no more than this machine has cores (each OCR job keeps one busy).
/// Returns the number of pollers started.
fn feed<W: BatchWorker>(
    tasks: &mut JoinSet<()>,
    stack: &Stack,
    clients: &AwsClients,
    worker: W,
    (queue, function): (&str, &str),
    options: &Options,
    stopped: &watch::Receiver<bool>,
) -> Result<usize> {
    let timeout = options.worker_timeout.unwrap_or_else(|| stack.template().function_timeout(function));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let pollers = stack.sqs_maximum_concurrency(function)?.min(options.max_pollers.unwrap_or(cores)).max(1);
    for _ in 0..pollers {
        let handler = invocation(worker.clone(), function, timeout);
        tasks.spawn(poller::run(clients.sqs(), queue_source(stack, queue, function)?, handler, stopped.clone()));
    }
    Ok(pollers)
}

/// One batch handed to `worker` as Lambda hands it: with a deadline of the
/// function's `timeout`, and stopped at it (Lambda stops an invocation at
/// its Timeout, and the batch's messages come back after their visibility
/// timeout: the poller does not delete them).
fn invocation<W: BatchWorker>(
    worker: W,
    function: &str,
    timeout: std::time::Duration,
) -> impl Fn(SqsEvent) -> std::pin::Pin<Box<dyn Future<Output = Result<SqsBatchResponse, String>> + Send>> + use<W> {
    let function = function.to_owned();
    move |event: SqsEvent| {
        let (worker, function) = (worker.clone(), function.clone());
        let deadline = Deadline { at: tokio::time::Instant::now() + timeout, margin: W::RECORD_MARGIN };
        Box::pin(async move {
            tokio::time::timeout(timeout, worker.handle_batch(event, Some(deadline))).await.map_err(|_| {
                format!("the batch outlived {function}'s Timeout of {} s and was stopped", timeout.as_secs_f32())
            })
        })
    }
}

fn wiring_error(function: &str) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!(e).context(format!("{function} wiring"))
}

/// The queue that feeds `function`, batched as its event source batches.
fn queue_source(stack: &Stack, logical_id: &str, function: &str) -> Result<poller::QueueSource> {
    Ok(poller::QueueSource {
        name: logical_id.into(),
        url: stack.reference(logical_id)?.to_owned(),
        arn: stack.attribute(logical_id, "Arn")?.to_owned(),
        batch_size: stack.template().sqs_batch_size(function),
    })
}

impl LocalSystem {
    /// Provisions the stack (the emulator is found through AWS_ENDPOINT_URL),
    /// binds the API and starts the workers.
    pub async fn start(options: Options) -> Result<Self> {
        let clients = AwsClients::from_env().await;
        let template = Template::load(&options.template_path)?;
        let mut parameters = options.parameters.clone();
        parameters.entry("SenderEmail".into()).or_insert_with(|| LOCAL_SENDER.into());
        let stack = Stack::provision(template, &options.stack_name, &parameters, &clients)
            .await
            .context("creating the template's resources on the emulator")?;
        let contract = Arc::new(Contract::served());
        let router = api_router(&stack, &clients, options.pdf_reader)
            .await?
            .layer(axum::middleware::from_fn_with_state(contract.clone(), contract::check_responses));
        let listener = tokio::net::TcpListener::bind(options.api_addr).await.with_context(|| {
            format!("cannot listen on {} (is the port taken? choose another with --port)", options.api_addr)
        })?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let (shutdown, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut api_stopped = stopped.clone();
        tasks.spawn(async move {
            // The peer address stands in for API Gateway's sourceIp.
            let app = router.into_make_service_with_connect_info::<SocketAddr>();
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = api_stopped.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the API server stopped");
            }
        });
        if options.run_notify_worker {
            let worker = notify::Worker::from_env(&stack.function_env("NotifyFunction")?, &clients)
                .context("NotifyFunction configuration")?;
            let pollers =
                feed(&mut tasks, &stack, &clients, worker, ("EmailQueue", "NotifyFunction"), &options, &stopped)?;
            tracing::info!(pollers, "notify worker started");
        }
        if options.print_sent_mail {
            let endpoint = std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL names the emulator")?;
            tasks.spawn(mail::print_sent_mail(endpoint, stopped.clone()));
        }
        let pdf_reader = options.pdf_reader;
        let mut system = Self { stack, clients, api_url, contract, pdf_reader, shutdown, tasks };
        if options.run_ocr_worker {
            system.start_ocr_worker(&options)?;
        }
        Ok(system)
    }

    /// Feeds the OCR queue to the OCR worker (`start` does when
    /// `run_ocr_worker` is set; a test that wants the queue filled first
    /// calls it later).
    pub fn start_ocr_worker(&mut self, options: &Options) -> Result<()> {
        let env = self.stack.function_env("OcrFunction")?;
        let worker = ocr_worker::Worker::from_env(&env, &self.clients, options.pdf_reader)
            .map_err(wiring_error("OcrFunction"))?;
        let stopped = self.shutdown.subscribe();
        let queue = ("OcrJobsQueue", "OcrFunction");
        let pollers = feed(&mut self.tasks, &self.stack, &self.clients, worker, queue, options, &stopped)?;
        tracing::info!(pollers, "OCR worker started");
        Ok(())
    }

    /// The token-signing key and settings, read as the functions read them.
    pub async fn jwt(&self) -> Result<(platform::config::JwtConfig, platform::config::JwtSecret)> {
        let config = platform::config::JwtConfig::load(&self.stack.function_env("AuthFunction")?)?;
        let secret = platform::config::JwtSecret::new(
            aws_adapters::secrets::secret_string(&self.clients, &config.secret_id).await?,
        )?;
        Ok((config, secret))
    }

    /// An account made directly in the users table, and a token for it: for
    /// benches, which measure the pipeline rather than sign-up.
    pub async fn direct_account(&self, email: &str) -> Result<(domain::values::UserId, String)> {
        use domain::auth::ports::UserStore;
        let now = time::OffsetDateTime::now_utc();
        let user = domain::user::User {
            id: domain::values::UserId::new(),
            email: domain::values::Email::parse(email)?,
            name: domain::values::PersonName::parse("Bench")?,
            password_hash: String::new(),
            created_at: now,
            credentials_version: 1,
            version: 1,
        };
        let users =
            aws_adapters::dynamodb::DynamoUserStore::new(self.clients.dynamodb(), self.stack.reference("UsersTable")?);
        users.create_user(&user).await?;
        let (jwt, secret) = self.jwt().await?;
        let token = secret.token_service(&jwt).issue(&user, now)?.access_token;
        Ok((user.id, token))
    }

    /// Stops the API and the workers, letting in-flight work finish.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker that takes `0` to answer.
    #[derive(Clone)]
    struct Slow(std::time::Duration);

    impl BatchWorker for Slow {
        const RECORD_MARGIN: std::time::Duration = std::time::Duration::ZERO;

        async fn handle_batch(&self, _: SqsEvent, _: Option<Deadline>) -> SqsBatchResponse {
            tokio::time::sleep(self.0).await;
            SqsBatchResponse::default()
        }
    }

    #[tokio::test]
    async fn a_batch_that_outlives_the_functions_timeout_is_stopped_as_lambda_stops_it() {
        let timeout = std::time::Duration::from_millis(200);
        let started = std::time::Instant::now();
        let stopped =
            invocation(Slow(std::time::Duration::from_secs(30)), "OcrFunction", timeout)(SqsEvent::default()).await;
        let took = started.elapsed();
        assert_eq!(stopped.unwrap_err(), "the batch outlived OcrFunction's Timeout of 0.2 s and was stopped");
        assert!(took < std::time::Duration::from_secs(5), "stopped at its Timeout, not when it was done: {took:?}");
        let quick = invocation(Slow(std::time::Duration::ZERO), "OcrFunction", timeout)(SqsEvent::default()).await;
        assert!(quick.is_ok());
    }
}
