//! OCR benchmark: the OCR function's engine ("fast") against the stock
//! ocrs 0.13 pipeline with the published models ("stock") and Tesseract 5,
//! on fixtures rendered here with known text.
//!
//!   cargo run --release -p local --bin ocr-bench -- fixtures [--runs 3 --out DIR --engine stock|fast|all --only NAME]
//!   cargo run --release -p local --bin ocr-bench -- pdf [--dpi 150,200,300] [--pt 8,10,12]
//!
//!   cargo run --release -p local --bin ocr-bench -- dataset DIR [--runs 1] [--engines ppocr,ocrs,tesseract,rapidocr]
//!   cargo run --release -p local --bin ocr-bench -- turned-dataset DIR --turn 0,90,180,270,-3,3
//!   cargo run --release -p local --bin ocr-bench -- text-layer
//!
//! (`--help` on each says more.) `dataset` reads every image under DIR that has a `NAME.gt.txt` beside
//! it (one line of text per printed line, in reading order), e.g. the
//! real-world set in ../shared/ocr-dev: the fast engine and Tesseract
//! interleaved, per folder and in total: CER, case-folded CER, an
//! order-tolerant CER (the hypothesis' lines put in the reference's order
//! first, so that reading order and recognition are told apart), engine
//! time and peak RSS. With `job` among the engines, the whole job as the
//! OCR function runs it (in-memory stores; decoding, recognition, result,
//! page JPEG and searchable PDF), and its recognition share.
//!
//! `pdf` measures documents: 10-page US Letter PDFs scanned at 300 dpi
//! (text of each size, different on each page) drawn at each resolution and read
//! page by page as the OCR function does (hayro, then the engine), one
//! child process per resolution: ms per page (drawing and reading), pages
//! per minute, peak RSS, and CER per page.
//!
//! Each measurement runs in a child process of its own, so peak RSS is per
//! engine and image (wait4's ru_maxrss), and the engines take turns on each
//! image (interleaved, so a noisy neighbour hits all of them alike). Engine
//! time is the recognition call with the models already loaded (a warm
//! Lambda), single-threaded (RTEN_NUM_THREADS=1, as on a 1-vCPU Lambda);
//! Tesseract time is its whole `tesseract IMAGE -` process
//! (OMP_THREAD_LIMIT=1), as that is how it is run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use domain::jobs::ports::TextRecognizer;
use test_kit::{self, Fixture, ReceiptLayout, cer, in_reference_order, load_font, normalise};

const PROSE: [&str; 4] = [
    "Invoice 2026-117 was paid on 14 March.",
    "Please send the signed copy to the office",
    "before Friday; questions go to Ms. Grant",
    "(phone 555-0142, extension 36).",
];

fn fixture_set() -> Result<Vec<Fixture>> {
    let sans = load_font("DejaVuSans.ttf")?;
    let serif = load_font("DejaVuSerif.ttf")?;
    let mono = load_font("DejaVuSansMono.ttf")?;
    let mut set = vec![
        test_kit::paragraph("sans-20px", &sans, 20.0, &PROSE),
        test_kit::paragraph("sans-32px", &sans, 32.0, &PROSE),
        test_kit::paragraph("serif-24px", &serif, 24.0, &PROSE),
        test_kit::paragraph("mono-22px", &mono, 22.0, &PROSE),
    ];
    if let Ok(liberation) = load_font("LiberationSerif-Regular.ttf") {
        set.push(test_kit::paragraph("liberation-serif-26px", &liberation, 26.0, &PROSE));
    }
    set.push(test_kit::receipt(&sans));
    set.push(test_kit::two_columns(&sans));
    set.push(test_kit::screenshot(&sans, &mono));

    let mut noisy = test_kit::paragraph("sans-24px-noise", &sans, 24.0, &PROSE);
    test_kit::add_noise(&mut noisy.image, 40, 7);
    set.push(noisy);
    let mut blurred = test_kit::paragraph("sans-24px-blur", &sans, 24.0, &PROSE);
    blurred.image = image::imageops::blur(&blurred.image, 1.0);
    set.push(blurred);
    let mut rotated = test_kit::paragraph("sans-24px-rot2deg", &sans, 24.0, &PROSE);
    rotated.image = test_kit::rotate(&rotated.image, 2.0);
    set.push(rotated);

    // Realistic pages, none of which the engine was tuned on alone.
    let receipt = test_kit::receipt_with(
        &sans,
        ReceiptLayout { width: 380, px: 17.0, items: 9, right_aligned: true, margin: 0.05, seed: 1 },
    );
    set.push(test_kit::photographed(&receipt, 11)?);
    set.push(test_kit::two_column_page(&serif, 2480, 3508, 46.0, 44));
    set.push(test_kit::dense_form(&sans, 20.0));
    set.push(test_kit::label_value_screen(&sans, 20.0, 10, 300.0));
    set.push(test_kit::text_with_graphics(&sans));
    Ok(set)
}

/// What one child process reported.
struct Run {
    millis: f64,
    text: String,
    peak_rss_kib: i64,
    /// The fast engine's rotation and skew decision.
    straightening: Option<(u16, f32)>,
    /// Of a whole job's time, the recognition calls'.
    recognition_millis: Option<f64>,
}

/// Runs `command`, waits with wait4 to read its own peak RSS.
fn run_measured(command: &mut Command) -> Result<(String, String, f64, i64)> {
    let started = Instant::now();
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().context("starting a child")?;
    let pid = child.id() as libc::pid_t;
    let output = {
        use std::io::Read;
        let mut stdout = child.stdout.expect("piped");
        let mut stderr = child.stderr.expect("piped");
        let mut out = String::new();
        stdout.read_to_string(&mut out)?;
        let mut err = String::new();
        stderr.read_to_string(&mut err)?;
        (out, err)
    };
    let mut status = 0;
    // SAFETY: rusage is plain data, and pid is our own unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("child failed (status {status}): {}", output.1.trim());
    }
    Ok((output.0, output.1, millis, usage.ru_maxrss))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// An engine in a child: `--recognize ENGINE PATH RUNS` prints the median
/// milliseconds of the recognition call, then the text.
fn engine(name: &str, image: &Path, runs: usize) -> Result<Run> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("recognize").arg(name).arg(image).arg(runs.to_string()).env("RTEN_NUM_THREADS", "1");
    let (stdout, stderr, _, peak_rss_kib) = run_measured(&mut command)?;
    // RUST_LOG=ocr=debug: the engine's own account of each image.
    if std::env::var_os("RUST_LOG").is_some() {
        eprint!("{stderr}");
    }
    let (first, text) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    let mut fields = first.split_whitespace();
    let millis = fields.next().context("no time")?.parse()?;
    let straightening = match (fields.next(), fields.next()) {
        (Some(rotation), Some(skew)) => Some((rotation.parse()?, skew.parse()?)),
        _ => None,
    };
    Ok(Run { millis, text: text.to_owned(), peak_rss_kib, straightening, recognition_millis: None })
}

/// Tesseract's whole process on `image`, as it is run in practice, with
/// the language pack `language`.
fn tesseract(image: &Path, language: &str) -> Result<Run> {
    let mut command = Command::new("tesseract");
    command.arg(image).arg("-").arg("-l").arg(language).env("OMP_THREAD_LIMIT", "1");
    let (text, _, millis, peak_rss_kib) = run_measured(&mut command)
        .with_context(|| format!("running tesseract (apt-get install tesseract-ocr tesseract-ocr-{language})"))?;
    Ok(Run { millis, text, peak_rss_kib, straightening: None, recognition_millis: None })
}

/// Tesseract's language pack for a multilingual item, from the ISO 639-1
/// code its file name starts with (`fr_...`): English for any other.
fn tesseract_language(image: &Path) -> &'static str {
    let name = image.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    match name.split('_').next().unwrap_or_default() {
        "fr" => "fra",
        "de" => "deu",
        "es" => "spa",
        "it" => "ita",
        "cs" => "ces",
        "sk" => "slk",
        "da" => "dan",
        _ => "eng",
    }
}

/// RapidOCR 3.10 (PP-OCRv6 small on ONNX Runtime, one thread), the
/// reference engine, with the Python in `OCR_BENCH_PYTHON` (default
/// `python3`; `pip install rapidocr==3.10.0 onnxruntime`): the recognition
/// call's time, the process's peak RSS.
fn rapidocr(image: &Path) -> Result<Run> {
    let python = std::env::var("OCR_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/rapidocr_reference.py");
    let mut command = Command::new(&python);
    command.arg(script).arg(image).env("OMP_NUM_THREADS", "1");
    let (stdout, _, _, peak_rss_kib) = run_measured(&mut command)
        .with_context(|| format!("running RapidOCR with {python} (pip install rapidocr==3.10.0 onnxruntime)"))?;
    let (first, text) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    Ok(Run {
        millis: first.trim().parse().context("no time")?,
        text: text.to_owned(),
        peak_rss_kib,
        straightening: None,
        recognition_millis: None,
    })
}

/// Where the parent passes `--param` settings to the engines it runs.
const ENGINE_PARAMS_VAR: &str = "OCR_BENCH_ENGINE_PARAMS";

/// The engines' tuning: the defaults, with the `--param` settings.
fn engine_params() -> Result<ocr_worker::engine::EngineParams> {
    let spec = std::env::var(ENGINE_PARAMS_VAR).unwrap_or_default();
    ocr_worker::engine::EngineParams::parse(&spec).map_err(anyhow::Error::msg)
}

fn recognize_child(engine: &str, path: &Path, runs: usize) -> Result<()> {
    // RUST_LOG=ocr=debug shows the engine's stage timings on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    use domain::jobs::{EngineChoice, Recognized};
    use ocr_worker::engine::FastEngine;
    type Recognize = Box<dyn Fn(&image::DynamicImage) -> Result<Recognized>>;
    let ours = |choice, straightens: bool| -> Result<Recognize> {
        let engine = FastEngine::embedded_with(choice, engine_params()?)?;
        let engine = if straightens { engine } else { engine.without_straightening() };
        Ok(Box::new(move |image| Ok(engine.recognize(image)?)))
    };
    let recognize: Recognize = match engine {
        "fast" | "ocrs" => ours(EngineChoice::Ocrs, true)?,
        "fast-as-is" | "ocrs-as-is" => ours(EngineChoice::Ocrs, false)?,
        "ppocr" => ours(EngineChoice::Ppocr, true)?,
        "ppocr-as-is" => ours(EngineChoice::Ppocr, false)?,
        "stock" => {
            let stock = ocr_worker::stock::StockEngine::embedded().map_err(anyhow::Error::msg)?;
            Box::new(move |image| stock.recognize(image).map_err(anyhow::Error::msg))
        }
        other => bail!("unknown engine {other}"),
    };
    let image = image::open(path)?;
    let mut times = Vec::new();
    let mut text = String::new();
    let mut how = Default::default();
    for _ in 0..runs {
        let started = Instant::now();
        let result = recognize(&image)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        text = result.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
        how = result.straightening;
    }
    let imaging::straighten::Straightening { rotation, skew_degrees } = how;
    println!("{} {rotation} {skew_degrees}\n{text}", median(times));
    Ok(())
}

/// The whole worker path in a child: `--job PATH` prints the job's
/// milliseconds and those of its recognition calls, then its text.
fn job(image: &Path) -> Result<Run> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("job").arg(image).env("RTEN_NUM_THREADS", "1");
    let (stdout, _, _, peak_rss_kib) = run_measured(&mut command)?;
    let (first, text) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    let mut fields = first.split_whitespace();
    let millis = fields.next().context("no time")?.parse()?;
    let recognition = fields.next().context("no recognition time")?.parse()?;
    Ok(Run { millis, text: text.to_owned(), peak_rss_kib, straightening: None, recognition_millis: Some(recognition) })
}

/// The engines, timed.
struct Timed {
    engines: ocr_worker::engine::Engines,
    millis: std::sync::Mutex<f64>,
}

impl TextRecognizer for Timed {
    fn recognize(
        &self,
        image: &image::DynamicImage,
        engine: domain::jobs::EngineChoice,
    ) -> Result<domain::jobs::Recognized, domain::jobs::ports::RecognizeError> {
        let started = Instant::now();
        let recognized = self.engines.recognize(image, engine);
        *self.millis.lock().unwrap() += started.elapsed().as_secs_f64() * 1000.0;
        recognized
    }
}

/// One job as the OCR function runs it (engine loaded, a warm Lambda),
/// against the in-memory stores: fetch, decode or draw, recognise, write
/// the outputs (result JSON, page JPEG, searchable PDF), finish.
fn job_child(path: &Path) -> Result<()> {
    use domain::jobs::{JobProcessor, JobService, Owner, ProcessorLimits, UploadLimits};
    use domain::memory::{MemoryBlobStore, MemoryEmailQueue, MemoryJobQueue, MemoryJobStore};
    use imaging::document::PdfReader;
    use std::sync::Arc;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let jobs = Arc::new(MemoryJobStore::default());
        let blobs = Arc::new(MemoryBlobStore::default());
        let clock = Arc::new(domain::clock::SystemClock);
        let recognizer =
            Arc::new(Timed { engines: ocr_worker::engine::Engines::embedded()?, millis: Default::default() });
        let limits =
            UploadLimits { max_direct_bytes: 64 << 20, pdf_reader: PdfReader::InProcess, ..Default::default() };
        let accounts = Arc::new(domain::memory::EveryAccountExists);
        let service = JobService::new(jobs.clone(), jobs.clone(), blobs.clone(), accounts, clock.clone(), limits);
        let processor = JobProcessor::new(
            jobs.clone(),
            blobs.clone(),
            Arc::new(MemoryEmailQueue::default()),
            Arc::new(MemoryJobQueue::default()),
            recognizer.clone(),
            clock,
            ProcessorLimits { max_object_bytes: 64 << 20, pdf_reader: PdfReader::InProcess, ..Default::default() },
        );
        let owner =
            Owner { id: domain::values::UserId::new(), email: domain::values::Email::parse("bench@example.org")? };
        let job = service.submit(&owner, std::fs::read(path)?).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        processor.process(&owner.id, &job.id, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        let details = service.get(&owner, &job.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let text = details.result.map(|r| r.text).with_context(|| format!("no result: {:?}", details.job.failure))?;
        println!("{millis} {}\n{text}", recognizer.millis.lock().unwrap());
        Ok(())
    })
}

/// Edits and reference length, to aggregate CER over the set.
fn edits(truth: &str, text: &str) -> (f64, f64) {
    let len = normalise(truth).chars().count() as f64;
    (cer(truth, text) * len, len)
}

/// Totals of one engine over the set.
#[derive(Default)]
struct Totals {
    millis: f64,
    edits: f64,
    worst_rss_kib: i64,
}

impl Totals {
    fn add(&mut self, run: &Run, truth: &str) {
        self.millis += run.millis;
        self.edits += edits(truth, &run.text).0;
        self.worst_rss_kib = self.worst_rss_kib.max(run.peak_rss_kib);
    }
}

/// Draws and reads every page of `pdf` at `dpi`; prints one line per page:
/// `render_ms ocr_ms` then the page's text, pages separated by a form feed.
fn document_child(pdf: &Path, dpi: f32) -> Result<()> {
    use imaging::document::{DocumentLimits, PdfReader, inspect_document, render_page};
    let recognizer = ocr_worker::engine::FastEngine::embedded()?;
    let bytes = std::fs::read(pdf)?;
    // In this process: the bench times drawing, not the child's start.
    let limits = DocumentLimits { pdf_dpi: dpi, pdf_reader: PdfReader::InProcess, ..Default::default() };
    let info = inspect_document(&bytes, &limits)?;
    let mut pages = Vec::new();
    for index in 0..info.pages {
        let started = Instant::now();
        let drawn = render_page(&bytes, &info, index, &limits)?;
        let render_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let result = recognizer.recognize(&drawn.image)?;
        let ocr_ms = started.elapsed().as_secs_f64() * 1000.0;
        let text = result.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
        pages.push(format!("{render_ms} {ocr_ms}\n{text}"));
    }
    print!("{}", pages.join("\u{c}"));
    Ok(())
}

/// The CPU's model name, as /proc/cpuinfo gives it (figures depend on it).
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

fn document_bench(dpis: &[f32], points: &[f32], out: &Path) -> Result<()> {
    let font = load_font("DejaVuSans.ttf")?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "10-page US Letter PDFs scanned at 300 dpi; RTEN_NUM_THREADS=1; {cores} cores\nCPU: {}; kernels: {}\n",
        cpu_model(),
        ocr_worker::engine::KernelPath::detect()
    );
    println!(
        "| text | drawn at | page px | draw ms/page | read ms/page | ms/page | pages/min | peak RSS MB | CER per page (mean / worst) |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    std::fs::create_dir_all(out)?;
    for &pt in points {
        // Points at 300 dpi.
        let px = pt * 300.0 / 72.0;
        let pages: Vec<Fixture> =
            (1..=10).map(|n| test_kit::letter_page(&font, 2550, 3300, px, n, (20.0 * 42.0 / px) as usize)).collect();
        let gray: Vec<_> = pages.iter().map(|p| image::DynamicImage::ImageRgb8(p.image.clone()).into_luma8()).collect();
        let pdf = out.join(format!("letter-10-pages-300dpi-{pt}pt.pdf"));
        std::fs::write(&pdf, imaging::testing::scanned_pdf(&gray, 300.0))?;
        for &dpi in dpis {
            let mut command = Command::new(std::env::current_exe()?);
            command.arg("pdf-child").arg(&pdf).arg(dpi.to_string()).env("RTEN_NUM_THREADS", "1");
            let (output, _, _, rss_kib) = run_measured(&mut command)?;
            let (mut draw, mut read, mut cers) = (Vec::new(), Vec::new(), Vec::new());
            for (page, truth) in output.split('\u{c}').zip(&pages) {
                let (timing, text) = page.split_once('\n').unwrap_or((page, ""));
                let mut ms = timing.split_whitespace().map(|v| v.parse::<f64>().unwrap_or(0.0));
                draw.push(ms.next().unwrap_or(0.0));
                read.push(ms.next().unwrap_or(0.0));
                cers.push(cer(&truth.truth, text));
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let per_page = mean(&draw) + mean(&read);
            println!(
                "| {pt} pt | {dpi:.0} dpi | {}×{} | {:.0} | {:.0} | {per_page:.0} | {:.1} | {:.0} | {:.3} / {:.3} |",
                (612.0 * dpi / 72.0).round(),
                (792.0 * dpi / 72.0).round(),
                mean(&draw),
                mean(&read),
                60_000.0 / per_page,
                rss_kib as f64 / 1024.0,
                mean(&cers),
                cers.iter().copied().fold(0.0, f64::max),
            );
        }
    }
    Ok(())
}

/// The images under `dir` (recursively) with a `.gt.txt` beside them,
/// sorted by path.
fn dataset_items(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut items = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                folders.push(path);
            } else if !name.ends_with(".gt.txt") {
                let truth = path.with_extension("gt.txt");
                if truth.is_file() {
                    items.push((path.clone(), std::fs::read_to_string(&truth)?));
                }
            }
        }
    }
    items.sort();
    Ok(items)
}

/// Sums over a folder (or the whole set) for one engine.
#[derive(Default, Clone)]
struct DatasetTotals {
    items: usize,
    reference_chars: f64,
    edits: f64,
    folded_edits: f64,
    ordered_edits: f64,
    millis: f64,
    recognition_millis: f64,
    worst_rss_kib: i64,
}

impl DatasetTotals {
    fn add(&mut self, run: &Run, truth: &str) {
        let (plain, len) = edits(truth, &run.text);
        self.items += 1;
        self.reference_chars += len;
        self.edits += plain;
        self.folded_edits += edits(&truth.to_lowercase(), &run.text.to_lowercase()).0;
        self.ordered_edits += edits(truth, &in_reference_order(truth, &run.text)).0;
        self.millis += run.millis;
        self.recognition_millis += run.recognition_millis.unwrap_or(0.0);
        self.worst_rss_kib = self.worst_rss_kib.max(run.peak_rss_kib);
    }

    fn row(&self) -> String {
        let rate = |edits: f64| if self.reference_chars > 0.0 { edits / self.reference_chars } else { 0.0 };
        format!(
            "{:.3} | {:.3} | {:.3} | {:.0} | {}",
            rate(self.edits),
            rate(self.folded_edits),
            rate(self.ordered_edits),
            self.millis,
            self.worst_rss_kib / 1024
        )
    }
}

fn dataset_bench(dir: &Path, runs: usize, engines: &[&str]) -> Result<()> {
    let items = dataset_items(dir)?;
    if items.is_empty() {
        bail!("no image with a NAME.gt.txt beside it under {}", dir.display());
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "{} items under {}; fast vs Tesseract 5 (eng, OMP_THREAD_LIMIT=1); RTEN_NUM_THREADS=1; {cores} cores; median of {runs} runs, engines interleaved\nCPU: {}; kernels: {}\nengine parameters: {}\n",
        items.len(),
        dir.display(),
        cpu_model(),
        ocr_worker::engine::KernelPath::detect(),
        engine_params()?,
    );
    let mut by_folder: std::collections::BTreeMap<String, Vec<DatasetTotals>> = Default::default();
    let mut total = vec![DatasetTotals::default(); engines.len()];
    for (path, truth) in &items {
        let folder = path
            .parent()
            .and_then(|p| p.strip_prefix(dir).ok())
            .map(|p| p.display().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".into());
        let sums = by_folder.entry(folder).or_insert_with(|| vec![DatasetTotals::default(); engines.len()]);
        for (e, name) in engines.iter().enumerate() {
            let run = match *name {
                "tesseract" => tesseract(path, "eng")?,
                "tesseract-lang" => tesseract(path, tesseract_language(path))?,
                "rapidocr" => rapidocr(path)?,
                "job" => job(path)?,
                engine_name => engine(engine_name, path, runs)?,
            };
            eprintln!("{} {name}: CER {:.3}, {:.0} ms", path.display(), cer(truth, &run.text), run.millis);
            sums[e].add(&run, truth);
            total[e].add(&run, truth);
        }
    }
    println!("| folder | items | engine | CER | case-folded CER | order-tolerant CER | engine ms | peak RSS MB |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    let rows = by_folder.iter().map(|(folder, sums)| (folder.as_str(), sums)).chain([("total", &total)]);
    for (folder, sums) in rows {
        for (e, name) in engines.iter().enumerate() {
            println!("| {folder} | {} | {name} | {} |", sums[e].items, sums[e].row());
        }
    }
    for (e, name) in engines.iter().enumerate().skip(1) {
        println!("\ntime ratio {}/{name}: {:.2}", engines[0], total[0].millis / total[e].millis);
    }
    if let Some(e) = engines.iter().position(|name| *name == "job") {
        println!("\nThe whole job on the worker path (in-memory stores), by stage:\n");
        println!(
            "| folder | items | whole job ms | recognition ms | decoding, outputs, stores ms | recognition share |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        let rows = by_folder.iter().map(|(folder, sums)| (folder.as_str(), sums)).chain([("total", &total)]);
        for (folder, sums) in rows {
            let job = &sums[e];
            println!(
                "| {folder} | {} | {:.0} | {:.0} | {:.0} | {:.1}% |",
                job.items,
                job.millis,
                job.recognition_millis,
                job.millis - job.recognition_millis,
                100.0 * job.recognition_millis / job.millis.max(1.0)
            );
        }
    }
    Ok(())
}

/// The page turned clockwise by each of `turns` (degrees), read by the
/// fast engine: CER per folder and turn, and how often the rotation was
/// decided wrong (and by how much the skew was missed). Scans are rarely
/// perfectly straight: the skew expected is the turn plus the page's own,
/// as the engine measures it on the page as it came.
fn turned_dataset_bench(dir: &Path, turns: &[f32]) -> Result<()> {
    let items = dataset_items(dir)?;
    let scratch = std::env::temp_dir().join(format!("ocr-bench-turned-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    println!(
        "{} items under {}, each turned clockwise by {turns:?} degrees; fast engine, RTEN_NUM_THREADS=1\nCPU: {}; kernels: {}\n",
        items.len(),
        dir.display(),
        cpu_model(),
        ocr_worker::engine::KernelPath::detect(),
    );
    println!("| folder | turn ° | items | CER | case-folded CER | rotation wrong | mean skew error ° | engine ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut own_skews: Vec<Option<f32>> = vec![None; items.len()];
    for &turn in turns {
        let quarter = ((turn / 90.0).round() as i32).rem_euclid(4) as u16 * 90;
        let expected_rotation = (360 - quarter) % 360;
        let expected_skew = turn - f32::from(quarter);
        let mut by_folder: std::collections::BTreeMap<String, (DatasetTotals, usize, f32)> = Default::default();
        for (index, (path, truth)) in items.iter().enumerate() {
            let folder = path
                .parent()
                .and_then(|p| p.strip_prefix(dir).ok())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let turned_path = scratch.join(format!("{index}.png"));
            let image = image::open(path)?;
            imaging::straighten::turned_by(&image, turn).save(&turned_path)?;
            let run = engine("fast", &turned_path, 1)?;
            let (rotation, skew) = run.straightening.context("the engine said nothing of the turn")?;
            if turn == 0.0 {
                own_skews[index] = Some(skew);
            }
            let own_skew = match own_skews[index] {
                Some(skew) => skew,
                None => {
                    let upright = engine("fast", path, 1)?.straightening.context("the engine said nothing")?.1;
                    *own_skews[index].insert(upright)
                }
            };
            let expected_skew = expected_skew + own_skew;
            let sums = by_folder.entry(folder).or_default();
            sums.0.add(&run, truth);
            if rotation != expected_rotation {
                sums.1 += 1;
                eprintln!("{} turned {turn}: rotation {rotation}, expected {expected_rotation}", path.display());
            }
            sums.2 += (skew - expected_skew).abs();
            eprintln!("{} turned {turn}: skew {skew}, expected {expected_skew:.2}", path.display());
        }
        for (folder, (sums, wrong, skew_error)) in &by_folder {
            let rate = |edits: f64| edits / sums.reference_chars.max(1.0);
            println!(
                "| {folder} | {turn} | {} | {:.3} | {:.3} | {wrong} | {:.2} | {:.0} |",
                sums.items,
                rate(sums.edits),
                rate(sums.folded_edits),
                skew_error / sums.items as f32,
                sums.millis
            );
        }
    }
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}

/// A born-digital US Letter page of 30 lines (all on the page: a layer with
/// glyphs off the page is not used): drawn and read from its own
/// text, against drawn and read by OCR; pages per second of each.
fn text_layer_bench(runs: usize) -> Result<()> {
    use imaging::document::{DocumentLimits, PdfReader, inspect_document, render_page};
    use imaging::text_layer::testing::{Setting, text_page};
    let lines: Vec<String> = (0..30)
        .map(|i| format!("Line {i:02}: the council will review the harbour bridge plans in spring, item {}", i * 37))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let pdf = text_page(&lines, Setting::Plain);
    let limits = DocumentLimits { pdf_reader: PdfReader::InProcess, ..Default::default() };
    let info = inspect_document(&pdf, &limits)?;
    let engine = ocr_worker::engine::FastEngine::embedded()?;
    let (mut text_ms, mut ocr_ms) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let drawn = render_page(&pdf, &info, 0, &limits)?;
        let own = drawn.text_layer.and_then(Result::ok).context("the page's own text is usable")?;
        text_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(own.len() == 30, "30 lines of text, got {}", own.len());
        let started = Instant::now();
        let drawn = render_page(&pdf, &info, 0, &limits)?;
        let read = engine.read(&drawn.image)?;
        ocr_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(!read.is_empty(), "OCR read nothing");
    }
    let (text, ocr) = (median(text_ms), median(ocr_ms));
    println!(
        "born-digital US Letter page, 30 lines, 200 dpi, RTEN_NUM_THREADS={}; CPU {}; median of {runs}:\n\
         drawn + own text: {text:.0} ms ({:.1} pages/s); drawn + OCR: {ocr:.0} ms ({:.2} pages/s); {:.0}x",
        std::env::var("RTEN_NUM_THREADS").unwrap_or_else(|_| "default".into()),
        cpu_model(),
        1000.0 / text,
        1000.0 / ocr,
        ocr / text
    );
    Ok(())
}

/// The OCR engines measured against Tesseract (and RapidOCR) on rendered
/// fixtures, scanned PDFs and development sets; each measurement in a child
/// process of its own (peak RSS per engine and image), engines interleaved.
#[derive(Parser)]
#[command(name = "ocr-bench")]
struct Cli {
    /// RTen's AVX2 kernels even on an AVX-512 CPU (RTEN_DISABLE_AVX512=1, for
    /// this process and the engines it runs), to measure the path most
    /// servers take; the kernel line says so.
    #[arg(long, global = true)]
    avx2: bool,
    /// An engine tuning constant other than its default
    /// (ocr_worker::engine::EngineParams: db.max_side, db.threshold,
    /// db.box_threshold, db.unclip_ratio, min_line_confidence,
    /// min_short_line_confidence), e.g. --param db.max_side=1600.
    #[arg(long = "param", value_name = "NAME=VALUE", global = true)]
    params: Vec<String>,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Rendered fixtures: the fast engine, stock ocrs and Tesseract.
    Fixtures {
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        /// Where the rendered fixtures are written.
        #[arg(long, default_value = "target/bench-fixtures")]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = FixtureEngines::All)]
        engine: FixtureEngines,
        /// Only the fixtures whose name contains this.
        #[arg(long)]
        only: Option<String>,
    },
    /// 10-page scanned PDFs drawn and read as the OCR function does.
    Pdf {
        /// Resolutions the pages are drawn at.
        #[arg(long, value_delimiter = ',', default_values_t = [150.0, 200.0, 300.0])]
        dpi: Vec<f32>,
        /// Text sizes of the scanned pages, in points.
        #[arg(long, value_delimiter = ',', default_values_t = [8.0, 10.0, 12.0])]
        pt: Vec<f32>,
    },
    /// A development set (images with NAME.gt.txt beside them): CER, time,
    /// peak RSS. tesseract-lang reads with the language pack the file name
    /// starts with (fr_, de_, ...); rapidocr runs
    /// local/bench/rapidocr_reference.py with $OCR_BENCH_PYTHON.
    Dataset {
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// ppocr, ocrs, ppocr-as-is, ocrs-as-is, job, tesseract,
        /// tesseract-lang, rapidocr.
        #[arg(long, value_delimiter = ',', default_values_t = ["fast".to_owned(), "tesseract".to_owned()])]
        engines: Vec<String>,
    },
    /// The same set turned and skewed.
    TurnedDataset {
        dir: PathBuf,
        /// Degrees, e.g. 0,90,180,270,-3,3.
        #[arg(long, value_delimiter = ',', required = true, allow_hyphen_values = true)]
        turn: Vec<f32>,
    },
    /// A born-digital page read from its own text against OCR.
    TextLayer,
    /// (A child of the benches: one engine on one image.)
    #[command(hide = true)]
    Recognize { engine: String, image: PathBuf, runs: usize },
    /// (A child of the benches: a whole job, as the OCR function runs it.)
    #[command(hide = true)]
    Job { image: PathBuf },
    /// (A child of the benches: a PDF drawn and read page by page.)
    #[command(hide = true)]
    PdfChild { pdf: PathBuf, dpi: f32 },
}

#[derive(Clone, Copy, ValueEnum)]
enum FixtureEngines {
    Stock,
    Fast,
    All,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.avx2 {
        // SAFETY: the first thing main does after parsing, before any thread
        // starts (and before rten-simd reads it once); the engines' child
        // processes inherit it.
        unsafe { std::env::set_var("RTEN_DISABLE_AVX512", "1") };
    }
    if !cli.params.is_empty() {
        // The engines' tuning, for the child processes that read it (see
        // `engine_params`).
        let spec = cli.params.join(",");
        let params = ocr_worker::engine::EngineParams::parse(&spec).map_err(anyhow::Error::msg)?;
        eprintln!("engine parameters: {params}");
        // SAFETY: still before any thread starts.
        unsafe { std::env::set_var(ENGINE_PARAMS_VAR, spec) };
    }
    match cli.bench {
        Bench::Fixtures { runs, out, engine, only } => {
            let engines = match engine {
                FixtureEngines::Stock => vec!["stock", "tesseract"],
                FixtureEngines::Fast => vec!["fast", "tesseract"],
                FixtureEngines::All => vec!["stock", "fast", "tesseract"],
            };
            fixtures_bench(runs as usize, &out, &engines, only.as_deref())
        }
        Bench::Pdf { dpi, pt } => document_bench(&dpi, &pt, Path::new("target/bench-fixtures")),
        Bench::Dataset { dir, runs, engines } => {
            dataset_bench(&dir, runs, &engines.iter().map(String::as_str).collect::<Vec<_>>())
        }
        Bench::TurnedDataset { dir, turn } => turned_dataset_bench(&dir, &turn),
        Bench::TextLayer => text_layer_bench(5),
        Bench::Recognize { engine, image, runs } => recognize_child(&engine, &image, runs),
        Bench::Job { image } => job_child(&image),
        Bench::PdfChild { pdf, dpi } => document_child(&pdf, dpi),
    }
}

/// The rendered fixtures, each engine in turn on each.
fn fixtures_bench(runs: usize, out: &Path, engines: &[&str], only: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "{} vs Tesseract 5 (eng, OMP_THREAD_LIMIT=1); RTEN_NUM_THREADS=1; {cores} cores; median of {runs} runs, engines interleaved\nCPU: {}; kernels: {}\n",
        engines.iter().filter(|e| **e != "tesseract").copied().collect::<Vec<_>>().join(" vs "),
        cpu_model(),
        ocr_worker::engine::KernelPath::detect(),
    );
    let columns: Vec<&str> = engines.to_vec();
    println!(
        "| image | size | {} | {} | {} |",
        columns.iter().map(|e| format!("{e} ms")).collect::<Vec<_>>().join(" | "),
        columns.iter().map(|e| format!("{e} CER")).collect::<Vec<_>>().join(" | "),
        columns.iter().map(|e| format!("{e} peak RSS MB")).collect::<Vec<_>>().join(" | "),
    );
    println!("|---|---|{}", "---:|".repeat(columns.len() * 3));
    let mut totals: Vec<Totals> = columns.iter().map(|_| Totals::default()).collect();
    let mut chars = 0.0;
    for fixture in fixture_set()? {
        if only.is_some_and(|name| !fixture.name.contains(name)) {
            continue;
        }
        let path = out.join(format!("{}.png", fixture.name));
        // Grey pages are saved grey, as scanners save them.
        let grey = fixture.image.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]);
        if grey {
            image::DynamicImage::ImageRgb8(fixture.image.clone()).into_luma8().save(&path)?;
        } else {
            fixture.image.save(&path)?;
        }
        std::fs::write(out.join(format!("{}.txt", fixture.name)), &fixture.truth)?;
        // Interleaved: each round runs every engine once on this image.
        let mut rounds: Vec<Vec<Run>> = columns.iter().map(|_| Vec::new()).collect();
        for _ in 0..runs {
            for (i, name) in columns.iter().enumerate() {
                let run = match *name {
                    "tesseract" => tesseract(&path, "eng")?,
                    engine_name => engine(engine_name, &path, 1)?,
                };
                rounds[i].push(run);
            }
        }
        let results: Vec<Run> = rounds
            .into_iter()
            .map(|runs| {
                let millis = median(runs.iter().map(|r| r.millis).collect());
                let peak_rss_kib = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
                let text = runs.into_iter().last().map(|r| r.text).unwrap_or_default();
                Run { millis, text, peak_rss_kib, straightening: None, recognition_millis: None }
            })
            .collect();
        println!(
            "| {} | {}×{} | {} | {} | {} |",
            fixture.name,
            fixture.image.width(),
            fixture.image.height(),
            results.iter().map(|r| format!("{:.0}", r.millis)).collect::<Vec<_>>().join(" | "),
            results.iter().map(|r| format!("{:.3}", cer(&fixture.truth, &r.text))).collect::<Vec<_>>().join(" | "),
            results.iter().map(|r| format!("{:.0}", r.peak_rss_kib as f64 / 1024.0)).collect::<Vec<_>>().join(" | "),
        );
        for (total, run) in totals.iter_mut().zip(&results) {
            total.add(run, &fixture.truth);
        }
        chars += edits(&fixture.truth, "").1;
    }
    println!();
    for (name, total) in columns.iter().zip(&totals) {
        println!(
            "{name}: total {:.0} ms, aggregate CER {:.4}, worst peak RSS {:.0} MB",
            total.millis,
            total.edits / chars,
            total.worst_rss_kib as f64 / 1024.0
        );
    }
    let find = |name: &str| columns.iter().position(|c| *c == name).map(|i| &totals[i]);
    if let (Some(fast), Some(stock)) = (find("fast"), find("stock")) {
        println!("time ratio fast/stock: {:.2}", fast.millis / stock.millis);
    }
    for engine_name in ["fast", "stock"] {
        if let (Some(e), Some(t)) = (find(engine_name), find("tesseract")) {
            println!("time ratio {engine_name}/tesseract: {:.2}", e.millis / t.millis);
        }
    }
    println!("fixtures and truths written to {}", out.display());
    Ok(())
}
