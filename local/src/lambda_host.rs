//! Runs a function's real `bootstrap` binary as Lambda does, against an
//! in-process Lambda Runtime API: the binary polls `/invocation/next`, gets
//! an event, and posts its response or error. No Docker, no cargo-lambda.
//! Also measures the cold start: exec to the first `/invocation/next`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

const API: &str = "/2018-06-01/runtime";

type Outcome = Result<Value, String>;

struct Shared {
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_poll: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.first_poll.lock().await.get_or_insert_with(Instant::now);
    let Some((id, event)) = shared.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = (std::time::SystemTime::now() + Duration::from_secs(60))
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:local".into()),
        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, axum::Json(event)).into_response()
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let outcome = serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"));
    if let Some(waiter) = shared.waiting.lock().await.remove(&id) {
        let _ = waiter.send(outcome);
    }
    StatusCode::ACCEPTED
}

async fn fail(State(shared): State<Arc<Shared>>, UrlPath(id): UrlPath<String>, body: axum::body::Bytes) -> StatusCode {
    if let Some(waiter) = shared.waiting.lock().await.remove(&id) {
        let _ = waiter.send(Err(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> StatusCode {
    *shared.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// One running function process with its Runtime API.
pub struct LambdaProcess {
    shared: Arc<Shared>,
    /// What the function wrote to stdout (its logs and EMF metrics), line
    /// by line.
    stdout: Arc<std::sync::Mutex<Vec<String>>>,
    events: mpsc::Sender<(String, Value)>,
    child: Child,
    started: Instant,
    server: tokio::task::JoinHandle<()>,
    counter: u64,
}

impl LambdaProcess {
    /// Starts `binary` with `env` (plus the variables Lambda sets).
    pub async fn start(binary: &Path, function_name: &str, env: &HashMap<String, String>) -> Result<Self> {
        if !binary.is_file() {
            bail!("{} does not exist: build the functions first (./dev sam-build)", binary.display());
        }
        let (events, receiver) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            events: Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
            first_poll: Mutex::new(None),
            init_error: Mutex::new(None),
        });
        let router = Router::new()
            .route(&format!("{API}/invocation/next"), get(next))
            .route(&format!("{API}/invocation/{{id}}/response"), post(respond))
            .route(&format!("{API}/invocation/{{id}}/error"), post(fail))
            .route(&format!("{API}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function_name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("LAMBDA_HOST_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true);
        for key in ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RTEN_NUM_THREADS"]
        {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let stdout = Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let lines = stdout.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut reader = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
                }
            });
        }
        Ok(Self { shared, stdout, events, child, started, server, counter: 0 })
    }

    /// Waits until the binary first asks for work; returns exec → that.
    pub async fn init_duration(&mut self) -> Result<Duration> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(at) = *self.shared.first_poll.lock().await {
                return Ok(at - self.started);
            }
            if let Some(error) = self.shared.init_error.lock().await.clone() {
                bail!("the function failed to initialise: {error}");
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the function exited during init: {status}");
            }
            if Instant::now() > deadline {
                bail!("the function did not poll for work within 30 s");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// The lines the function has written to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Sends one event and waits for the function's answer.
    pub async fn invoke(&mut self, event: Value) -> Result<Value> {
        self.counter += 1;
        let id = format!("local-{}", self.counter);
        let (sender, receiver) = oneshot::channel();
        self.shared.waiting.lock().await.insert(id.clone(), sender);
        self.events.send((id, event)).await.map_err(|_| anyhow!("the runtime API is gone"))?;
        let outcome = tokio::time::timeout(Duration::from_secs(60), receiver)
            .await
            .context("no answer within 60 s")?
            .context("the runtime API dropped the invocation")?;
        outcome.map_err(|e| anyhow!("the function returned an error: {e}"))
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}
