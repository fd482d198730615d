//! Throughput of the local pipeline: N images (six-line letters) submitted
//! by C concurrent clients through `POST /ocr`, each OCR'd by the local
//! workers and e-mailed;
//! reports jobs per minute from the first upload to the last job finished,
//! and the runner's CPU use.
//!
//!   ./dev pipeline-bench [--jobs 300] [--clients 8] [--max-pollers N]
//!
//! A bench, not a test: it reports, it asserts nothing (but it says how many
//! jobs ended otherwise than DONE with their text).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use local::{LocalSystem, Options};
use serde_json::Value;

/// Jobs through the whole local pipeline (API, queue, OCR worker, e-mail)
/// from concurrent clients: throughput and CPU per job (run through
/// ./dev pipeline-bench, which starts the emulator).
#[derive(Parser)]
#[command(name = "pipeline-bench")]
struct Args {
    /// Jobs submitted in all.
    #[arg(long, default_value_t = 300)]
    jobs: usize,
    /// Clients submitting and polling at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    clients: u16,
    /// At most this many OCR batches in flight (default: the function's
    /// MaximumConcurrency, capped at the number of cores).
    #[arg(long)]
    max_pollers: Option<usize>,
}

/// User and system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Share of the whole machine's CPU time busy since boot: (busy, total)
/// jiffies from /proc/stat, to count the emulator's work too.
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// A short letter (six lines, 22 px) whose first line tells the jobs apart.
fn letter(font: &test_kit::FontVec, i: usize) -> Vec<u8> {
    let first = format!("Invoice {} was paid on 14 March.", 1000 + i);
    let lines = [
        first.as_str(),
        "Please send the signed copy to the office",
        "before Friday; questions go to Ms. Grant",
        "(phone 555-0142, extension 36).",
        "The second instalment is due in April,",
        "the third one at the end of the summer.",
    ];
    test_kit::paragraph("letter", font, 22.0, &lines).png()
}

fn main() -> Result<()> {
    let pdf_reader = imaging::document::serve_if_child();
    bench(pdf_reader)
}

#[tokio::main]
async fn bench(pdf_reader: imaging::document::PdfReader) -> Result<()> {
    let args = Args::parse();
    let client_count = usize::from(args.clients);
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        bail!("AWS_ENDPOINT_URL is not set: run ./dev pipeline-bench");
    }
    let options = Options {
        run_ocr_worker: true,
        run_notify_worker: true,
        max_pollers: args.max_pollers,
        pdf_reader,
        ..Options::for_test()
    };
    let system = LocalSystem::start(options).await?;
    let (_, token) = system.direct_account("pipeline-bench@example.org").await?;
    let font = test_kit::load_font("DejaVuSans.ttf")?;
    let images: Vec<Vec<u8>> = (0..args.jobs).map(|i| letter(&font, i)).collect();
    let images = Arc::new(images);
    let http = reqwest::Client::new();

    let started = Instant::now();
    let cpu_at_start = cpu_seconds();
    let machine_at_start = machine_jiffies();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..client_count {
        let (http, images, token, api) = (http.clone(), images.clone(), token.clone(), system.api_url.clone());
        let count = client_count;
        clients.spawn(async move {
            let mut submitted = Vec::new();
            for i in (client..images.len()).step_by(count) {
                let response = http
                    .post(format!("{api}/ocr"))
                    .bearer_auth(&token)
                    .header("content-type", "image/png")
                    .body(images[i].clone())
                    .send()
                    .await?;
                if response.status() != 202 {
                    bail!("upload {i} refused: {} {}", response.status(), response.text().await?);
                }
                let body: Value = response.json().await?;
                submitted.push((body["job_id"].as_str().context("no job_id")?.to_owned(), i));
            }
            anyhow::Ok(submitted)
        });
    }
    let mut expected: HashMap<String, usize> = HashMap::new();
    while let Some(done) = clients.join_next().await {
        expected.extend(done??);
    }
    let uploaded = started.elapsed();

    // Poll the listing (one request a page, not one per job) until every
    // job has finished.
    let mut finished: HashMap<String, Value> = HashMap::new();
    while finished.len() < expected.len() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut url = format!("{}/jobs?limit=100", system.api_url);
        loop {
            let page: Value = http.get(&url).bearer_auth(&token).send().await?.json().await?;
            for job in page["jobs"].as_array().into_iter().flatten() {
                let status = job["status"].as_str().unwrap_or_default();
                if matches!(status, "DONE" | "FAILED") {
                    finished
                        .entry(job["job_id"].as_str().unwrap_or_default().to_owned())
                        .or_insert_with(|| job.clone());
                }
            }
            match page["links"]["next"].as_str() {
                Some(next) => url = format!("{}{next}", system.api_url),
                None => break,
            }
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("{} of {} jobs finished within an hour", finished.len(), expected.len());
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_at_start;
    let machine_now = machine_jiffies();
    let machine_busy = (machine_now.0 - machine_at_start.0) as f64 / (machine_now.1 - machine_at_start.1).max(1) as f64;

    // Each job's own text, read in full.
    let mut right = 0;
    for (job, i) in &expected {
        let got: Value =
            http.get(format!("{}/jobs/{job}", system.api_url)).bearer_auth(&token).send().await?.json().await?;
        let number = (1000 + i).to_string();
        if got["status"] == "DONE" && got["result"]["text"].as_str().is_some_and(|t| t.contains(&number)) {
            right += 1;
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "{} jobs, {} clients, pollers: {}, {} cores",
        expected.len(),
        client_count,
        args.max_pollers.map_or("default".to_owned(), |n| n.to_string()),
        cores
    );
    println!("uploads accepted in {:.1} s; all finished in {:.1} s", uploaded.as_secs_f64(), elapsed.as_secs_f64());
    println!("throughput: {:.1} jobs/min", expected.len() as f64 / elapsed.as_secs_f64() * 60.0);
    println!(
        "runner CPU: {:.0} s = {:.0}% of one core, {:.0}% of the machine (the emulator is another process)",
        cpu,
        cpu / elapsed.as_secs_f64() * 100.0,
        cpu / elapsed.as_secs_f64() / cores as f64 * 100.0
    );
    println!("whole machine (runner, emulator, everything else): {:.0}% busy", machine_busy * 100.0);
    println!("DONE with the image's own number in the text: {right} of {}", expected.len());
    system.stop().await;
    Ok(())
}
