//! events/ replayed against each function's release binary, run as Lambda
//! runs it (Runtime API), against the emulator. Proves the sample events and
//! the binaries without Docker. The binaries are the deployed artifacts
//! (`cargo lambda build --release`), which `./dev test` builds first.
//!
//! With `SAM_ENDPOINT_URL` set (by `./dev test-sam`), the same events go
//! through `sam local invoke` instead: the deployed artifacts in Lambda's
//! image, with the environment `./dev up` writes for SAM.

use std::path::PathBuf;

use crate::common::{TestApp, unique_email};
use local::lambda_host::LambdaProcess;
use local::sam::SamFunction;
use serde_json::Value;

/// `LAMBDA_BINARIES_DIR/NAME` when set (e.g. `target/release` of a plain
/// cargo build), else cargo lambda's `target/lambda/NAME/bootstrap`.
fn binary(name: &str) -> PathBuf {
    match std::env::var("LAMBDA_BINARIES_DIR") {
        Ok(dir) => PathBuf::from(dir).join(name),
        Err(_) => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/lambda")).join(name).join("bootstrap"),
    }
}

fn event(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// A function as this run hosts it: its binary under our Runtime API, or
/// `sam local invoke`.
enum Function {
    Process(LambdaProcess),
    Sam(SamFunction),
}

impl Function {
    async fn invoke(&mut self, event: Value) -> anyhow::Result<Value> {
        match self {
            Function::Process(process) => process.invoke(event).await,
            Function::Sam(sam) => sam.invoke(&event).await,
        }
    }

    /// The JSON lines the function wrote to stdout (logs, EMF metrics), when
    /// it runs under our Runtime API.
    fn json_lines(&self) -> Option<Vec<Value>> {
        match self {
            Function::Process(process) => Some(
                process
                    .stdout_lines()
                    .iter()
                    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                    .collect(),
            ),
            Function::Sam(_) => None,
        }
    }
}

async fn start(app: &TestApp, name: &str, logical_id: &str) -> Function {
    if let Ok(container_endpoint) = std::env::var("SAM_ENDPOINT_URL") {
        let env_vars = std::env::temp_dir().join(format!("sam-env-{}-{logical_id}.json", app.system.stack.name));
        local::sam::write_env_vars(&app.system.stack, &container_endpoint, &env_vars).unwrap();
        let template = std::env::var("SAM_TEMPLATE").expect("SAM_TEMPLATE names the sam-build template");
        return Function::Sam(SamFunction {
            logical_id: logical_id.into(),
            template: template.into(),
            env_vars,
            container_endpoint,
        });
    }
    let env = app.system.stack.function_env_vars(logical_id).unwrap();
    let mut process = LambdaProcess::start(&binary(name), logical_id, &env).await.unwrap();
    process.init_duration().await.unwrap();
    Function::Process(process)
}

fn status(response: &Value) -> u64 {
    response["statusCode"].as_u64().unwrap_or_else(|| panic!("not an HTTP response: {response}"))
}

#[tokio::test]
async fn the_auth_binary_answers_every_auth_event() {
    let app = TestApp::spawn().await;
    let mut auth = start(&app, "auth", "AuthFunction").await;
    let cases = [
        ("auth-register.json", 201),
        ("auth-verify.json", 400),       // the sample code is not the one sent
        ("auth-login.json", 401),        // not verified yet: as a wrong password
        ("auth-request-code.json", 202), // a code went out a moment ago: none now, the same answer
        ("auth-me.json", 401),           // the sample token is a placeholder
        ("auth-forgot-password.json", 202),
        ("auth-reset-password.json", 400), // the sample code is not the one sent
        ("auth-change-password.json", 401),
        ("auth-sign-out-everywhere.json", 401),
        ("auth-delete-me.json", 401),
        ("auth-openapi.json", 200),
        ("auth-page.json", 200),
    ];
    for (name, expected) in cases {
        let response = auth.invoke(json(&event(name))).await.unwrap();
        assert_eq!(status(&response), expected, "{name}: {response}");
        if expected >= 400 {
            assert_eq!(response["headers"]["content-type"], "application/problem+json", "{name}");
        }
        match name {
            // The API's description and the page, served by the function.
            "auth-openapi.json" => {
                assert_eq!(response["isBase64Encoded"], false);
                let served = json(response["body"].as_str().unwrap());
                assert_eq!(&served, local::contract::Contract::served().document());
            }
            "auth-page.json" => {
                assert!(response["headers"]["content-type"].as_str().unwrap().starts_with("text/html"));
                assert!(response["headers"]["content-security-policy"].as_str().unwrap().contains("script-src 'self'"));
                assert!(response["body"].as_str().unwrap().contains("<title>Serverless OCR</title>"));
            }
            _ => {}
        }
    }
    if let Some(lines) = auth.json_lines() {
        // In Lambda: a JSON request line carrying Lambda's and API
        // Gateway's request ids, the cold start on the first, and the
        // request's metrics as EMF in the stack's namespace.
        let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
        assert_eq!(requests.len(), cases.len(), "one line per request");
        assert_eq!(requests[0]["span"]["request_id"], "local-1");
        assert_eq!(requests[0]["span"]["apigw_request_id"], "JKJaXmPLvHcESHA=");
        assert_eq!(requests[0]["span"]["route"], "/auth/register");
        assert_eq!(requests[0]["span"]["cold_start"], true);
        assert_eq!(requests[1]["span"]["cold_start"], false);
        let namespace = format!("ServerlessOcr/{}", app.system.stack.name);
        let metrics: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
        let route_metrics =
            metrics.iter().filter(|m| m["Route"] == "POST /auth/register" && m["Service"] == "auth").count();
        assert_eq!(route_metrics, 1, "{metrics:?}");
        assert!(metrics.iter().all(|m| m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace.as_str()));
    }
    let jobs = app.drain_emails(std::time::Duration::from_secs(5)).await;
    assert!(jobs.iter().any(|j| j.to.as_str() == "ada@example.org"), "register queued no e-mail");
    assert!(jobs.iter().any(|j| j.to.as_str() == "grace@example.org"), "forgot queued no e-mail");

    // The protected events with real tokens (the samples' password is the test users').
    for (name, expected) in
        [("auth-change-password.json", 200), ("auth-sign-out-everywhere.json", 204), ("auth-delete-me.json", 204)]
    {
        let token = app.signed_up_user(&unique_email()).await;
        let response = auth.invoke(json(&event(name).replace("REPLACE_WITH_ACCESS_TOKEN", &token))).await.unwrap();
        assert_eq!(status(&response), expected, "{name}: {response}");
        assert_eq!(app.get_with_token("/users/me", &token).await.status(), 401, "{name} left the token working");
    }
}

#[tokio::test]
async fn upload_ocr_and_notify_binaries_run_the_pipeline() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let token = app.signed_up_user(&email).await;
    let me: Value = app.get_with_token("/users/me", &token).await.json().await.unwrap();
    let owner = me["id"].as_str().unwrap();

    // POST /ocr with the sample image (base64, as API Gateway sends it).
    let mut upload = start(&app, "jobs-api", "UploadFunction").await;
    let submitted =
        upload.invoke(json(&event("upload-submit.json").replace("REPLACE_WITH_ACCESS_TOKEN", &token))).await.unwrap();
    assert_eq!(status(&submitted), 202, "{submitted}");
    let body: Value = json(submitted["body"].as_str().unwrap());
    let job = body["job_id"].as_str().unwrap().to_owned();

    let sample_job = "01a201dc-18a3-74f2-9aa9-8f59abc3ece1";
    let get = event("upload-get-job.json").replace("REPLACE_WITH_ACCESS_TOKEN", &token).replace(sample_job, &job);
    let got = upload.invoke(json(&get)).await.unwrap();
    assert_eq!(status(&got), 200, "{got}");
    assert_eq!(json(got["body"].as_str().unwrap())["status"], "QUEUED");
    let listed = upload
        .invoke(json(&event("upload-list-jobs.json").replace("REPLACE_WITH_ACCESS_TOKEN", &token)))
        .await
        .unwrap();
    assert_eq!(status(&listed), 200, "{listed}");

    // The S3 notification for that upload (plus S3's test event).
    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let notification = event("ocr-s3-notification.json")
        .replace("serverless-ocr-uploadsbucket", &bucket)
        .replace("01a201b1-ceeb-7214-9130-1e561c970362", owner)
        .replace(sample_job, &job);
    let mut ocr = start(&app, "ocr-worker", "OcrFunction").await;
    let processed = ocr.invoke(json(&notification)).await.unwrap();
    assert_eq!(processed["batchItemFailures"], Value::Array(vec![]), "{processed}");
    let done: Value = app.get_with_token(&format!("/jobs/{job}"), &token).await.json().await.unwrap();
    assert_eq!(done["status"], "DONE", "{done}");
    if let Some(lines) = ocr.json_lines() {
        // The invocation's line (cold start), the job's under its id, and
        // the job's metrics.
        let invocation = lines.iter().find(|l| l["message"] == "invocation").expect("an invocation line");
        assert_eq!(
            (&invocation["span"]["request_id"], &invocation["span"]["cold_start"]),
            (&json("\"local-1\""), &json("true"))
        );
        let finished = lines.iter().find(|l| l["message"] == "job finished").expect("a job finished line");
        assert_eq!(finished["span"]["job_id"], job.as_str());
        assert!(finished["span"]["message_id"].is_string() && finished["status"] == "DONE", "{finished}");
        let emf = lines.iter().find(|l| l.get("JobsSucceeded").is_some()).expect("the job's metrics");
        assert_eq!(emf["Service"], "ocr");
        assert!(emf["OcrMilliseconds"].is_number() && emf["Megapixels"].is_number(), "{emf}");
    }
    assert!(done["result"]["text"].as_str().unwrap().contains("Invoice"), "{done}");
    // Which CPU kernels read it, in the result and (once) in the log.
    let kernel = done["result"]["engine"]["kernel"].as_str().expect("the result names its kernel family");
    if let Some(lines) = ocr.json_lines() {
        let ready = lines.iter().find(|l| l["message"] == "OCR engine ready").expect("the engine's start-up line");
        assert_eq!(ready["kernel"], kernel, "{ready}");
        assert!(ready["self_check_ms"].is_number() && ready["kernel_path"].is_string(), "{ready}");
    }

    // The sample e-mail jobs, addressed to this test's user.
    let mut notify = start(&app, "notify", "NotifyFunction").await;
    let emails = event("notify-email-jobs.json").replace("ada@example.org", &email);
    let sent = notify.invoke(json(&emails)).await.unwrap();
    assert_eq!(sent["batchItemFailures"], Value::Array(vec![]), "{sent}");
    let mail = app.sent_mail(&email, "", 3).await;
    assert_eq!(mail.len(), 3, "{mail:?}");
    // Delivered again: nothing more is sent.
    let again = notify.invoke(json(&emails)).await.unwrap();
    assert_eq!(again["batchItemFailures"], Value::Array(vec![]));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(app.sent_mail(&email, "", 3).await.len(), 3);
}

/// The release binary refuses to start when its engine misreads the
/// reference line (here: models with the CNN's weights negated, through
/// OCR_MODELS_DIR), so Lambda reports an init error instead of jobs DONE
/// with wrong text. Runs the binary itself under our Runtime API, also in
/// `./dev test-sam`: `sam local invoke` cannot be handed other models.
#[tokio::test]
async fn an_ocr_engine_that_misreads_cannot_start() {
    let app = TestApp::spawn().await;
    let models = tempfile::tempdir().unwrap();
    ocr_worker::engine::broken::write_models(models.path()).unwrap();
    let mut env = app.system.stack.function_env_vars("OcrFunction").unwrap();
    env.insert(platform::config::OCR_MODELS_DIR.into(), models.path().display().to_string());
    let mut process = LambdaProcess::start(&binary("ocr-worker"), "OcrFunction", &env).await.unwrap();
    let error = process.init_duration().await.expect_err("a misreading engine took work");
    assert!(error.to_string().contains("during init"), "{error}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let failure = loop {
        let lines = process.stdout_lines();
        let found = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == "the OCR function cannot start");
        match found {
            Some(line) => break line,
            None if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            None => panic!("no start-up failure line in {lines:?}"),
        }
    };
    let reason = failure["error"].as_str().unwrap();
    assert!(reason.contains("OCR self-check failed on this CPU") && reason.contains("CPU features"), "{reason}");
}
