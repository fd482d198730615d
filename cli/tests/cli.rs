//! The `ocr` binary against the local runner, as a user runs it: sign up,
//! submit a directory of rendered pages, wait, compare the texts; the
//! presigned route for a large file; list, get, rm; expired and missing
//! sessions; refused files; exit codes.

#[path = "../../local/tests/it/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{PASSWORD, TestApp, unique_email};
use local::Options;
use serde_json::Value;
use test_kit::{self, Fixture};

struct Cli {
    api: String,
    config: tempfile::TempDir,
}

impl Cli {
    fn new(app: &TestApp) -> Self {
        Self { api: app.system.api_url.clone(), config: tempfile::tempdir().unwrap() }
    }

    /// Runs `ocr args…` with no terminal, the password in OCR_PASSWORD
    /// unless `password` is None.
    async fn run_with(&self, args: &[&str], password: Option<&str>) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocr"));
        command
            .args(args)
            .env("OCR_API_URL", &self.api)
            .env("OCR_CONFIG_DIR", self.config.path())
            .env_remove("OCR_PASSWORD")
            .stdin(std::process::Stdio::null());
        if let Some(password) = password {
            command.env("OCR_PASSWORD", password);
        }
        command.output().await.expect("the ocr binary runs")
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, Some(PASSWORD)).await
    }

    fn sessions(&self) -> PathBuf {
        self.config.path().join("sessions.json")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "exit code; stdout:\n{}\nstderr:\n{}", stdout(output), stderr(output));
}

async fn signed_up(app: &TestApp, cli: &Cli) -> String {
    let email = unique_email();
    let registered = cli.run(&["register", "--name", "Ada Lovelace", "--email", &email]).await;
    assert_exit(&registered, 0);
    assert!(stderr(&registered).contains("ocr verify"), "{}", stderr(&registered));
    let code = app.code_for(&email).await;
    let verified = cli.run(&["verify", "--email", &email, "--code", &code]).await;
    assert_exit(&verified, 0);
    email
}

fn pages() -> Vec<Fixture> {
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    vec![
        test_kit::paragraph("letter", &font, 28.0, &["Dear Ada,", "the engine works.", "Yours, Charles"]),
        test_kit::paragraph("invoice", &font, 26.0, &["Invoice 2041", "Total due 310.50"]),
        test_kit::paragraph("note", &font, 30.0, &["Meeting at noon"]),
    ]
}

fn write_pages(dir: &Path, pages: &[Fixture]) {
    std::fs::create_dir_all(dir.join("more")).unwrap();
    for (i, page) in pages.iter().enumerate() {
        let sub = if i == 2 { "more/" } else { "" };
        std::fs::write(dir.join(format!("{sub}{}.png", page.name)), page.png()).unwrap();
    }
    // Not an image: skipped when searching a directory.
    std::fs::write(dir.join("README.txt"), "scans of 1843").unwrap();
}

#[tokio::test]
async fn a_directory_of_pages_becomes_text_files() {
    let app = TestApp::spawn_with(Options { run_ocr_worker: true, ..Options::for_test() }).await;
    let cli = Cli::new(&app);
    let email = signed_up(&app, &cli).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.sessions()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the session file must be private");
    }
    let whoami = cli.run(&["whoami"]).await;
    assert_exit(&whoami, 0);
    assert!(stdout(&whoami).contains(&email));

    let scans = tempfile::tempdir().unwrap();
    let pages = pages();
    write_pages(scans.path(), &pages);
    let out = tempfile::tempdir().unwrap();
    let scans_arg = scans.path().to_str().unwrap();
    let submitted =
        cli.run(&["submit", scans_arg, "--wait", "--jobs", "2", "--out", out.path().to_str().unwrap()]).await;
    assert_exit(&submitted, 0);
    for (i, page) in pages.iter().enumerate() {
        let sub = if i == 2 { "more/" } else { "" };
        let text = std::fs::read_to_string(out.path().join(format!("{sub}{}.txt", page.name)))
            .unwrap_or_else(|e| panic!("no text for {}: {e}", page.name));
        let cer = test_kit::cer(&page.truth, &text);
        assert!(cer <= 0.05, "{}: CER {cer:.3}\nexpected:\n{}\ngot:\n{text}", page.name, page.truth);
    }
    assert!(!out.path().join("README.txt").exists());

    // JSON lines on stdout, one per file, as they finish.
    let one = scans.path().join("invoice.png");
    let json = cli.run(&["submit", one.to_str().unwrap(), "--wait", "--format", "json"]).await;
    assert_exit(&json, 0);
    let line: Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(line["job"]["status"], "DONE");
    assert_eq!(line["job"]["result"]["engine"]["name"], "ppocrv6-small", "the default engine");
    let id = line["job"]["job_id"].as_str().unwrap().to_owned();
    // The engine chosen on the command line reads it.
    let ocrs = cli.run(&["submit", one.to_str().unwrap(), "--wait", "--format", "json", "--engine", "ocrs"]).await;
    assert_exit(&ocrs, 0);
    let ocrs: Value = serde_json::from_str(stdout(&ocrs).trim()).unwrap();
    assert_eq!(ocrs["job"]["result"]["engine"]["name"], "ocrs-fitted", "{ocrs}");
    assert!(line["job"]["result"]["pages"][0]["lines"].as_array().is_some_and(|l| l.len() == 2), "{line}");

    let got = cli.run(&["get", &id]).await;
    assert_exit(&got, 0);
    assert!(test_kit::cer(&pages[1].truth, &stdout(&got)) <= 0.05, "{}", stdout(&got));
    let hocr = cli.run(&["get", &id, "--format", "hocr"]).await;
    assert_exit(&hocr, 0);
    assert!(stdout(&hocr).contains("class=\"ocrx_word\""), "{}", stdout(&hocr));
    let pdf_path = out.path().join("invoice.pdf");
    let pdf = cli.run(&["get", &id, "--format", "pdf", "--output", pdf_path.to_str().unwrap()]).await;
    assert_exit(&pdf, 0);
    assert!(std::fs::read(&pdf_path).unwrap().starts_with(b"%PDF-"), "the searchable PDF, downloaded");
    let listed = cli.run(&["list", "--format", "json", "--limit", "2", "--all"]).await;
    assert_exit(&listed, 0);
    assert_eq!(stdout(&listed).lines().count(), 5, "every job, across pages of 2: {}", stdout(&listed));

    let removed = cli.run(&["rm", &id]).await;
    assert_exit(&removed, 0);
    let gone = cli.run(&["get", &id]).await;
    assert_exit(&gone, 4);
    assert!(stderr(&gone).contains("no such job"), "the problem's detail is shown: {}", stderr(&gone));
}

#[tokio::test]
async fn a_file_over_the_direct_limit_goes_through_a_presigned_upload() {
    let app = TestApp::spawn_with(Options { run_ocr_worker: true, ..Options::for_test() }).await;
    let cli = Cli::new(&app);
    signed_up(&app, &cli).await;
    // A page padded with incompressible noise below the text: over 4 MiB.
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    let page = test_kit::paragraph("big", &font, 40.0, &["A large scan"]);
    let mut image = image::RgbImage::from_pixel(1400, 1300, image::Rgb([255, 255, 255]));
    image::imageops::overlay(&mut image, &page.image, 0, 0);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for pixel in image.pixels_mut().skip(1400 * 200) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *pixel = image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8]);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.png");
    image.save(&path).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 4 * 1024 * 1024);

    let submitted = cli.run(&["submit", path.to_str().unwrap(), "--wait", "--format", "json"]).await;
    assert_exit(&submitted, 0);
    let line: Value = serde_json::from_str(stdout(&submitted).trim()).unwrap();
    assert_eq!(line["job"]["status"], "DONE", "{line}");
    assert!(line["job"]["bytes"].as_u64().unwrap() > 4 * 1024 * 1024, "{line}");
}

#[tokio::test]
async fn sessions_expire_into_a_new_login_or_a_clear_refusal() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let email = signed_up(&app, &cli).await;
    let token = |cli: &Cli| {
        let sessions: Value = serde_json::from_slice(&std::fs::read(cli.sessions()).unwrap()).unwrap();
        sessions["by_api"][&cli.api]["access_token"].as_str().unwrap().to_owned()
    };
    let expire = |cli: &Cli| {
        let mut sessions: Value = serde_json::from_slice(&std::fs::read(cli.sessions()).unwrap()).unwrap();
        sessions["by_api"][&cli.api]["expires_at"] = 0.into();
        std::fs::write(cli.sessions(), sessions.to_string()).unwrap();
    };

    let before = token(&cli);
    expire(&cli);
    // No password to ask with: a clear refusal, nothing sent.
    let refused = cli.run_with(&["list"], None).await;
    assert_exit(&refused, 3);
    assert!(stderr(&refused).contains("OCR_PASSWORD"), "{}", stderr(&refused));
    // With one: logged in again, the new token kept.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let renewed = cli.run(&["list"]).await;
    assert_exit(&renewed, 0);
    assert!(stderr(&renewed).contains(&email));
    assert_ne!(token(&cli), before);

    // A wrong password: the service's reason, exit 3.
    expire(&cli);
    let wrong = cli.run_with(&["whoami"], Some("not the password")).await;
    assert_exit(&wrong, 3);
    assert!(stderr(&wrong).contains("error:"), "{}", stderr(&wrong));

    // Signed out everywhere: the kept token is refused, exit 3.
    let login = cli.run(&["login", "--email", &email]).await;
    assert_exit(&login, 0);
    let signed_out =
        app.send_with_token(reqwest::Method::POST, "/users/me/sign-out-everywhere", &token(&cli), Value::Null).await;
    assert_eq!(signed_out.status(), 204);
    let revoked = cli.run(&["list"]).await;
    assert_exit(&revoked, 3);

    let logout = cli.run(&["logout"]).await;
    assert_exit(&logout, 0);
    let not_logged_in = cli.run(&["list"]).await;
    assert_exit(&not_logged_in, 3);
    assert!(stderr(&not_logged_in).contains("ocr login"), "{}", stderr(&not_logged_in));
}

#[tokio::test]
async fn refused_files_are_reported_with_the_reason_and_the_rest_go_through() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    signed_up(&app, &cli).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fake.png"), b"this is not an image").unwrap();
    let font = test_kit::load_font("DejaVuSans.ttf").unwrap();
    std::fs::write(dir.path().join("real.png"), test_kit::paragraph("r", &font, 28.0, &["Hello"]).png()).unwrap();

    let submitted = cli.run(&["submit", dir.path().to_str().unwrap()]).await;
    assert_exit(&submitted, 6);
    assert!(stderr(&submitted).contains("fake.png"), "{}", stderr(&submitted));
    assert!(stderr(&submitted).to_lowercase().contains("not"), "the problem's detail: {}", stderr(&submitted));
    let accepted: Vec<_> = stdout(&submitted).lines().map(str::to_owned).collect();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert!(accepted[0].ends_with("real.png"), "job id and file, tab-separated: {accepted:?}");

    let missing = cli.run(&["submit", "/nonexistent/scan.png"]).await;
    assert_exit(&missing, 2);
    let usage = cli.run(&["submit"]).await;
    assert_exit(&usage, 2);

    let unreachable = Cli { api: "http://127.0.0.1:9".into(), config: tempfile::tempdir().unwrap() };
    let down = unreachable.run(&["login", "--email", "a@example.org"]).await;
    assert_exit(&down, 5);
    assert!(stderr(&down).contains("cannot reach"), "{}", stderr(&down));
}
