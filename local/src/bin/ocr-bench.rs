//! OCR benchmark: ocrs (as the OCR Lambda runs it) against Tesseract 5 on
//! fixtures rendered here with known text.
//!
//!   cargo run --release -p local --bin ocr-bench [-- --runs 3 --out DIR]
//!
//! Each measurement runs in a child process of its own, so peak RSS is per
//! engine and image (wait4's ru_maxrss). ocrs time is the recognition call
//! with the models already loaded (a warm Lambda); Tesseract time is its
//! whole `tesseract IMAGE -` process, as that is how it is run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use local::fixtures::{self, Fixture, cer, load_font, normalise};

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
        fixtures::paragraph("sans-20px", &sans, 20.0, &PROSE),
        fixtures::paragraph("sans-32px", &sans, 32.0, &PROSE),
        fixtures::paragraph("serif-24px", &serif, 24.0, &PROSE),
        fixtures::paragraph("mono-22px", &mono, 22.0, &PROSE),
    ];
    if let Ok(liberation) = load_font("LiberationSerif-Regular.ttf") {
        set.push(fixtures::paragraph("liberation-serif-26px", &liberation, 26.0, &PROSE));
    }
    set.push(fixtures::receipt(&sans));
    set.push(fixtures::two_columns(&sans));
    set.push(fixtures::screenshot(&sans, &mono));

    let mut noisy = fixtures::paragraph("sans-24px-noise", &sans, 24.0, &PROSE);
    fixtures::add_noise(&mut noisy.image, 40, 7);
    set.push(noisy);
    let mut blurred = fixtures::paragraph("sans-24px-blur", &sans, 24.0, &PROSE);
    blurred.image = image::imageops::blur(&blurred.image, 1.0);
    set.push(blurred);
    let mut rotated = fixtures::paragraph("sans-24px-rot2deg", &sans, 24.0, &PROSE);
    rotated.image = fixtures::rotate(&rotated.image, 2.0);
    set.push(rotated);
    Ok(set)
}

/// What one child process reported.
struct Run {
    millis: f64,
    text: String,
    peak_rss_kib: i64,
}

/// Runs `command`, waits with wait4 to read its own peak RSS.
fn run_measured(command: &mut Command) -> Result<(String, f64, i64)> {
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
    Ok((output.0, millis, usage.ru_maxrss))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// ocrs in a child: `--recognize PATH RUNS` prints the median milliseconds
/// of the recognition call, then the text.
fn ocrs(image: &Path, runs: usize, threads: Option<usize>) -> Result<Run> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("--recognize").arg(image).arg(runs.to_string());
    match threads {
        Some(n) => command.env("RTEN_NUM_THREADS", n.to_string()),
        None => command.env_remove("RTEN_NUM_THREADS"),
    };
    let (stdout, _, peak_rss_kib) = run_measured(&mut command)?;
    let (first, text) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    Ok(Run { millis: first.trim().parse()?, text: text.to_owned(), peak_rss_kib })
}

fn tesseract(image: &Path, runs: usize) -> Result<Run> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let mut command = Command::new("tesseract");
        command.arg(image).arg("-").arg("-l").arg("eng").env("OMP_THREAD_LIMIT", "1");
        let (text, millis, rss) =
            run_measured(&mut command).context("running tesseract (apt-get install tesseract-ocr)")?;
        times.push(millis);
        last = Some((text, rss));
    }
    let (text, peak_rss_kib) = last.expect("runs >= 1");
    Ok(Run { millis: median(times), text, peak_rss_kib })
}

fn recognize_child(path: &Path, runs: usize) -> Result<()> {
    use shared::ports::TextRecognizer;
    let recognizer = ocr::recognizer::OcrsRecognizer::embedded().map_err(anyhow::Error::msg)?;
    let image = image::open(path)?.into_rgb8();
    let mut times = Vec::new();
    let mut text = String::new();
    for _ in 0..runs {
        let started = Instant::now();
        let result = recognizer.recognize(&image).map_err(anyhow::Error::msg)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        text = result.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
    }
    println!("{}\n{text}", median(times));
    Ok(())
}

/// Edits and reference length, to aggregate CER over the set.
fn edits(truth: &str, text: &str) -> (f64, f64) {
    let len = normalise(truth).chars().count() as f64;
    (cer(truth, text) * len, len)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--recognize") {
        return recognize_child(Path::new(&args[2]), args[3].parse()?);
    }
    let mut runs = 3;
    let mut out = PathBuf::from("target/bench-fixtures");
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--runs" => runs = rest.next().context("--runs N")?.parse()?,
            "--out" => out = rest.next().context("--out DIR")?.into(),
            other => bail!("unknown argument {other}; usage: ocr-bench [--runs N] [--out DIR]"),
        }
    }
    std::fs::create_dir_all(&out)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "ocrs 0.13 (embedded official models) vs Tesseract 5 (eng, OMP_THREAD_LIMIT=1); {cores} cores; median of {runs} runs\n"
    );
    println!(
        "| image | size | ocrs 1 thread ms | ocrs default ms | tesseract ms | time ratio (1T) | ocrs CER | tesseract CER | ocrs peak RSS MB | tesseract peak RSS MB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut ocrs_ms, mut tess_ms) = (0.0, 0.0);
    let (mut ocrs_edits, mut tess_edits, mut chars) = (0.0, 0.0, 0.0);
    let mut worst_rss: i64 = 0;
    for fixture in fixture_set()? {
        let path = out.join(format!("{}.png", fixture.name));
        fixture.image.save(&path)?;
        std::fs::write(out.join(format!("{}.txt", fixture.name)), &fixture.truth)?;
        let single = ocrs(&path, runs, Some(1))?;
        let default = ocrs(&path, runs, None)?;
        let tess = tesseract(&path, runs)?;
        let (ocrs_cer, tess_cer) = (cer(&fixture.truth, &single.text), cer(&fixture.truth, &tess.text));
        println!(
            "| {} | {}×{} | {:.0} | {:.0} | {:.0} | {:.2} | {:.3} | {:.3} | {:.0} | {:.0} |",
            fixture.name,
            fixture.image.width(),
            fixture.image.height(),
            single.millis,
            default.millis,
            tess.millis,
            single.millis / tess.millis,
            ocrs_cer,
            tess_cer,
            single.peak_rss_kib as f64 / 1024.0,
            tess.peak_rss_kib as f64 / 1024.0,
        );
        ocrs_ms += single.millis;
        tess_ms += tess.millis;
        let (e, n) = edits(&fixture.truth, &single.text);
        ocrs_edits += e;
        chars += n;
        tess_edits += edits(&fixture.truth, &tess.text).0;
        worst_rss = worst_rss.max(single.peak_rss_kib);
    }
    let (ocrs_cer, tess_cer) = (ocrs_edits / chars, tess_edits / chars);
    println!();
    println!(
        "total time: ocrs {ocrs_ms:.0} ms, tesseract {tess_ms:.0} ms → ratio ocrs/tesseract {:.2}",
        ocrs_ms / tess_ms
    );
    println!(
        "aggregate CER: ocrs {ocrs_cer:.4}, tesseract {tess_cer:.4} → ratio ocrs/tesseract {}",
        if tess_cer > 0.0 { format!("{:.2}", ocrs_cer / tess_cer) } else { "n/a (tesseract made no error)".into() }
    );
    println!("ocrs peak RSS (worst image): {:.0} MB", worst_rss as f64 / 1024.0);
    println!("fixtures and truths written to {}", out.display());
    Ok(())
}
