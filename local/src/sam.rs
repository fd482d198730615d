//! `sam local invoke` against a local stack. SAM resolves a `!Ref` to the
//! logical id and lets `--env-vars` override only the variables the template
//! declares, so it needs a file naming, per function, the stack's real
//! tables, queues and secret, and the emulator as a container reaches it
//! (the template declares `AWS_ENDPOINT_URL` when `LocalEndpointUrl` is set).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};

use crate::stack::Stack;

/// The environment of every function of the stack, as `--env-vars` takes it.
pub fn env_vars(stack: &Stack, container_endpoint: &str) -> Result<Value> {
    let mut functions = Map::new();
    for (logical_id, _) in stack.template().resources_of_type("AWS::Serverless::Function") {
        let mut vars: Map<String, Value> =
            stack.function_env_vars(&logical_id)?.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        vars.insert("AWS_ENDPOINT_URL".into(), container_endpoint.into());
        functions.insert(logical_id, Value::Object(vars));
    }
    Ok(Value::Object(functions))
}

/// Writes [`env_vars`] to `path`. It names the secret, not its value: the
/// functions read that from the emulator's Secrets Manager, as in AWS.
pub fn write_env_vars(stack: &Stack, container_endpoint: &str, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&env_vars(stack, container_endpoint)?)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// One function invoked through `sam local invoke` (a fresh container per
/// event, as SAM does), from the build directory `./dev sam-build` or
/// `sam build` made.
pub struct SamFunction {
    pub logical_id: String,
    pub template: PathBuf,
    pub env_vars: PathBuf,
    pub container_endpoint: String,
}

impl SamFunction {
    pub async fn invoke(&self, event: &Value) -> Result<Value> {
        let dir = std::env::temp_dir().join(format!("sam-event-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let event_file = dir.join("event.json");
        std::fs::write(&event_file, serde_json::to_vec(event)?)?;
        let mut command = tokio::process::Command::new(std::env::var("SAM_CLI").unwrap_or_else(|_| "sam".into()));
        command
            .args(["local", "invoke", &self.logical_id, "--skip-pull-image", "--event"])
            .arg(&event_file)
            .arg("--template")
            .arg(&self.template)
            .arg("--env-vars")
            .arg(&self.env_vars)
            .arg("--parameter-overrides")
            .arg(format!("Architecture=x86_64 LocalEndpointUrl={}", self.container_endpoint))
            .env("SAM_CLI_TELEMETRY", "0")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .context("sam local invoke took over 120 s")?
            .context("running sam (install it with ./dev sam-build)")?;
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("sam local invoke {} failed ({}):\n{stderr}", self.logical_id, output.status);
        }
        // SAM prints the function's answer as the last line of stdout, its
        // logs and the container's on stderr.
        let answer = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| anyhow!("sam local invoke {} printed no answer; its log:\n{stderr}", self.logical_id))?;
        let value: Value = serde_json::from_str(answer)
            .with_context(|| format!("the answer of {} is not JSON: {answer}\n{stderr}", self.logical_id))?;
        if value.get("errorType").is_some() || value.get("errorMessage").is_some() {
            bail!("the function returned an error: {value}\n{stderr}");
        }
        Ok(value)
    }
}
