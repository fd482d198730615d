//! `local`: runs the whole system against the AWS emulator that
//! AWS_ENDPOINT_URL points to (`./dev up` starts one and sets it).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use imaging::document::PdfReader;
use local::{LocalSystem, Options, default_template_path};

const USAGE: &str =
    "usage: local [--port PORT] [--stack-name NAME] [--template PATH] [--sam-env FILE --sam-endpoint URL]";

/// Where to write the env-vars file for `sam local invoke`, and the
/// emulator's address as a function's container reaches it.
struct SamEnv {
    file: std::path::PathBuf,
    endpoint: String,
}

fn parse_args(pdf_reader: PdfReader) -> Result<(Options, Option<SamEnv>)> {
    let mut options = Options {
        template_path: default_template_path(),
        stack_name: "ocr-local".into(),
        api_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        parameters: Default::default(),
        run_ocr_worker: true,
        run_notify_worker: true,
        print_sent_mail: true,
        max_pollers: None,
        worker_timeout: None,
        pdf_reader,
    };
    let (mut sam_file, mut sam_endpoint) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--port" => {
                let port: u16 = value("--port")?.parse().context("--port takes a number")?;
                options.api_addr.set_port(port);
            }
            "--stack-name" => options.stack_name = value("--stack-name")?,
            "--template" => options.template_path = value("--template")?.into(),
            "--sam-env" => sam_file = Some(value("--sam-env")?.into()),
            "--sam-endpoint" => sam_endpoint = Some(value("--sam-endpoint")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let sam = match (sam_file, sam_endpoint) {
        (Some(file), Some(endpoint)) => Some(SamEnv { file, endpoint }),
        (None, None) => None,
        _ => bail!("--sam-env and --sam-endpoint go together\n{USAGE}"),
    };
    Ok((options, sam))
}

fn how_to_use(api: &str) -> String {
    format!(
        r#"Web page     : {api}/  (sign up there; the code is printed here, in an e-mail)
OpenAPI      : {api}/openapi.json

The command-line client, from another terminal:
  cargo install --locked --path cli
  export OCR_API_URL={api}
  ocr register --name Ada --email ada@example.org
  ocr verify --email ada@example.org --code <code from the e-mail printed here>
  ocr submit ~/scans --wait --out ~/scans-text"#
    )
}

async fn run(pdf_reader: PdfReader) -> Result<()> {
    let (options, sam) = parse_args(pdf_reader)?;
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        bail!("AWS_ENDPOINT_URL is not set: start the system with ./dev up, or point AWS_ENDPOINT_URL at LocalStack");
    };
    let system = LocalSystem::start(options).await?;
    println!("\nAWS emulator : {endpoint}");
    println!("Stack        : {}", system.stack.name);
    println!("API          : {}", system.api_url);
    if let Some(sam) = &sam {
        local::sam::write_env_vars(&system.stack, &sam.endpoint, &sam.file)?;
        println!("sam local    : {} (emulator at {} for containers)", sam.file.display(), sam.endpoint);
    }
    println!();
    println!("{}\n\nPress Ctrl-C to stop.", how_to_use(&system.api_url));
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("\nStopping ...");
    system.stop().await;
    Ok(())
}

fn main() {
    // PDFs are opened and drawn in children of this program.
    let pdf_reader = imaging::document::serve_if_child();
    serve(pdf_reader);
}

#[tokio::main]
async fn serve(pdf_reader: PdfReader) {
    platform::telemetry::init("local");
    if let Err(e) = run(pdf_reader).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
