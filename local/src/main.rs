//! `local`: runs the whole system against the AWS emulator that
//! AWS_ENDPOINT_URL points to (`./dev up` starts one and sets it).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use local::{LocalSystem, Options, default_template_path};

const USAGE: &str = "usage: local [--port PORT] [--stack-name NAME] [--template PATH]";

fn parse_args() -> Result<Options> {
    let mut options = Options {
        template_path: default_template_path(),
        stack_name: "ocr-local".into(),
        api_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        parameters: Default::default(),
        run_ocr_worker: true,
        run_notify_worker: true,
        print_sent_mail: true,
    };
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
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(options)
}

fn curl_session(api: &str) -> String {
    format!(
        r#"Try it (the code appears above as an e-mail):
  curl -s -X POST {api}/auth/register -H 'content-type: application/json' \
       -d '{{"name":"Ada","email":"ada@example.org","password":"analytical engine"}}'
  curl -s -X POST {api}/auth/verify -H 'content-type: application/json' \
       -d '{{"email":"ada@example.org","code":"<code from the e-mail>"}}'
  TOKEN=$(curl -s -X POST {api}/auth/login -H 'content-type: application/json' \
       -d '{{"email":"ada@example.org","password":"analytical engine"}}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -s {api}/users/me -H "authorization: Bearer $TOKEN""#
    )
}

async fn run() -> Result<()> {
    let options = parse_args()?;
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        bail!("AWS_ENDPOINT_URL is not set: start the system with ./dev up, or point AWS_ENDPOINT_URL at LocalStack");
    };
    let system = LocalSystem::start(options).await?;
    println!("\nAWS emulator : {endpoint}");
    println!("Stack        : {}", system.stack.name);
    println!("API          : {}\n", system.api_url);
    println!("{}\n\nPress Ctrl-C to stop.", curl_session(&system.api_url));
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("\nStopping ...");
    system.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() {
    shared::telemetry::init();
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
