//! The web page in a real browser (Debian's chromium, headless, driven by
//! chromedriver): sign up, confirm with the e-mailed code from the
//! keyboard, upload images, watch them finish, read the text and the line
//! boxes; a refused file and a wrong password shown in words; a phone-sized
//! screen; every download format (text, JSON, hOCR, the searchable PDF);
//! forgot password, change password, sign out everywhere, delete the
//! account. Screenshots are kept in target/test-artifacts/.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, TestApp, unique_email};
use fantoccini::{Client, ClientBuilder, Locator};
use local::Options;
use serde_json::{Value, json};

const ENTER: &str = "\u{E007}";

struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    /// Where the browser saves downloads.
    downloads: tempfile::TempDir,
}

fn program(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

async fn start_browser() -> Browser {
    let chromedriver = program("CHROMEDRIVER", "chromedriver");
    let chromium = program("CHROMIUM", "/usr/bin/chromium");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = tokio::process::Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {chromedriver} ({e}): install Debian's chromium and chromium-driver (.ci/run does)")
        });
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let options = json!({
        "binary": chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run", "--window-size=1280,1000",
                 format!("--user-data-dir={}", profile.path().display())],
        "prefs": {
            "download.default_directory": downloads.path().display().to_string(),
            "download.prompt_for_download": false,
            "plugins.always_open_pdf_externally": true,
        },
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start {chromium}: {e}"));
    Browser { client, _driver: driver, _profile: profile, downloads }
}

/// Waits until `script` (a JS function body) returns something truthy;
/// returns it.
async fn until(client: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if !(value.is_null() || value == false || value == "" || value == json!([])) {
            return value;
        }
        if Instant::now() >= deadline {
            let problem = client.execute("return document.getElementById('problem').textContent", vec![]).await;
            // What the person would see, for the run's artifacts.
            let shown = client.execute("return document.body.innerText", vec![]).await;
            let file = artifacts().join(format!("web-page-timeout-{}.png", uuid::Uuid::new_v4().simple()));
            if let Ok(png) = client.screenshot().await {
                std::fs::write(&file, png).ok();
            }
            panic!(
                "timed out waiting for {what} (problem shown: {problem:?}; screenshot: {}; the page reads: {shown:?})",
                file.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

async fn visible(client: &Client, id: &str) -> bool {
    let script = format!(
        "return !document.getElementById('{id}').hidden && document.getElementById('{id}').offsetParent !== null"
    );
    client.execute(&script, vec![]).await.unwrap() == true
}

/// Waits for a finished download whose name ends with `suffix`.
async fn downloaded(dir: &Path, suffix: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| path.to_string_lossy().ends_with(suffix));
        if let Some(path) = done {
            return path;
        }
        assert!(Instant::now() < deadline, "no download ending in {suffix} in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs up through the page (the e-mailed code typed, then Enter); returns
/// the address once the upload area shows.
async fn sign_up(client: &Client, app: &TestApp) -> String {
    let email = unique_email();
    fill(client, "#register-name", "Ada Lovelace").await;
    fill(client, "#register-email", &email).await;
    fill(client, "#register-password", PASSWORD).await;
    click(client, "#register-form button[type=submit]").await;
    until(client, "the code form", "return !document.getElementById('verify-form').hidden").await;
    let code = app.code_for(&email).await;
    fill(client, "#verify-code", &format!("{code}{ENTER}")).await;
    until(client, "the upload area", "return !document.getElementById('signed-in').hidden").await;
    email
}

const PROBLEM_SHOWN: &str =
    "return !document.getElementById('problem').hidden && document.getElementById('problem').textContent";
const NOTICE_SHOWN: &str =
    "return !document.getElementById('notice').hidden && document.getElementById('notice').textContent";

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_person_signs_up_uploads_images_and_reads_their_text_in_a_browser() {
    let (app, browser) = the_page().await;
    let client = &browser.client;
    assert_eq!(client.title().await.unwrap(), "Serverless OCR");

    // Every field has a label a screen reader announces.
    let unlabelled = client
        .execute("return [...document.querySelectorAll('input, textarea')].filter(i => i.labels.length === 0 && !i.closest('template')).map(i => i.id || i.name)", vec![])
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "fields without a label");

    // Sign up; the code arrives by e-mail and is typed, then Enter.
    let email = sign_up(client, &app).await;
    assert!(!visible(client, "signed-out").await);

    // The token is in this tab's sessionStorage only, never in the URL.
    let storage = client
        .execute(
            "return [location.href, sessionStorage.getItem('ocr.token'), localStorage.length, document.cookie]",
            vec![],
        )
        .await
        .unwrap();
    let token = storage[1].as_str().expect("a token in sessionStorage");
    assert!(!storage[0].as_str().unwrap().contains(token) && !storage[0].as_str().unwrap().contains('?'), "{storage}");
    assert_eq!(storage[2], 0, "nothing in localStorage");
    assert_eq!(storage[3], "", "no cookies");

    // Two pages and a file that is not an image.
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let pages = [
        test_kit::paragraph("letter", &font, 30.0, &["Dear Ada,", "the engine works.", "Yours, Charles"]),
        test_kit::paragraph("receipt", &font, 28.0, &["Coffee 3.50", "Total 3.50"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for page in &pages {
        let path = dir.path().join(format!("{}.png", page.name));
        if page.name == "receipt" {
            // Scanned sideways: the service reads it turned, the page shows
            // the boxes over the image as uploaded.
            let image = image::DynamicImage::ImageRgb8(page.image.clone());
            imaging::straighten::turned_by(&image, 90.0).save(&path).unwrap();
        } else {
            std::fs::write(&path, page.png()).unwrap();
        }
        paths.push(path.display().to_string());
    }
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"not an image at all").unwrap();
    paths.push(fake.display().to_string());
    let input = client.find(Locator::Id("files")).await.unwrap();
    input.send_keys(&paths.join("\n")).await.unwrap();

    let finished = until(
        client,
        "both jobs DONE",
        "const done = [...document.querySelectorAll('#jobs li.job[data-status=DONE]')];
         return done.length === 2 && done.every(j => j.querySelector('.text').value) &&
           done.map(j => ({name: j.querySelector('.job-name').textContent, text: j.querySelector('.text').value,
                           boxes: j.querySelectorAll('svg.boxes rect').length,
                           caption: j.querySelector('figcaption').textContent,
                           note: j.querySelector('.pages-note').hidden ? '' : j.querySelector('.pages-note').textContent,
                           boxShapes: [...j.querySelectorAll('svg.boxes rect')].map(r => {
                             const b = r.getBoundingClientRect(), i = j.querySelector('.preview img').getBoundingClientRect();
                             const inside = b.left >= i.left - 2 && b.right <= i.right + 2 && b.top >= i.top - 2 && b.bottom <= i.bottom + 2;
                             return (b.width > b.height ? 'wide' : 'tall') + (inside ? '' : ' outside the image');
                           }),
                           imageShown: j.querySelector('.preview img').naturalWidth > 0}));",
    )
    .await;
    for page in &pages {
        let job = finished.as_array().unwrap().iter().find(|j| j["name"] == format!("{}.png", page.name)).unwrap();
        let text = job["text"].as_str().unwrap();
        assert!(test_kit::cer(&page.truth, text) <= 0.05, "{}: {text:?}", page.name);
        assert_eq!(job["boxes"], page.truth.lines().count(), "a box per line over the image: {job}");
        assert_eq!(job["imageShown"], true);
        let (shape, turned) = if page.name == "receipt" { ("tall", true) } else { ("wide", false) };
        for box_shape in job["boxShapes"].as_array().unwrap() {
            assert_eq!(box_shape, shape, "{}: the boxes lie on the lines as uploaded: {job}", page.name);
        }
        let caption = job["caption"].as_str().unwrap();
        assert_eq!(caption.contains("(page turned 270°)"), turned, "{}: {caption}", page.name);
        let note = job["note"].as_str().unwrap();
        assert_eq!(note == "How the pages were read: page 1: turned 270°.", turned, "{}: {note:?}", page.name);
    }
    let problem = until(client, "the refused file's problem", PROBLEM_SHOWN).await;
    let problem = problem.as_str().unwrap();
    assert!(problem.starts_with("fake.png:") && problem.contains("not"), "the problem in words: {problem}");
    std::fs::write(artifacts().join("web-page.png"), client.screenshot().await.unwrap()).unwrap();

    // A phone-sized screen: nothing wider than the screen.
    client.set_window_size(390, 844).await.unwrap();
    let overflow =
        client.execute("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await.unwrap();
    assert!(overflow.as_i64().unwrap() <= 0, "the page scrolls sideways by {overflow} px on a phone");
    std::fs::write(artifacts().join("web-page-phone.png"), client.screenshot().await.unwrap()).unwrap();
    client.set_window_size(1280, 1000).await.unwrap();

    // Signed out, a wrong password is explained in words.
    click(client, "#sign-out").await;
    until(client, "the log-in form", "return !document.getElementById('signed-out').hidden").await;
    let gone = client.execute("return sessionStorage.getItem('ocr.token')", vec![]).await.unwrap();
    assert_eq!(gone, Value::Null, "signing out forgets the token");
    fill(client, "#login-email", &email).await;
    fill(client, "#login-password", &format!("wrong password{ENTER}")).await;
    let refused = until(client, "the log-in problem", PROBLEM_SHOWN).await;
    assert!(refused.as_str().unwrap().contains("password"), "{refused}");

    // The right one brings the jobs back (listed, their text on request).
    fill(client, "#login-password", &format!("{PASSWORD}{ENTER}")).await;
    let listed = until(
        client,
        "the jobs listed again",
        "const n = document.querySelectorAll('#jobs li.job[data-status=DONE]').length; return n > 0 && n",
    )
    .await;
    assert_eq!(listed, 2);
    // Their text on request, without the image (the page never had it).
    click(client, "#jobs li.job .load").await;
    let text = until(client, "a listed job's text", "return document.querySelector('#jobs li.job .text').value").await;
    assert!(pages.iter().any(|p| test_kit::cer(&p.truth, text.as_str().unwrap()) <= 0.05), "{text}");
    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn a_person_downloads_every_format_and_manages_the_account_in_a_browser() {
    let (app, browser) = the_page().await;
    let client = &browser.client;
    let email = sign_up(client, &app).await;

    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let page = test_kit::paragraph("memo", &font, 30.0, &["Meeting moved to Friday", "Room 4B at 10:30"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memo.png");
    std::fs::write(&path, page.png()).unwrap();
    client.find(Locator::Id("files")).await.unwrap().send_keys(&path.display().to_string()).await.unwrap();
    until(client, "the job DONE", "return document.querySelector('#jobs li.job[data-status=DONE] .text')?.value").await;

    // Every format, as a person clicks for it.
    let downloads = browser.downloads.path();
    for (format, suffix) in [("text", "memo.txt"), ("json", "memo.json"), ("hocr", "memo.hocr.html"), ("pdf", ".pdf")] {
        click(client, &format!("#jobs li.job .download[data-format={format}]")).await;
        downloaded(downloads, suffix).await;
    }
    // Still on the page after the PDF's download link.
    assert!(visible(client, "signed-in").await, "the PDF link navigated away from the page");
    let text = std::fs::read_to_string(downloaded(downloads, "memo.txt").await).unwrap();
    assert!(test_kit::cer(&page.truth, &text) <= 0.05, "{text:?}");
    let json: Value =
        serde_json::from_slice(&std::fs::read(downloaded(downloads, "memo.json").await).unwrap()).unwrap();
    assert!(test_kit::cer(&page.truth, json["text"].as_str().unwrap()) <= 0.05, "{json}");
    assert!(json["engine"]["kernel"].is_string(), "{json}");
    let hocr = std::fs::read_to_string(downloaded(downloads, "memo.hocr.html").await).unwrap();
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    let document = roxmltree::Document::parse_with_options(&hocr, options).expect("the hOCR is well-formed XHTML");
    let lines = document.descendants().filter(|n| n.attribute("class") == Some("ocr_line")).count();
    assert_eq!(lines, page.truth.lines().count(), "{hocr}");
    let pdf = downloaded(downloads, ".pdf").await;
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"), "{}", pdf.display());
    let extracted = std::process::Command::new("pdftotext").arg("-raw").arg(&pdf).arg("-").output().unwrap();
    let extracted = String::from_utf8_lossy(&extracted.stdout);
    assert!(test_kit::cer(&page.truth, extracted.trim()) <= 0.05, "the PDF's text layer: {extracted:?}");

    // Change the password: this tab stays signed in with the new token.
    open_account_settings(client).await;
    fill(client, "#current-password", PASSWORD).await;
    fill(client, "#new-password", "difference engine").await;
    click(client, "#password-form button[type=submit]").await;
    // That notice, not the one the PDF's download left.
    until(
        client,
        "the password changed notice",
        "return document.getElementById('notice').textContent.includes('password is changed')",
    )
    .await;
    assert!(visible(client, "signed-in").await);
    let me = app.get_with_token("/users/me", &session_token(client).await).await;
    assert_eq!(me.status(), 200, "the new token works");

    // Sign out everywhere: this tab and every token end.
    let old_token = session_token(client).await;
    click(client, "#sign-out-everywhere").await;
    until(
        client,
        "the log-in form after signing out everywhere",
        "return !document.getElementById('signed-out').hidden",
    )
    .await;
    assert_eq!(app.get_with_token("/users/me", &old_token).await.status(), 401);

    // Forgot password, from the log-in form, with the e-mailed code.
    let code = ask_for_a_reset_code(client, &app, &email).await;
    fill(client, "#reset-code", &code).await;
    fill(client, "#reset-password", &format!("a brand new secret{ENTER}")).await;
    until(client, "signed in after the reset", "return !document.getElementById('signed-in').hidden").await;
    assert_eq!(app.login(&email, "difference engine").await.status(), 401, "the old password still works");
    assert_eq!(app.login(&email, "a brand new secret").await.status(), 200);

    // A wrong code is explained, and the form stays for another try.
    click(client, "#sign-out").await;
    let code = ask_for_a_reset_code(client, &app, &email).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    fill(client, "#reset-code", &wrong).await;
    fill(client, "#reset-password", &format!("yet another secret{ENTER}")).await;
    let problem = until(client, "the wrong code's problem", PROBLEM_SHOWN).await;
    assert!(problem.as_str().unwrap().to_lowercase().contains("code"), "{problem}");
    assert!(visible(client, "reset-form").await);
    fill(client, "#reset-code", &code).await;
    fill(client, "#reset-password", &format!("yet another secret{ENTER}")).await;
    until(client, "signed in after the reset", "return !document.getElementById('signed-in').hidden").await;

    // Delete the account: gone, and so are its jobs.
    open_account_settings(client).await;
    fill(client, "#delete-password", "yet another secret").await;
    click(client, "#delete-confirm").await;
    click(client, "#delete-account-form button[type=submit]").await;
    until(client, "the log-in form after deleting the account", "return !document.getElementById('signed-out').hidden")
        .await;
    let notice = until(client, "the deletion notice", NOTICE_SHOWN).await;
    assert!(notice.as_str().unwrap().contains("deleted"), "{notice}");
    assert_eq!(app.login(&email, "yet another secret").await.status(), 401);
    std::fs::write(artifacts().join("web-page-account.png"), client.screenshot().await.unwrap()).unwrap();
    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn a_session_ended_elsewhere_leaves_the_page_signed_out_and_usable() {
    let (app, browser) = the_page().await;
    let client = &browser.client;
    let email = sign_up(client, &app).await;

    // Signed out everywhere from another device: this tab's next request is
    // refused, and the page says why instead of failing in place.
    let token = session_token(client).await;
    let signed_out =
        app.send_with_token(reqwest::Method::POST, "/users/me/sign-out-everywhere", &token, Value::Null).await;
    assert_eq!(signed_out.status(), 204);
    open_account_settings(client).await;
    click(client, "#sign-out-everywhere").await;
    until(client, "the log-in form", "return !document.getElementById('signed-out').hidden").await;
    let said = client.execute("return document.body.innerText", vec![]).await.unwrap();
    assert!(said.as_str().unwrap().contains("Log in again"), "{said}");

    // Every way back works from there: the reset form included.
    let code = ask_for_a_reset_code(client, &app, &email).await;
    fill(client, "#reset-code", &code).await;
    fill(client, "#reset-password", &format!("a brand new secret{ENTER}")).await;
    until(client, "signed in after the reset", "return !document.getElementById('signed-in').hidden").await;
    browser.client.close().await.unwrap();
}

/// The local system with its OCR worker, and the page open in a browser.
async fn the_page() -> (TestApp, Browser) {
    let app = TestApp::spawn_with(Options { run_ocr_worker: true, ..Options::for_test() }).await;
    let browser = start_browser().await;
    browser.client.goto(&format!("{}/", app.system.api_url)).await.unwrap();
    (app, browser)
}

/// "Forgot your password?" on the log-in form, the address sent: the
/// e-mailed code once the reset form shows.
async fn ask_for_a_reset_code(client: &Client, app: &TestApp, email: &str) -> String {
    app.forget_sends(email).await;
    click(client, "#forgot-password").await;
    // Seen once in a fresh clone: the field was not yet interactable.
    until(client, "the forgot-password form", "return document.getElementById('forgot-email').offsetParent !== null")
        .await;
    fill(client, "#forgot-email", email).await;
    click(client, "#forgot-form button[type=submit]").await;
    until(client, "the reset form", "return !document.getElementById('reset-form').hidden").await;
    app.code_for(email).await
}

/// Opens "Your account" (a `<details>`) by its summary, unless it is open.
async fn open_account_settings(client: &Client) {
    if client.execute("return document.getElementById('account').open", vec![]).await.unwrap() != true {
        click(client, "#account summary").await;
    }
}

async fn session_token(client: &Client) -> String {
    let token = client.execute("return sessionStorage.getItem('ocr.token')", vec![]).await.unwrap();
    token.as_str().expect("a token in sessionStorage").to_owned()
}
