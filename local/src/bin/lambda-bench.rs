//! Packaging figures for each function: zip size, cold start (exec of the
//! deployed binary (cargo lambda build) to its first `/runtime/invocation/next`), and the first
//! invocation's duration, over fresh processes against the emulator.
//!
//!   ./dev lambda-bench [--runs 10]
//!
//! A bench, not a test: it reports, it asserts nothing.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use local::lambda_host::LambdaProcess;
use local::{LocalSystem, Options};
use serde_json::Value;

/// The deployed artifact: what `cargo lambda build --release` (run by
/// `./dev sam-build`, as by `sam build`) makes.
fn deployed_binary(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/lambda")).join(name).join("bootstrap")
}

fn event(name: &str) -> Result<String> {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).with_context(|| path)
}

/// The binary zipped as `bootstrap`, deflated, as Lambda receives it.
fn zip_size(binary: &PathBuf) -> Result<u64> {
    let bytes = std::fs::read(binary).with_context(|| format!("{} (build with ./dev sam-build)", binary.display()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(&bytes)?;
    zip.finish()?;
    Ok(out.into_inner().len() as u64)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

struct Figures {
    function: &'static str,
    zip_bytes: u64,
    binary_bytes: u64,
    init: Vec<Duration>,
    first_invocation: Vec<Duration>,
}

async fn measure<F>(
    system: &LocalSystem,
    function: &'static str,
    logical_id: &str,
    runs: usize,
    mut next_event: F,
) -> Result<Figures>
where
    F: AsyncFnMut() -> Result<Value>,
{
    let binary = deployed_binary(function);
    let env = system.stack.function_env_vars(logical_id)?;
    let (mut init, mut first_invocation) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let event = next_event().await?;
        let mut process = LambdaProcess::start(&binary, logical_id, &env).await?;
        init.push(process.init_duration().await?);
        let started = Instant::now();
        let response = process.invoke(event).await?;
        first_invocation.push(started.elapsed());
        if response.get("batchItemFailures").and_then(Value::as_array).is_some_and(|f| !f.is_empty()) {
            bail!("{function}: the invocation reported failures: {response}");
        }
    }
    Ok(Figures {
        function,
        zip_bytes: zip_size(&binary)?,
        binary_bytes: std::fs::metadata(&binary)?.len(),
        init,
        first_invocation,
    })
}

/// The deployed binaries (cargo lambda's build) started as Lambda starts
/// them: cold start, first and warm invocations of each function (run
/// through ./dev lambda-bench, which builds them and starts the emulator).
#[derive(Parser)]
#[command(name = "lambda-bench")]
struct Args {
    /// Starts of each function measured.
    #[arg(long, default_value_t = 10)]
    runs: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let runs = Args::parse().runs;
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        bail!("AWS_ENDPOINT_URL is not set: run ./dev lambda-bench");
    }
    let system = LocalSystem::start(Options::for_test()).await?;
    let http = reqwest::Client::new();

    // An account for the upload function's token check, made directly.
    let (owner, token) = system.direct_account("bench@example.org").await?;
    let image = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-fixtures/sans-20px.png")).or_else(
        |_| -> Result<Vec<u8>> {
            let font = test_kit::load_font("DejaVuSans.ttf")?;
            let lines = ["Invoice 2026-117 was paid on 14 March.", "Please send the signed copy"];
            Ok(test_kit::paragraph("bench", &font, 20.0, &lines).png())
        },
    )?;
    let bucket = system.stack.reference("UploadsBucket")?.to_owned();

    let login = event("auth-login.json")?;
    let list = event("upload-list-jobs.json")?.replace("REPLACE_WITH_ACCESS_TOKEN", &token);
    let notification = event("ocr-s3-notification.json")?;
    let emails = event("notify-email-jobs.json")?;

    let mut all = Vec::new();
    let mut run = 0u32;
    all.push(
        measure(&system, "auth", "AuthFunction", runs, async || {
            // A fresh address and source each run: the same ones would be
            // locked out after five failures and answer without hashing.
            run += 1;
            let body = login
                .replace("ada@example.org", &format!("bench-{}@example.org", uuid::Uuid::new_v4().simple()))
                .replace("203.0.113.7", &format!("198.51.100.{}", run % 250));
            Ok(serde_json::from_str(&body)?)
        })
        .await?,
    );
    all.push(measure(&system, "jobs-api", "UploadFunction", runs, async || Ok(serde_json::from_str(&list)?)).await?);
    all.push(
        measure(&system, "ocr-worker", "OcrFunction", runs, async || {
            // A fresh job each time, so every run really reads an image.
            let response: Value = http
                .post(format!("{}/ocr", system.api_url))
                .bearer_auth(&token)
                .header("content-type", "image/png")
                .body(image.clone())
                .send()
                .await?
                .json()
                .await?;
            let job = response["job_id"].as_str().context("upload refused")?.to_owned();
            let body = notification
                .replace("serverless-ocr-uploadsbucket", &bucket)
                .replace("01a201b1-ceeb-7214-9130-1e561c970362", &owner.to_string())
                .replace("01a201dc-18a3-74f2-9aa9-8f59abc3ece1", &job);
            Ok(serde_json::from_str(&body)?)
        })
        .await?,
    );
    all.push(
        measure(&system, "notify", "NotifyFunction", runs, async || {
            // Fresh e-mail ids, or the delivery log would (rightly) skip them.
            let mut body = emails.clone();
            for old in [
                "3f9a7c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b",
                "3f9a7c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6c",
                "3f9a7c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6d",
            ] {
                body = body.replace(old, &uuid::Uuid::new_v4().to_string());
            }
            Ok(serde_json::from_str(&body)?)
        })
        .await?,
    );

    let targets: HashMap<&str, (f64, f64)> = HashMap::from([
        ("auth", (3.0, 15.0)),
        ("jobs-api", (3.0, 15.0)),
        ("notify", (3.0, 15.0)),
        ("ocr-worker", (14.0, 40.0)),
    ]);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{runs} fresh processes per function; x86_64 cargo lambda build --release artifacts (LTO, codegen-units 1, stripped; glibc ≤ 2.34)\n"
    );
    println!(
        "| function | zip MB | binary MB | cold start (exec → first /next) median ms | min–max ms | first invocation median ms | targets (zip MB / init ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for f in &all {
        let (zip_target, init_target) = targets[f.function];
        let (min, max) =
            (f.init.iter().min().copied().unwrap_or_default(), f.init.iter().max().copied().unwrap_or_default());
        println!(
            "| {} | {:.2} | {:.2} | {:.1} | {:.1}–{:.1} | {:.0} | ≤ {zip_target} / ≤ {init_target} |",
            f.function,
            f.zip_bytes as f64 / 1e6,
            f.binary_bytes as f64 / 1e6,
            ms(median(f.init.clone())),
            ms(min),
            ms(max),
            ms(median(f.first_invocation.clone())),
        );
    }
    system.stop().await;
    Ok(())
}
