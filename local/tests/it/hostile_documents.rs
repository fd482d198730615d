//! PDFs that ask for far more than their size (decompression bombs of every
//! kind, forms that fan out to a billion draws) end as refused documents,
//! within the functions' time and memory, in the sandbox's child (this
//! package's `local` binary, which can be its own child as the Lambda
//! binaries can). Client-level: a hostile upload ends FAILED (or 422) with
//! its reason, and the next user's image is read as if nothing happened.

use std::time::{Duration, Instant};

use crate::common::{TestApp, assert_problem};
use imaging::ImageProblem;
use imaging::document::{DocumentInfo, DocumentKind, DocumentLimits, PdfReader, render_page};
use imaging::sandbox::{self, ChildProgram, Confinement};
use imaging::{hostile_pdfs, pdf_child};
use platform::config::{PDF_DRAWING, PDF_INSPECTION};
use reqwest::StatusCode;

fn child_program() -> ChildProgram {
    static PROGRAM: std::sync::OnceLock<ChildProgram> = std::sync::OnceLock::new();
    *PROGRAM.get_or_init(|| ChildProgram::new(env!("CARGO_BIN_EXE_local")))
}

/// The limits the jobs API opens a PDF under, and those the OCR worker
/// draws its pages under (the functions' own, `platform::config`).
fn inspection() -> DocumentLimits {
    DocumentLimits {
        pdf_reader: PdfReader::Confined(child_program()),
        confinement: PDF_INSPECTION,
        ..Default::default()
    }
}

fn drawing() -> DocumentLimits {
    DocumentLimits { pdf_reader: PdfReader::Confined(child_program()), confinement: PDF_DRAWING, ..Default::default() }
}

/// Each kind, inflating to half again the drawing child's memory.
fn bombs() -> Vec<(&'static str, Vec<u8>)> {
    let size = PDF_DRAWING.memory_bytes * 3 / 2;
    vec![
        ("content stream", hostile_pdfs::content_stream_bomb(size)),
        ("filter chain", hostile_pdfs::filter_chain_bomb(size)),
        ("image", hostile_pdfs::image_bomb(size)),
        ("object stream", hostile_pdfs::object_stream_bomb(size)),
        ("form fan-out", hostile_pdfs::form_fan_out(30)),
    ]
}

const PDF: DocumentInfo = DocumentInfo { kind: DocumentKind::Pdf, pages: 1 };

/// A refusal for asking too much, within the confinement's time (and a
/// little for starting and stopping the child) and memory.
fn assert_refused<T: std::fmt::Debug>(
    name: &str,
    (outcome, run): (Result<T, ImageProblem>, sandbox::ChildRun),
    confinement: Confinement,
) {
    println!("{name}: {outcome:?} after {:?}, peak {} MB", run.elapsed, run.peak_rss_bytes >> 20);
    assert!(matches!(outcome, Err(ImageProblem::TooDemanding(_))), "{name}: expected a refusal as too complex");
    assert!(run.elapsed < confinement.time + Duration::from_secs(2), "{name}: {run:?}");
    assert!(run.peak_rss_bytes <= confinement.memory_bytes, "{name}: {run:?}");
}

#[test]
fn every_kind_of_bomb_is_refused_within_the_childs_time_and_memory() {
    for (name, pdf) in bombs() {
        assert!(pdf.len() < 4 << 20, "{name} is under the direct upload limit: {} bytes", pdf.len());
        // Opening it, as the API does: only the object stream is inflated to
        // find the page.
        let opened = pdf_child::inspect(child_program(), &pdf, &inspection());
        if name == "object stream" {
            assert_refused(name, opened, PDF_INSPECTION);
            continue;
        }
        let (pages, run) = opened;
        assert_eq!(pages, Ok(1), "{name}: an honest page tree is opened");
        assert!(run.peak_rss_bytes <= PDF_INSPECTION.memory_bytes, "{name}: {run:?}");
        // Drawing it, as the worker does.
        let drawn = pdf_child::draw(child_program(), &pdf, 0, &drawing());
        assert_refused(name, (drawn.0.map(|page| page.dpi), drawn.1), PDF_DRAWING);
    }
}

#[test]
fn an_honest_page_is_drawn_in_the_child_as_in_process_and_says_what_that_costs() {
    let letter =
        image::GrayImage::from_fn(1700, 2200, |x, y| image::Luma([if (x / 40 + y / 30) % 7 == 0 { 0 } else { 255 }]));
    let scan = imaging::testing::scanned_pdf(&[letter], 200.0);
    let text = imaging::testing::text_pdf(&["Hello from the child"]);
    for (name, pdf) in [("text page", text), ("scanned page", scan)] {
        let (pages, opened) = pdf_child::inspect(child_program(), &pdf, &inspection());
        assert_eq!(pages, Ok(1), "{name}");
        let (drawn, run) = pdf_child::draw(child_program(), &pdf, 0, &drawing());
        let drawn = drawn.unwrap();
        // This test binary has no child of its own: render_page draws here.
        let started = Instant::now();
        let limits = DocumentLimits { pdf_reader: PdfReader::InProcess, ..drawing() };
        let here = render_page(&pdf, &PDF, 0, &limits).unwrap();
        let in_process = started.elapsed();
        assert_eq!(drawn.image.to_luma8(), here.image.to_luma8(), "{name}: the same pixels");
        assert_eq!(drawn.dpi, here.dpi, "{name}");
        println!(
            "{name}: opened in {:?} (child peak {} MB); drawn in {:?} (child peak {} MB) against {in_process:?} in process",
            opened.elapsed,
            opened.peak_rss_bytes >> 20,
            run.elapsed,
            run.peak_rss_bytes >> 20
        );
        assert!(opened.peak_rss_bytes < PDF_INSPECTION.memory_bytes, "{name}: {opened:?}");
        assert!(run.peak_rss_bytes < PDF_DRAWING.memory_bytes, "{name}: {run:?}");
    }
}

#[test]
fn the_child_can_reach_nothing_but_its_pipes() {
    // What a Lambda function's process holds: credentials in its
    // environment (these tests have the emulator's, set by ./dev test: the
    // environment is not changed here, other tests of this binary read it),
    // descriptors without close-on-exec.
    assert!(
        std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some() && std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "the tests run with AWS credentials in their environment (./dev test sets them)"
    );
    let mut leaked = [0; 2];
    // SAFETY: pipe writes two descriptors into the array given.
    assert_eq!(unsafe { libc::pipe(leaked.as_mut_ptr()) }, 0);
    let reach = sandbox::probe(child_program(), PDF_INSPECTION).expect("the child answers");
    println!("{reach:?}");
    assert!(!reach.environment.iter().any(|name| name.starts_with("AWS")), "{:?}", reach.environment);
    assert!(reach.descriptors.is_empty(), "inherited descriptors: {:?}", reach.descriptors);
    assert!(reach.no_new_privileges && reach.filtered, "{reach:?}");
    assert!(!reach.opened_a_file && !reach.opened_a_socket && !reach.started_a_process, "{reach:?}");
    assert!(reach.is_confined());
}

#[test]
fn text_layer_fan_outs_are_refused_within_the_childs_time_and_memory() {
    for (name, pdf, pages) in [
        ("one page of 2^20 glyphs", hostile_pdfs::glyph_fan_out(20, 1), 1),
        ("50 pages of 2^17 glyphs", hostile_pdfs::glyph_fan_out(17, 50), 50),
        // Under the cap, but drawn over each other: refused before drawing
        // on every CPU (drawing it fits the child's time on a fast one).
        ("2^14 glyphs at one place", hostile_pdfs::glyph_fan_out(14, 1), 1),
    ] {
        assert!(pdf.len() < 20 << 10, "{name}: {} bytes", pdf.len());
        let (counted, _) = pdf_child::inspect(child_program(), &pdf, &inspection());
        assert_eq!(counted, Ok(pages), "{name}");
        let drawn = pdf_child::draw(child_program(), &pdf, pages - 1, &drawing());
        assert_refused(name, (drawn.0.map(|page| page.dpi), drawn.1), PDF_DRAWING);
    }
}

#[tokio::test]
async fn hostile_uploads_fail_with_their_reason_and_the_next_image_is_read() {
    let app = TestApp::spawn_with(local::Options { run_ocr_worker: true, ..local::Options::for_test() }).await;
    let token = app.signed_up_user(&crate::common::unique_email()).await;
    let mut jobs = Vec::new();
    for (name, pdf) in bombs() {
        let started = Instant::now();
        let response = app.upload_raw(&token, "application/pdf", pdf).await;
        let took = started.elapsed();
        // The API function has 10 s.
        assert!(took < Duration::from_secs(8), "{name}: POST /ocr answered in {took:?}");
        if name == "object stream" {
            let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "document-too-complex").await;
            println!("{name}: {}", problem["detail"]);
            // Through a presigned URL only the worker opens it.
            let pdf = hostile_pdfs::object_stream_bomb(PDF_DRAWING.memory_bytes * 3 / 2);
            jobs.push((name, app.upload_presigned(&token, "application/pdf", pdf).await));
            continue;
        }
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{name}");
        let job: serde_json::Value = response.json().await.unwrap();
        jobs.push((name, job["job_id"].as_str().unwrap().to_owned()));
    }
    // Fifty pages that share a text-layer fan-out: refused at its first
    // page, not read page after page (nor started again in a loop).
    let fan_out = hostile_pdfs::glyph_fan_out(17, 50);
    jobs.push(("text-layer fan-out", app.upload_presigned(&token, "application/pdf", fan_out).await));
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let image = test_kit::paragraph("after", &font, 30.0, &["After the bombs"]).png();
    let response = app.upload_raw(&token, "image/png", image).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let honest: serde_json::Value = response.json().await.unwrap();
    for (name, id) in jobs {
        let job = app.finished_job(&token, &id).await;
        assert_eq!(job["status"], "FAILED", "{name}: {job}");
        let reason = job["error"].as_str().unwrap_or_default();
        assert!(reason.contains("too complex"), "{name}: {reason}");
    }
    let job = app.finished_job(&token, honest["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "DONE", "{job}");
}
