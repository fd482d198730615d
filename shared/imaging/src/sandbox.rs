//! PDFs are opened and drawn in a child process under a memory and a time
//! limit. A PDF can ask for far more than its size: a stream that inflates
//! to gigabytes, forms that draw each other a billion times. hayro has no
//! limits of its own, so the limits are the operating system's: the child
//! (this same program, started again) gets an address-space limit, and the
//! parent kills it at its deadline. What it cannot do ends as an
//! [`ImageProblem`]; the parent, its memory and its other work are untouched.
//!
//! A program that can be its own child calls [`serve_if_child`] first thing
//! in `main`. A process that has not (unit tests) opens PDFs in-process;
//! a test harness names a program that can with [`use_program`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ImageProblem;
use super::document::{DocumentInfo, DocumentLimits, RenderedPage};

/// Set in the child's environment: the one thing that makes a start of
/// this program a drawing child.
const CHILD_VARIABLE: &str = "OCR_DOCUMENT_SANDBOX_CHILD";
/// The child's address-space limit, in bytes (set in its environment so
/// that it applies before the child reads anything).
const MEMORY_VARIABLE: &str = "OCR_DOCUMENT_SANDBOX_MEMORY";
/// A program, its drawing answer and its failure text are read up to this.
const MAX_STDERR_BYTES: u64 = 8 * 1024;

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// How much a PDF may take to be opened or drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// The child's address space (not only what it touches: mappings of the
    /// program itself count too).
    pub memory_bytes: u64,
    pub time: Duration,
}

impl Confinement {
    /// Opening a PDF to count and measure its pages, in the API (whose
    /// function has 256 MB and 10 s).
    pub const INSPECTION: Self = Self { memory_bytes: 160 << 20, time: Duration::from_secs(4) };
    /// Drawing a page in the OCR worker (1769 MB, 60 s; an honest page is
    /// drawn in well under a second).
    pub const DRAWING: Self = Self { memory_bytes: 1 << 30, time: Duration::from_secs(10) };
}

/// In `main`, before anything else: in a child, does the work asked on
/// stdin and exits; otherwise records that this program can be its own
/// child, and returns.
pub fn serve_if_child() {
    if std::env::var_os(CHILD_VARIABLE).is_none() {
        if let Ok(program) = std::env::current_exe() {
            use_program(program);
        }
        return;
    }
    std::process::exit(child::main());
}

/// Opens and draws PDFs with `program`, which must call [`serve_if_child`]
/// first thing. The first program named wins.
pub fn use_program(program: impl Into<PathBuf>) {
    let _ = PROGRAM.set(program.into());
}

fn program() -> Option<&'static Path> {
    PROGRAM.get().map(PathBuf::as_path)
}

/// What the parent asks of the child.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Inspect { limits: WireLimits },
    Draw { info: WireInfo, page: u32, limits: WireLimits },
}

/// The child's answer, followed for a drawn page by its grey pixels.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Inspected { pages: u32 },
    Drawn { width: u32, height: u32, dpi: f32, text_layer: Option<Vec<super::text_layer::LayerLine>> },
    Refused(WireProblem),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct WireLimits {
    max_pixels: u64,
    max_pages: u32,
    pdf_dpi: f32,
}

impl From<&DocumentLimits> for WireLimits {
    fn from(l: &DocumentLimits) -> Self {
        Self { max_pixels: l.max_pixels, max_pages: l.max_pages, pdf_dpi: l.pdf_dpi }
    }
}

impl From<WireLimits> for DocumentLimits {
    fn from(l: WireLimits) -> Self {
        // The child is confined already and opens the PDF itself.
        Self { max_pixels: l.max_pixels, max_pages: l.max_pages, pdf_dpi: l.pdf_dpi, ..Default::default() }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct WireInfo {
    pages: u32,
}

/// [`ImageProblem`] as it crosses the pipe.
#[derive(Debug, Serialize, Deserialize)]
enum WireProblem {
    Unreadable(String),
    Corrupt(String),
    TooManyPixels { width: u32, height: u32, pixels: u64, limit: u64 },
    Encrypted,
    TooManyPages { limit: u32 },
    PageTooLarge { page: u32, width_pt: u32, height_pt: u32 },
    Other(String),
}

impl From<ImageProblem> for WireProblem {
    fn from(p: ImageProblem) -> Self {
        match p {
            ImageProblem::Unreadable(why) => Self::Unreadable(why),
            ImageProblem::Corrupt(why) => Self::Corrupt(why),
            ImageProblem::TooManyPixels { width, height, pixels, limit } => {
                Self::TooManyPixels { width, height, pixels, limit }
            }
            ImageProblem::Encrypted => Self::Encrypted,
            ImageProblem::TooManyPages { limit } => Self::TooManyPages { limit },
            ImageProblem::PageTooLarge { page, width_pt, height_pt } => {
                Self::PageTooLarge { page, width_pt, height_pt }
            }
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<WireProblem> for ImageProblem {
    fn from(p: WireProblem) -> Self {
        match p {
            WireProblem::Unreadable(why) => Self::Unreadable(why),
            WireProblem::Corrupt(why) | WireProblem::Other(why) => Self::Corrupt(why),
            WireProblem::TooManyPixels { width, height, pixels, limit } => {
                Self::TooManyPixels { width, height, pixels, limit }
            }
            WireProblem::Encrypted => Self::Encrypted,
            WireProblem::TooManyPages { limit } => Self::TooManyPages { limit },
            WireProblem::PageTooLarge { page, width_pt, height_pt } => Self::PageTooLarge { page, width_pt, height_pt },
        }
    }
}

/// How a child's run went, for tests and benches.
#[derive(Debug, Clone, Copy)]
pub struct ChildRun {
    pub elapsed: Duration,
    /// The child's peak resident memory.
    pub peak_rss_bytes: u64,
}

/// [`super::document::inspect_document`] of a PDF, in a child when this
/// process has one.
pub(super) fn inspect_pdf(
    bytes: &[u8],
    limits: &DocumentLimits,
    confinement: Confinement,
) -> Option<Result<u32, ImageProblem>> {
    Some(inspect_with(program()?, bytes, limits, confinement).0)
}

/// [`super::document::render_page`] of a PDF's page, in a child when this
/// process has one.
pub(super) fn draw_pdf_page(
    bytes: &[u8],
    info: &DocumentInfo,
    index: u32,
    limits: &DocumentLimits,
    confinement: Confinement,
) -> Option<Result<RenderedPage, ImageProblem>> {
    Some(draw_with(program()?, bytes, info, index, limits, confinement).0)
}

/// Opens the PDF with `program` to count and measure its pages, and says
/// what the child took (tests and benches hold the limits to account).
pub fn inspect_with(
    program: &Path,
    bytes: &[u8],
    limits: &DocumentLimits,
    confinement: Confinement,
) -> (Result<u32, ImageProblem>, ChildRun) {
    let (answer, run) = ask(program, &Request::Inspect { limits: limits.into() }, bytes, confinement, "opened");
    let pages = answer.and_then(|(answer, _)| match answer {
        Answer::Inspected { pages } => Ok(pages),
        Answer::Refused(problem) => Err(problem.into()),
        Answer::Drawn { .. } => Err(protocol("an answer to another question")),
    });
    (pages, run)
}

/// Draws page `index` with `program` (see [`inspect_with`]).
pub fn draw_with(
    program: &Path,
    bytes: &[u8],
    info: &DocumentInfo,
    index: u32,
    limits: &DocumentLimits,
    confinement: Confinement,
) -> (Result<RenderedPage, ImageProblem>, ChildRun) {
    let request = Request::Draw { info: WireInfo { pages: info.pages }, page: index, limits: limits.into() };
    let (answer, run) = ask(program, &request, bytes, confinement, "drawn");
    let page = answer.and_then(|(answer, pixels)| match answer {
        Answer::Drawn { width, height, dpi, text_layer } => {
            let image = image::GrayImage::from_raw(width, height, pixels)
                .ok_or_else(|| protocol("fewer pixels than the page's size"))?;
            let image = image::DynamicImage::ImageLuma8(image);
            Ok(RenderedPage { image, dpi, orientation_applied: None, text_layer })
        }
        Answer::Refused(problem) => Err(problem.into()),
        Answer::Inspected { .. } => Err(protocol("an answer to another question")),
    });
    (page, run)
}

fn protocol(what: &str) -> ImageProblem {
    ImageProblem::Corrupt(format!("the PDF reader answered with {what}"))
}

/// Runs one request in a child: the request as a JSON line, then the
/// document on stdin; the answer as a JSON line, then any pixels, on stdout.
fn ask(
    program: &Path,
    request: &Request,
    bytes: &[u8],
    confinement: Confinement,
    what: &str,
) -> (Result<(Answer, Vec<u8>), ImageProblem>, ChildRun) {
    let started = Instant::now();
    let crashed = |why: String| ImageProblem::Corrupt(format!("the PDF could not be {what}: {why}"));
    let spawned = Command::new(program)
        .env(CHILD_VARIABLE, "1")
        .env(MEMORY_VARIABLE, confinement.memory_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let run = ChildRun { elapsed: started.elapsed(), peak_rss_bytes: 0 };
            return (Err(crashed(format!("the PDF reader did not start: {e}"))), run);
        }
    };
    let header = serde_json::to_vec(request).expect("a request serializes");
    let (mut stdin, mut stdout, stderr) =
        (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let (ended, output, failure) = std::thread::scope(|scope| {
        scope.spawn(move || {
            // The child may exit before reading it all: a broken pipe is its
            // answer, read below, not an error here.
            let _ =
                stdin.write_all(&header).and_then(|()| stdin.write_all(b"\n")).and_then(|()| stdin.write_all(bytes));
        });
        let output = scope.spawn(move || {
            let mut output = Vec::new();
            stdout.read_to_end(&mut output).map(|_| output)
        });
        let failure = scope.spawn(move || {
            let mut text = String::new();
            let _ = stderr.take(MAX_STDERR_BYTES).read_to_string(&mut text);
            text
        });
        let deadline = started + confinement.time;
        let ended = loop {
            match reap(&child, libc::WNOHANG) {
                Ok(Some((status, peak))) => break Ok((Ok(status), peak)),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let peak = reap(&child, 0).ok().flatten().map_or(0, |(_, peak)| peak);
                    let too_long = ImageProblem::TooDemanding(format!(
                        "it takes more than {} s to be {what}",
                        confinement.time.as_secs_f32()
                    ));
                    break Ok((Err(too_long), peak));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => break Err(crashed(e.to_string())),
            }
        };
        (ended, output.join(), failure.join().unwrap_or_default())
    });
    let (status, peak_rss_bytes) = match ended {
        Ok(ended) => ended,
        Err(problem) => return (Err(problem), ChildRun { elapsed: started.elapsed(), peak_rss_bytes: 0 }),
    };
    let run = ChildRun { elapsed: started.elapsed(), peak_rss_bytes };
    let answer = status.and_then(|status| {
        if !status.success() {
            return Err(failed_child(status, &failure, confinement, what));
        }
        let Ok(Ok(output)) = output else {
            return Err(crashed("its answer could not be read".into()));
        };
        let end = output.iter().position(|&b| b == b'\n').ok_or_else(|| protocol("no answer"))?;
        let answer = serde_json::from_slice(&output[..end]).map_err(|_| protocol("something unreadable"))?;
        Ok((answer, output[end + 1..].to_vec()))
    });
    (answer, run)
}

/// Why a child that did not answer failed.
fn failed_child(status: ExitStatus, stderr: &str, confinement: Confinement, what: &str) -> ImageProblem {
    if stderr.contains("memory allocation of") {
        return ImageProblem::TooDemanding(format!(
            "it needs more than {} MB of memory to be {what}",
            confinement.memory_bytes >> 20
        ));
    }
    let last_line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
    tracing::warn!(%status, stderr = last_line, "the PDF reader failed");
    ImageProblem::Corrupt(format!("the PDF could not be {what}: the PDF reader failed ({status})"))
}

/// The child's exit status and peak resident memory once it has exited
/// (`wait4`: `Child::try_wait` does not say what the child used).
fn reap(child: &std::process::Child, options: libc::c_int) -> std::io::Result<Option<(ExitStatus, u64)>> {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    // SAFETY: wait4 writes the status and the usage into the values given.
    let (pid, usage) = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        let pid = libc::wait4(child.id() as libc::pid_t, &mut status, options, &mut usage);
        (pid, usage)
    };
    match pid {
        -1 => Err(std::io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some((ExitStatus::from_raw(status), (usage.ru_maxrss.max(0) as u64) * 1024))),
    }
}

mod child {
    use super::*;

    /// The child's whole life: limits first, then the one request.
    pub(super) fn main() -> i32 {
        let memory = std::env::var(MEMORY_VARIABLE).ok().and_then(|m| m.parse::<u64>().ok());
        confine(memory);
        let mut input = Vec::new();
        if std::io::stdin().read_to_end(&mut input).is_err() {
            return 2;
        }
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return 2;
        };
        let Ok(request) = serde_json::from_slice::<Request>(&input[..end]) else {
            return 2;
        };
        let bytes = &input[end + 1..];
        let (answer, pixels) = match request {
            Request::Inspect { limits } => match super::super::document::inspect_pdf_here(bytes, &limits.into()) {
                Ok(pages) => (Answer::Inspected { pages }, Vec::new()),
                Err(problem) => (Answer::Refused(problem.into()), Vec::new()),
            },
            Request::Draw { info, page, limits } => {
                let info = DocumentInfo { kind: super::super::document::DocumentKind::Pdf, pages: info.pages };
                match super::super::document::draw_pdf_page_here(bytes, &info, page, &limits.into()) {
                    Ok(drawn) => {
                        let gray = drawn.image.into_luma8();
                        let (width, height, dpi) = (gray.width(), gray.height(), drawn.dpi);
                        let answer = Answer::Drawn { width, height, dpi, text_layer: drawn.text_layer };
                        (answer, gray.into_raw())
                    }
                    Err(problem) => (Answer::Refused(problem.into()), Vec::new()),
                }
            }
        };
        let mut out = std::io::stdout().lock();
        let header = serde_json::to_vec(&answer).expect("an answer serializes");
        let written = out.write_all(&header).and_then(|()| out.write_all(b"\n")).and_then(|()| out.write_all(&pixels));
        if written.and_then(|()| out.flush()).is_err() { 3 } else { 0 }
    }

    /// The address-space limit, and death with the parent.
    fn confine(memory: Option<u64>) {
        // SAFETY: setrlimit and prctl only read the values given.
        unsafe {
            if let Some(bytes) = memory {
                let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
                libc::setrlimit(libc::RLIMIT_AS, &limit);
            }
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
    }
}
