//! Documents end to end: a 10-page PDF and a 3-page TIFF through the
//! presigned route, read page by page (with progress, handed on between
//! invocations when the deadline comes), each page's text against its
//! truth; every output format checked (hOCR parsed, the searchable PDF's
//! text extracted with pdftotext); hostile documents refused or failed with
//! their reason.

use std::time::{Duration, Instant};

use crate::common::{TestApp, assert_problem, unique_email};
use imaging::testing::{multipage_tiff, scanned_pdf};
use local::Options;
use reqwest::StatusCode;
use serde_json::Value;
use test_kit::{self, Fixture};

const MAX_PAGE_CER: f64 = 0.05;

async fn spawn_with_ocr() -> TestApp {
    TestApp::spawn_with(Options { run_ocr_worker: true, ..Options::for_test() }).await
}

/// Polls the job until it is finished; returns it and every (status,
/// `pages_done`) seen on the way.
async fn watch(app: &TestApp, token: &str, id: &str) -> (Value, Vec<(String, u64)>) {
    let (job, seen, _) = watch_with_kept_pages(app, token, id).await;
    (job, seen)
}

/// Polls the job until it ends: its (status, pages done) as they changed,
/// and the most pages the worker was seen keeping between invocations.
async fn watch_with_kept_pages(app: &TestApp, token: &str, id: &str) -> (Value, Vec<(String, u64)>, usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut most_kept = 0;
    loop {
        let job: Value = app.get_with_token(&format!("/jobs/{id}"), token).await.json().await.unwrap();
        let now = (job["status"].as_str().unwrap_or_default().to_owned(), job["pages_done"].as_u64().unwrap_or(0));
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        if job["status"] == "DONE" || job["status"] == "FAILED" {
            return (job, seen, most_kept);
        }
        let kept = app.system.clients.s3().list_objects_v2().bucket(&bucket).prefix(format!("results/{id}/pages/"));
        let kept = kept.send().await.unwrap();
        most_kept =
            most_kept.max(kept.contents().iter().filter(|o| o.key().is_some_and(|k| k.ends_with(".json"))).count());
        assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An OCR worker that hands a document on after every four pages.
fn four_pages_a_turn() -> Options {
    let mut options = Options { run_ocr_worker: true, ..Options::for_test() };
    options.parameters.insert("OcrPagesPerInvocation".into(), "4".into());
    options
}

fn letter_pages(count: u32, width: u32, height: u32, px: f32) -> Vec<Fixture> {
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    (1..=count).map(|n| test_kit::letter_page(&font, width, height, px, n, 12)).collect()
}

fn gray(pages: &[Fixture]) -> Vec<image::GrayImage> {
    pages.iter().map(|p| image::DynamicImage::ImageRgb8(p.image.clone()).into_luma8()).collect()
}

#[track_caller]
fn assert_pages_read(pages: &[Fixture], texts: &[&str]) {
    assert_eq!(texts.len(), pages.len(), "one text per page");
    for (page, text) in pages.iter().zip(texts) {
        let cer = test_kit::cer(&page.truth, text);
        assert!(cer <= MAX_PAGE_CER, "{}: CER {cer:.3}\nexpected:\n{}\ngot:\n{text}", page.name, page.truth);
    }
}

#[tokio::test]
async fn a_ten_page_pdf_and_a_three_page_tiff_are_read_page_by_page_in_every_format() {
    // Four pages a turn: the PDF is handed on through the queue twice, its
    // pages kept in S3 meanwhile, however fast this CPU reads.
    let app = TestApp::spawn_with(four_pages_a_turn()).await;
    let token = app.signed_up_user(&unique_email()).await;

    // US Letter scanned at 300 dpi, 10 pt text.
    let pdf_pages = letter_pages(10, 2550, 3300, 42.0);
    let pdf = scanned_pdf(&gray(&pdf_pages), 300.0);
    let pdf_job = app.upload_presigned(&token, "application/pdf", pdf).await;
    // A fax: 200 dpi, 12 pt text.
    let tiff_pages = letter_pages(3, 1700, 2200, 33.0);
    let tiff_job = app.upload_presigned(&token, "image/tiff", multipage_tiff(&gray(&tiff_pages))).await;

    for (id, pages) in [(&pdf_job, &pdf_pages), (&tiff_job, &tiff_pages)] {
        let (job, progress, most_kept) = watch_with_kept_pages(&app, &token, id).await;
        assert_eq!(job["status"], "DONE", "{job}");
        let total = pages.len() as u64;
        assert_eq!((job["pages_total"].as_u64(), job["pages_done"].as_u64()), (Some(total), Some(total)));
        if total > 4 {
            assert!(progress.iter().any(|(_, d)| *d > 0 && *d < total), "progress seen on the way: {progress:?}");
            // Handed on: pages kept for the next invocation, and never the
            // last turn's (8 at most).
            assert!((1..=8).contains(&most_kept), "pages kept between invocations: {most_kept}; {progress:?}");
        } else {
            assert_eq!(most_kept, 0, "read in one invocation, nothing kept");
        }
        let result = &job["result"];
        let texts: Vec<String> = result["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["text"].as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        assert_pages_read(pages, &texts.iter().map(String::as_str).collect::<Vec<_>>());
        for page in result["pages"].as_array().unwrap() {
            let words = page["lines"].as_array().unwrap().iter().flat_map(|l| l["words"].as_array().unwrap().clone());
            for word in words {
                let (b, w, h) = (&word["bbox"], page["width"].as_i64().unwrap(), page["height"].as_i64().unwrap());
                assert!(
                    b["x"].as_i64().unwrap() >= 0 && b["x"].as_i64().unwrap() + b["width"].as_i64().unwrap() <= w + 2
                );
                assert!(
                    b["y"].as_i64().unwrap() >= 0 && b["y"].as_i64().unwrap() + b["height"].as_i64().unwrap() <= h + 2
                );
                assert!((0.0..=1.0).contains(&word["confidence"].as_f64().unwrap()));
            }
        }

        // Plain text: the pages, separated by form feeds.
        let text = result_as(&app, &token, id, "text").await;
        assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
        let text = text.text().await.unwrap();
        assert_pages_read(pages, &text.trim_end().split('\u{c}').collect::<Vec<_>>());

        // JSON: the model, as in the job.
        let json: Value = result_as(&app, &token, id, "json").await.json().await.unwrap();
        assert_eq!(&json, result);

        // hOCR: parsed, its pages, lines and words with boxes and confidences.
        let hocr = result_as(&app, &token, id, "hocr").await.text().await.unwrap();
        let texts = hocr_page_texts(&hocr);
        assert_pages_read(pages, &texts.iter().map(String::as_str).collect::<Vec<_>>());

        // The searchable PDF: its text layer, extracted, in order.
        let response = result_as(&app, &token, id, "pdf").await;
        assert_eq!(response.status(), StatusCode::OK, "the download URL it redirects to");
        let searchable = response.bytes().await.unwrap();
        let extracted = pdftotext(&searchable);
        assert_pages_read(pages, &extracted.trim_end_matches('\u{c}').split('\u{c}').collect::<Vec<_>>());
    }
}

/// Batches led by long documents, with invocations too short to start
/// anything after them: the images behind go back to the queue as new
/// messages, again and again, and are each read exactly once; none is
/// dead-lettered (reported for redelivery instead, each would count a
/// receive, and after three batches behind a document be parked unread).
#[tokio::test]
async fn images_behind_long_documents_are_read_once_and_never_dead_lettered() {
    // The worker's log (records sent back, jobs read) shows with a failure.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("sqs_host=info,domain=info,imaging=info,ocr_worker=info")
        .with_test_writer()
        .try_init();
    let options =
        Options { worker_timeout: Some(Duration::from_secs(22)), max_pollers: Some(1), ..Options::for_test() };
    let mut app = TestApp::spawn_with(options.clone()).await;
    let token = app.signed_up_user(&unique_email()).await;
    app.drain_emails(Duration::from_millis(100)).await;
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let mut images = Vec::new();
    let mut documents = Vec::new();
    // The queue filled first: document, four images, document, four images.
    for round in 0..2 {
        let pages = letter_pages(4, 1700, 2200, 33.0);
        documents.push(app.upload_presigned(&token, "application/pdf", scanned_pdf(&gray(&pages), 200.0)).await);
        for i in 0..4 {
            let line = format!("Image {round}{i} waits behind a document");
            let fixture = test_kit::paragraph("waiting", &font, 28.0, &[&line]);
            let accepted = app.upload_raw(&token, "image/png", fixture.png()).await;
            assert_eq!(accepted.status(), StatusCode::ACCEPTED);
            let id = accepted.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
            images.push((id, line));
        }
    }
    app.system.start_ocr_worker(&options).unwrap();

    for (id, line) in &images {
        let (job, _) = watch(&app, &token, id).await;
        assert_eq!(job["status"], "DONE", "{job}");
        let text = job["result"]["text"].as_str().unwrap();
        assert!(test_kit::cer(line, text) <= MAX_PAGE_CER, "{text:?} for {line:?}");
    }
    for id in &documents {
        assert_eq!(watch(&app, &token, id).await.0["status"], "DONE");
    }
    let mails = app.drain_emails(Duration::from_secs(2)).await;
    for (id, _) in &images {
        let results = mails.iter().filter(|m| m.job_id() == Some(id.as_str())).count();
        assert_eq!(results, 1, "job {id} was finished {results} times");
    }
    assert!(app.parked("OcrJobsDeadLetterQueue", 1).await.is_empty(), "nothing dead-lettered");
}

/// A document deleted while it is being read: the pages its worker keeps
/// between invocations, written after the deletion, go too.
#[tokio::test]
async fn a_document_deleted_while_it_is_read_leaves_nothing_behind() {
    let app = TestApp::spawn_with(four_pages_a_turn()).await;
    let token = app.signed_up_user(&unique_email()).await;
    // As in the test above: read four pages at a time.
    let pages = letter_pages(10, 2550, 3300, 42.0);
    let id = app.upload_presigned(&token, "application/pdf", scanned_pdf(&gray(&pages), 300.0)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = app.get_with_token(&format!("/jobs/{id}"), &token).await.json().await.unwrap();
        if job["status"] == "PROCESSING" {
            break;
        }
        assert!(Instant::now() < deadline, "never PROCESSING: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deleted = app.send_with_token(reqwest::Method::DELETE, &format!("/jobs/{id}"), &token, Value::Null).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // The worker reads on to the end of its turn, keeps its pages and
    // finds the job gone.
    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut clean_since = None;
    loop {
        let objects = app.system.clients.s3().list_objects_v2().bucket(&bucket).send().await.unwrap();
        let left: Vec<String> =
            objects.contents().iter().filter_map(|o| o.key()).filter(|k| k.contains(&id)).map(str::to_owned).collect();
        // Clean, and still clean once the worker's invocation is over.
        match (left.is_empty(), clean_since) {
            (true, Some(since)) if Instant::now() - since > Duration::from_secs(25) => break,
            (true, None) => clean_since = Some(Instant::now()),
            (false, _) => clean_since = None,
            _ => {}
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn result_as(app: &TestApp, token: &str, id: &str, format: &str) -> reqwest::Response {
    let response = app.get_with_token(&format!("/jobs/{id}/result?format={format}"), token).await;
    assert!(response.status().is_success(), "format {format}: {}", response.status());
    response
}

/// Each `ocr_page`'s words, line by line, after checking the hOCR classes
/// and properties a reader relies on.
fn hocr_page_texts(hocr: &str) -> Vec<String> {
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    let document = roxmltree::Document::parse_with_options(hocr, options).expect("hOCR is well-formed XHTML");
    let class = |n: &roxmltree::Node, c: &str| n.attribute("class") == Some(c);
    let bbox = |n: &roxmltree::Node| -> [i64; 4] {
        let title = n.attribute("title").unwrap_or_default();
        let spec = title.split(';').find_map(|p| p.trim().strip_prefix("bbox ")).expect("a bbox");
        let v: Vec<i64> = spec.split_whitespace().map(|n| n.parse().unwrap()).collect();
        assert!(v.len() == 4 && v[0] <= v[2] && v[1] <= v[3], "{title}");
        [v[0], v[1], v[2], v[3]]
    };
    let mut texts = Vec::new();
    for page in document.descendants().filter(|n| class(n, "ocr_page")) {
        let page_box = bbox(&page);
        let mut lines = Vec::new();
        for line in page.descendants().filter(|n| class(n, "ocr_line")) {
            let mut words = Vec::new();
            for word in line.descendants().filter(|n| class(n, "ocrx_word")) {
                let b = bbox(&word);
                assert!(b[2] <= page_box[2] + 2 && b[3] <= page_box[3] + 2, "a word inside its page");
                let title = word.attribute("title").unwrap();
                let wconf: u32 = title.split("x_wconf ").nth(1).expect("x_wconf").trim().parse().unwrap();
                assert!(wconf <= 100);
                words.push(word.text().unwrap_or_default().to_owned());
            }
            lines.push(words.join(" "));
        }
        texts.push(lines.join("\n"));
    }
    texts
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("searchable.pdf");
    std::fs::write(&path, pdf).unwrap();
    // -raw: the text in the order the layer stores it (reading order), not
    // re-flowed by pdftotext's column guessing.
    let output = std::process::Command::new("pdftotext")
        .arg("-raw")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext runs (apt-get install poppler-utils; .ci/run installs it)");
    assert!(output.status.success(), "pdftotext: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A PDF with an /Encrypt dictionary whose user password is not empty.
fn encrypted_pdf() -> Vec<u8> {
    let mut pdf = scanned_pdf(&[image::GrayImage::from_pixel(20, 20, image::Luma([255]))], 72.0);
    let find = |from: usize, what: &[u8]| pdf[from..].windows(what.len()).position(|w| w == what).map(|p| p + from);
    let trailer = (0..pdf.len()).rev().find(|&i| pdf[i..].starts_with(b"trailer")).expect("a trailer");
    let dict = find(trailer, b"<<").unwrap() + 2;
    let encrypt = format!(
        " /Encrypt << /Filter /Standard /V 1 /R 2 /O <{o}> /U <{u}> /P -4 >> /ID [<{id}> <{id}>] ",
        o = "01".repeat(32),
        u = "02".repeat(32),
        id = "03".repeat(16)
    );
    pdf.splice(dict..dict, encrypt.into_bytes());
    pdf
}

#[tokio::test]
async fn hostile_documents_get_a_clear_answer_and_never_a_crashed_worker() {
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let blank = |n: usize| vec![image::GrayImage::from_pixel(20, 20, image::Luma([255])); n];

    // Refused at upload, with the reason.
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("51 pages", scanned_pdf(&blank(51), 72.0), StatusCode::UNPROCESSABLE_ENTITY, "too-many-pages"),
        ("51 TIFF pages", multipage_tiff(&blank(51)), StatusCode::UNPROCESSABLE_ENTITY, "too-many-pages"),
        ("a password", encrypted_pdf(), StatusCode::UNPROCESSABLE_ENTITY, "encrypted-document"),
        (
            "garbage after the header",
            b"%PDF-1.7\n1 0 obj << /Type".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unreadable-image",
        ),
        // 300 × 300 inches.
        (
            "a huge page",
            scanned_pdf(&blank(1), 20.0 * 72.0 / 21_600.0),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image-too-large",
        ),
    ];
    for (what, body, status, kind) in cases {
        let response = app.upload_raw(&token, "application/pdf", body).await;
        let problem = assert_problem(response, status, kind).await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what}");
    }

    // Through the presigned route the bytes are seen only by the worker:
    // the job ends FAILED with the same reason, once, and nothing is retried.
    let id = app.upload_presigned(&token, "application/pdf", scanned_pdf(&blank(51), 72.0)).await;
    let (job, _) = watch(&app, &token, &id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job["error"].as_str().unwrap().contains("more than 50 pages"), "{job}");
    let id = app.upload_presigned(&token, "application/pdf", encrypted_pdf()).await;
    let (job, _) = watch(&app, &token, &id).await;
    assert!(job["error"].as_str().unwrap().contains("password"), "{job}");

    // A result is only for a DONE job.
    let not_done = app.get_with_token(&format!("/jobs/{id}/result?format=text"), &token).await;
    assert_problem(not_done, StatusCode::CONFLICT, "job-not-done").await;
    let bad_format = app.get_with_token(&format!("/jobs/{id}/result?format=docx"), &token).await;
    assert_problem(bad_format, StatusCode::BAD_REQUEST, "invalid-query").await;
    let nobody = app.get_with_token(&format!("/jobs/{}/result", uuid::Uuid::now_v7()), &token).await;
    assert_problem(nobody, StatusCode::NOT_FOUND, "not-found").await;

    // The worker is still there: a good document after the bad ones.
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let page = test_kit::paragraph("after", &font, 30.0, &["Still reading"]);
    let pdf = scanned_pdf(&gray(std::slice::from_ref(&page)), 150.0);
    let response = app.upload_raw(&token, "application/pdf", pdf).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let (job, _) = watch(&app, &token, &id).await;
    assert_eq!(job["status"], "DONE", "{job}");
    assert!(test_kit::cer(&page.truth, job["result"]["text"].as_str().unwrap()) <= MAX_PAGE_CER, "{job}");
}

/// A page scanned sideways, one upside down and skewed, and a photo turned
/// a quarter: each read as if upright, its result saying what was done,
/// its hOCR and searchable PDF those of the page as turned.
#[tokio::test]
async fn pages_scanned_sideways_upside_down_or_skewed_are_read_upright() {
    use imaging::straighten::turned_by;
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let pages = letter_pages(3, 1000, 1300, 24.0);
    let turned: Vec<image::DynamicImage> = pages
        .iter()
        .zip([90.0f32, 184.0, -5.0])
        .map(|(page, turn)| {
            turned_by(&image::DynamicImage::ImageLuma8(gray(std::slice::from_ref(page)).remove(0)), turn)
        })
        .collect();
    let expected = [(270u64, 0.0f64), (180, 4.0), (0, -5.0)];

    // A scanned PDF through a presigned upload.
    let scans: Vec<image::GrayImage> = turned.iter().map(|page| page.to_luma8()).collect();
    let id = app.upload_presigned(&token, "application/pdf", scanned_pdf(&scans, 150.0)).await;
    let (job, _) = watch(&app, &token, &id).await;
    assert_eq!(job["status"], "DONE", "{job}");
    let result = &job["result"];
    for (page, (rotation, skew)) in result["pages"].as_array().unwrap().iter().zip(expected) {
        assert_eq!(page["rotation"].as_u64(), Some(rotation), "page {}", page["page"]);
        let found = page["skew_degrees"].as_f64().unwrap();
        assert!((found - skew).abs() <= 0.5, "page {}: skew {found}, expected {skew}", page["page"]);
    }
    let first = &result["pages"][0];
    assert!(first["width"].as_u64() > first["height"].as_u64().map(|h| h / 2), "{first}");
    let texts: Vec<String> = result["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["lines"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect::<Vec<_>>().join("\n")
        })
        .collect();
    assert_pages_read(&pages, &texts.iter().map(String::as_str).collect::<Vec<_>>());
    let hocr = result_as(&app, &token, &id, "hocr").await.text().await.unwrap();
    assert_pages_read(&pages, &hocr_page_texts(&hocr).iter().map(String::as_str).collect::<Vec<_>>());
    let pdf = result_as(&app, &token, &id, "pdf").await.bytes().await.unwrap();
    let layer = pdftotext(&pdf);
    assert_pages_read(&pages, &layer.trim_end_matches('\u{c}').split('\u{c}').collect::<Vec<_>>());

    // A photo turned a quarter, through POST /ocr: boxes in the turned page.
    let mut png = std::io::Cursor::new(Vec::new());
    turned[0].write_to(&mut png, image::ImageFormat::Png).unwrap();
    let response = app.upload_raw(&token, "image/png", png.into_inner()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let (job, _) = watch(&app, &token, &id).await;
    let page = &job["result"]["pages"][0];
    assert_eq!(page["rotation"], 270, "{page}");
    // Uploaded 1300 wide and 1000 high; read 1000 wide and 1300 high.
    assert_eq!((page["width"].as_u64(), page["height"].as_u64()), (Some(1000), Some(1300)));
    for line in page["lines"].as_array().unwrap() {
        let b = &line["bbox"];
        assert!(b["x"].as_i64().unwrap() + b["width"].as_i64().unwrap() <= 1002, "{line}");
        assert!(b["width"].as_i64() > b["height"].as_i64(), "lines run across the turned page: {line}");
    }
    assert_pages_read(&pages[..1], &[job["result"]["text"].as_str().unwrap()]);
}

/// Born-digital pages are read from their own text, exactly; pages whose
/// text is not to be trusted (another tool's invisible OCR layer, a font
/// without Unicode, a scan with a stamp) and scans are read by OCR; a
/// mixed document page by page; `ocr=always` reads every page by OCR.
#[tokio::test]
async fn a_pdf_pages_own_text_is_used_when_it_can_be_trusted() {
    use imaging::text_layer::testing::{Setting, text_page};
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let lines = ["Invoice 2026-117 for Ada Lovelace", "Total due: 1,250.00 EUR by 31 December"];
    let truth = lines.join("\n");
    let submit = |path: &'static str, pdf: Vec<u8>| {
        let (app, token) = (&app, &token);
        async move {
            let response = app
                .http
                .post(app.url(path))
                .bearer_auth(token)
                .header("content-type", "application/pdf")
                .body(pdf)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED, "{path}");
            let id = response.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
            let (job, _) = watch(app, token, &id).await;
            assert_eq!(job["status"], "DONE", "{job}");
            job["result"].clone()
        }
    };

    // Born digital: its own text, exact, at confidence 1, boxes on the page.
    let result = submit("/ocr", text_page(&lines, Setting::Plain)).await;
    let page = &result["pages"][0];
    assert_eq!(page["source"], "text", "{page}");
    assert!(page.get("source_reason").is_none(), "{page}");
    assert_eq!(result["text"], truth);
    assert_eq!(result["engine"]["name"], "pdf-text-layer");
    for line in page["lines"].as_array().unwrap() {
        assert_eq!(line["confidence"], 1.0);
        let b = &line["bbox"];
        assert!(b["x"].as_i64().unwrap() >= 190 && b["y"].as_i64().unwrap() > 150, "{line}");
        assert!(b["x"].as_i64().unwrap() + b["width"].as_i64().unwrap() <= page["width"].as_i64().unwrap());
    }

    // Asked for OCR: the same page read by the engine, which is not exact
    // (it read "1.250.00 FUR" and a stray "17": why the text is used).
    let result = submit("/ocr?ocr=always", text_page(&lines, Setting::Plain)).await;
    assert_eq!(result["pages"][0]["source"], "ocr");
    assert_eq!(result["pages"][0]["source_reason"], "ocr-requested");
    assert!(test_kit::cer(&truth, result["text"].as_str().unwrap()) <= 0.15, "{result}");
    let bad = app.http.post(app.url("/ocr?ocr=never")).bearer_auth(&token).body(vec![1u8]).send().await.unwrap();
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid-query").await;

    // Text not to be trusted: read by OCR. (What OCR finds on these
    // synthetic pages is little: a blank scan, glyphs the font lacks.)
    for (setting, why) in [
        (Setting::InvisibleOverScan, "invisible-text"),
        (Setting::Unmapped, "unmapped-glyphs"),
        (Setting::StampedScan, "scanned"),
    ] {
        let result = submit("/ocr", text_page(&lines, setting)).await;
        assert_eq!(result["pages"][0]["source"], "ocr", "{setting:?}: {result}");
        assert_eq!(result["pages"][0]["source_reason"], why, "{setting:?}");
    }

    // A mixed document through a presigned upload: a scanned page, then a
    // born-digital one.
    let scan = letter_pages(1, 1000, 1300, 24.0);
    let mixed = imaging::text_layer::testing::scan_then_text(&gray(&scan)[0], 150.0, &lines);
    let id = app.upload_presigned(&token, "application/pdf", mixed.clone()).await;
    let (job, _) = watch(&app, &token, &id).await;
    let pages = job["result"]["pages"].as_array().unwrap();
    assert_eq!((pages[0]["source"].as_str(), pages[1]["source"].as_str()), (Some("ocr"), Some("text")), "{job}");
    assert_eq!(pages[0]["source_reason"], "no-text", "a scanned page says why it was read by OCR");
    assert_eq!(job["result"]["engine"]["name"], "ppocrv6-small", "the engine that read the scanned page");
    let texts: Vec<String> = pages
        .iter()
        .map(|p| {
            p["lines"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect::<Vec<_>>().join("\n")
        })
        .collect();
    assert_pages_read(&scan, &[&texts[0]]);
    assert_eq!(texts[1], truth);

    // The same through POST /uploads with ocr=always: both by OCR.
    let response = app
        .send_with_token(
            reqwest::Method::POST,
            "/uploads",
            &token,
            serde_json::json!({"content_type": "application/pdf", "bytes": mixed.len(), "ocr": "always"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let presigned: Value = response.json().await.unwrap();
    let upload = &presigned["upload"];
    let put = app
        .http
        .put(upload["url"].as_str().unwrap())
        .header("content-type", "application/pdf")
        .body(mixed)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let (job, _) = watch(&app, &token, presigned["job_id"].as_str().unwrap()).await;
    let sources: Vec<&str> =
        job["result"]["pages"].as_array().unwrap().iter().map(|p| p["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["ocr", "ocr"], "{job}");
}

/// The recogniser a job chose reads it, by either route: a page in French,
/// German and Spanish read by the default engine (PP-OCRv6) keeps its
/// accents in the JSON, the plain text, the hOCR and the searchable PDF's
/// layer (as pdftotext extracts it); the same page asked of ocrs comes back
/// in ASCII; an engine that does not exist is refused before anything is
/// stored.
#[tokio::test]
async fn each_job_is_read_by_its_engine_and_accents_survive_every_format() {
    let app = spawn_with_ocr().await;
    let token = app.signed_up_user(&unique_email()).await;
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let lines = [
        "Facture n° 2024-117 : Société Générale",
        "Größe: 12,50 € · Straße 14, München",
        "Año 2024: señor Núñez, Logroño",
    ];
    let page = test_kit::paragraph("invoice", &font, 30.0, &lines);
    let mut png = std::io::Cursor::new(Vec::new());
    page.image.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let png = png.into_inner();
    let accents = ['é', 'ö', 'ß', '€', 'ü', 'ñ', 'ú', '°'];

    let response = app.upload_raw(&token, "image/png", png.clone()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let job = app.finished_job(&token, &id).await;
    assert_eq!(job["status"], "DONE", "{job}");
    assert_eq!(job["result"]["engine"]["name"], "ppocrv6-small", "the default engine");
    let text = job["result"]["text"].as_str().unwrap().to_owned();
    let plain = result_as(&app, &token, &id, "text").await.text().await.unwrap();
    let hocr = hocr_page_texts(&result_as(&app, &token, &id, "hocr").await.text().await.unwrap()).join("\n");
    let layer = pdftotext(&result_as(&app, &token, &id, "pdf").await.bytes().await.unwrap());
    for (format, read) in [("json", &text), ("text", &plain), ("hocr", &hocr), ("pdf", &layer)] {
        let rate = test_kit::cer(&page.truth, read.trim_end_matches(['\n', '\u{c}']));
        assert!(rate <= 0.05, "{format}: CER {rate:.3}:\n{read}");
        for ch in accents {
            assert!(read.contains(ch), "{format}: {ch} lost in {read:?}");
        }
    }

    // ocrs, chosen through the presigned route: ASCII only.
    let response = app
        .send_with_token(
            reqwest::Method::POST,
            "/uploads",
            &token,
            serde_json::json!({"content_type": "image/png", "bytes": png.len(), "engine": "ocrs"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let presigned: Value = response.json().await.unwrap();
    let put = app
        .http
        .put(presigned["upload"]["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let job = app.finished_job(&token, presigned["job_id"].as_str().unwrap()).await;
    assert_eq!(job["result"]["engine"]["name"], "ocrs-fitted", "{job}");
    let text = job["result"]["text"].as_str().unwrap();
    assert!(text.is_ascii() && text.contains("2024-117"), "{text}");

    // No such engine: refused, nothing stored.
    let before = app.get_with_token("/jobs", &token).await.json::<Value>().await.unwrap();
    let bad =
        app.http.post(app.url("/ocr?engine=tesseract")).bearer_auth(&token).body(png.clone()).send().await.unwrap();
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid-query").await;
    let bad = app
        .send_with_token(
            reqwest::Method::POST,
            "/uploads",
            &token,
            serde_json::json!({"content_type": "image/png", "bytes": png.len(), "engine": "best"}),
        )
        .await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid-body").await;
    let after = app.get_with_token("/jobs", &token).await.json::<Value>().await.unwrap();
    assert_eq!(before["jobs"].as_array().map(Vec::len), after["jobs"].as_array().map(Vec::len));
}
