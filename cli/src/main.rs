//! `ocr`: sign up, log in, and turn images into text with the OCR service,
//! through its HTTP API only.

mod api;
mod session;
mod submit;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use api::{Api, ApiError};
use clap::{Parser, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};
use session::{Session, Store};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a local failure (a file could not be read or written)
  2  wrong usage
  3  not logged in, or the session expired and no password could be asked
  4  the service refused the request (its reason is printed)
  5  the service is unreachable or failing; try again
  6  some jobs FAILED or some files were refused (the others succeeded)

The password is read from OCR_PASSWORD when set, else asked on the terminal.";

#[derive(Parser)]
#[command(name = "ocr", version, about = "Read the text of images with the OCR service", after_help = EXIT_CODES)]
struct Cli {
    /// The API's address.
    #[arg(long, global = true, env = "OCR_API_URL", default_value = "http://127.0.0.1:3000")]
    api: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account; a 6-digit code is e-mailed to confirm the address.
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
    },
    /// Confirm the address with the e-mailed code, then log in.
    Verify {
        #[arg(long)]
        email: String,
        #[arg(long)]
        code: String,
    },
    /// E-mail a new verification code.
    ResendCode {
        #[arg(long)]
        email: String,
    },
    /// Log in; the session is kept in the config directory (mode 0600).
    Login {
        #[arg(long)]
        email: String,
    },
    /// Forget the session kept for this API.
    Logout,
    /// Show the signed-in account.
    Whoami,
    /// Upload images (files, or directories searched for images).
    Submit {
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Uploads (and polls) at most this many at a time.
        #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
        jobs: u16,
        /// Wait for the results and print each as it finishes.
        #[arg(long)]
        wait: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// With --wait: write each result to DIR/<file>.txt (or .json) instead.
        #[arg(long, value_name = "DIR", requires = "wait")]
        out: Option<PathBuf>,
        /// `always`: OCR every PDF page, even one that carries its own text
        /// (by default such a page is read from its text).
        #[arg(long, value_enum, default_value_t = OcrMode::Auto)]
        ocr: OcrMode,
        /// The recogniser: `ppocr` (PP-OCRv6, 50 languages with their
        /// accents, the more accurate) or `ocrs` (ASCII only, faster).
        #[arg(long, value_enum, default_value_t = Engine::Ppocr)]
        engine: Engine,
    },
    /// Show a job's result (or its status while it runs).
    Get {
        id: String,
        /// `json` is the whole job; `hocr` and `pdf` (searchable) need a DONE job.
        #[arg(long, value_enum, default_value_t = ResultFormat::Text)]
        format: ResultFormat,
        /// Wait until the job is finished.
        #[arg(long)]
        wait: bool,
        /// Write the result to FILE instead of stdout (a PDF goes to ID.pdf by default).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List your jobs, newest first.
    List {
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=100))]
        limit: u16,
        /// Follow the pages to the oldest job.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Delete jobs, their images and their results.
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OcrMode {
    Auto,
    Always,
}

impl OcrMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "always",
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Engine {
    Ppocr,
    Ocrs,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ppocr => "ppocr",
            Self::Ocrs => "ocrs",
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ResultFormat {
    Text,
    Json,
    Hocr,
    Pdf,
}

/// Why the command stopped; each maps to one exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    NotLoggedIn(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Local(String),
    /// Some items failed; each was reported as it happened.
    #[error("{0}")]
    Partial(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Local(_) => 1,
            Self::Usage(_) => 2,
            Self::NotLoggedIn(_) => 3,
            Self::Api(e) if matches!(e.status(), Some(401 | 403)) => 3,
            Self::Api(e) if e.is_transient() || e.status().is_none_or(|s| s >= 500) => 5,
            Self::Api(_) => 4,
            Self::Partial(_) => 6,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Local(e.to_string())
    }
}

fn password(prompt: &str) -> Result<String, Failure> {
    if let Ok(password) = std::env::var("OCR_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::NotLoggedIn(
            "a password is needed and there is no terminal to ask on: set OCR_PASSWORD".into(),
        ));
    }
    rpassword::prompt_password(prompt).map_err(|e| Failure::Local(format!("cannot read the password: {e}")))
}

async fn log_in(api: &Api, store: &Store, email: &str, password: &str) -> Result<Session, Failure> {
    let token: Value =
        api.json(Method::POST, "/auth/login", Some(&json!({"email": email, "password": password}))).await?;
    let access_token = token["access_token"].as_str().unwrap_or_default().to_owned();
    let session = Session::new(email, access_token, token["expires_in"].as_i64().unwrap_or(0));
    store.put(api.base(), session.clone())?;
    Ok(session)
}

/// The API with the kept session's token; an expired session is renewed by
/// asking the password again (or reading OCR_PASSWORD).
async fn signed_in(api: &Api, store: &Store) -> Result<Api, Failure> {
    let Some(session) = store.get(api.base())? else {
        return Err(Failure::NotLoggedIn(format!("not logged in to {}: run `ocr login --email …`", api.base())));
    };
    let session = if session.is_expired() {
        eprintln!("The session of {} has expired.", session.email);
        let password = password(&format!("Password for {}: ", session.email))
            .map_err(|e| Failure::NotLoggedIn(format!("the session expired; run `ocr login` ({e})")))?;
        log_in(api, store, &session.email, &password).await?
    } else {
        session
    };
    Ok(api.clone().with_token(&session.access_token))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let api = Api::new(&cli.api);
    let store = Store::new()?;
    match cli.command {
        Command::Register { name, email } => {
            let password = password("Choose a password (8 to 128 characters): ")?;
            if std::env::var_os("OCR_PASSWORD").is_none() && password != self::password("Repeat it: ")? {
                return Err(Failure::Usage("the two passwords differ".into()));
            }
            let answer: Value = api
                .json(
                    Method::POST,
                    "/auth/register",
                    Some(&json!({"name": name, "email": email, "password": password})),
                )
                .await?;
            eprintln!("{}", answer["message"].as_str().unwrap_or("Registered."));
            eprintln!("Then: ocr verify --email {email} --code <code>");
        }
        Command::Verify { email, code } => {
            let password = password(&format!("Password for {email}: "))?;
            let body = json!({"email": email, "code": code, "password": password});
            api.json::<Value>(Method::POST, "/auth/verify", Some(&body)).await?;
            log_in(&api, &store, &email, &password).await?;
            eprintln!("Verified and logged in as {email}.");
        }
        Command::ResendCode { email } => {
            let password = password(&format!("Password for {email}: "))?;
            let answer: Value =
                api.json(Method::POST, "/auth/code", Some(&json!({"email": email, "password": password}))).await?;
            eprintln!("{}", answer["message"].as_str().unwrap_or("A new code is on its way."));
        }
        Command::Login { email } => {
            let password = password(&format!("Password for {email}: "))?;
            log_in(&api, &store, &email, &password).await?;
            eprintln!("Logged in as {email} (session kept in {}).", store.path().display());
        }
        Command::Logout => {
            let removed = store.remove(api.base())?;
            eprintln!("{}", if removed { "Logged out." } else { "There was no session for this API." });
        }
        Command::Whoami => {
            let api = signed_in(&api, &store).await?;
            let me: Value = api.json(Method::GET, "/users/me", None).await?;
            println!("{} <{}>", me["name"].as_str().unwrap_or_default(), me["email"].as_str().unwrap_or_default());
        }
        Command::Submit { paths, jobs, wait, format, out, ocr, engine } => {
            let api = signed_in(&api, &store).await?;
            let options = submit::Options { concurrency: usize::from(jobs), wait, format, out, ocr, engine };
            submit::run(&api, &paths, options).await?;
        }
        Command::Get { id, format, wait, output } => {
            let api = signed_in(&api, &store).await?;
            let job = if wait { submit::wait_for(&api, &id).await? } else { get_job(&api, &id).await? };
            if job["status"] == "FAILED" {
                submit::print_job(&job, Format::Text);
                return Err(Failure::Partial(format!("job {id} failed")));
            }
            let document = match format {
                ResultFormat::Text if output.is_none() => {
                    submit::print_job(&job, Format::Text);
                    return Ok(());
                }
                ResultFormat::Json => format!("{job}\n").into_bytes(),
                ResultFormat::Text => api.bytes(&format!("/jobs/{}/result?format=text", path_segment(&id))).await?,
                ResultFormat::Hocr => api.bytes(&format!("/jobs/{}/result?format=hocr", path_segment(&id))).await?,
                ResultFormat::Pdf => api.bytes(&format!("/jobs/{}/result?format=pdf", path_segment(&id))).await?,
            };
            let output = output
                .or_else(|| (format == ResultFormat::Pdf).then(|| PathBuf::from(format!("{}.pdf", path_segment(&id)))));
            match output {
                Some(path) => {
                    std::fs::write(&path, document).map_err(|e| Failure::Local(format!("{}: {e}", path.display())))?;
                    eprintln!("Wrote {}.", path.display());
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&document)?;
                }
            }
        }
        Command::List { limit, all, format } => {
            let api = signed_in(&api, &store).await?;
            list(&api, limit, all, format).await?;
        }
        Command::Rm { ids } => {
            let api = signed_in(&api, &store).await?;
            let mut failed = 0;
            for id in &ids {
                match api.delete(&format!("/jobs/{}", path_segment(id))).await {
                    Ok(()) => println!("deleted {id}"),
                    Err(e) if ids.len() > 1 && !e.is_transient() => {
                        eprintln!("error: {id}: {e}");
                        failed += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if failed > 0 {
                return Err(Failure::Partial(format!("{failed} of {} jobs could not be deleted", ids.len())));
            }
        }
    }
    Ok(())
}

/// A job id as one path segment, whatever was typed.
fn path_segment(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

async fn get_job(api: &Api, id: &str) -> Result<Value, Failure> {
    Ok(api.json(Method::GET, &format!("/jobs/{}", path_segment(id)), None).await?)
}

async fn list(api: &Api, limit: u16, all: bool, format: Format) -> Result<(), Failure> {
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/jobs?limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", form_encode(cursor)));
        }
        let page: Value = api.json(Method::GET, &path, None).await?;
        for job in page["jobs"].as_array().into_iter().flatten() {
            match format {
                Format::Json => println!("{job}"),
                Format::Text => {
                    let preview = job["text_preview"].as_str().or(job["error"].as_str()).unwrap_or("");
                    let preview: String = preview.replace('\n', " ").chars().take(60).collect();
                    println!(
                        "{}  {:<15}  {}  {preview}",
                        job["job_id"].as_str().unwrap_or_default(),
                        job["status"].as_str().unwrap_or_default(),
                        job["created_at"].as_str().unwrap_or_default(),
                    );
                }
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if !all || cursor.is_none() {
            if cursor.is_some() && format == Format::Text {
                eprintln!("(more: ocr list --all)");
            }
            return Ok(());
        }
    }
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            if matches!(failure, Failure::Api(_)) && failure.exit_code() == 3 {
                eprintln!("(log in again: ocr login --email …)");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}
