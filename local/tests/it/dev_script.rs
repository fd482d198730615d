//! `./dev`'s own shell functions, sourced into bash with stand-ins for the
//! commands they call: on a machine without Docker, `./dev up` must serve
//! on loopback, not die silently (as it did under `set -euo pipefail` when
//! `ip` found no docker0).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Runs `script` in bash after sourcing `./dev` with `set -euo pipefail`
/// (as `./dev` runs), with `bin` first on PATH; returns (status, stdout, stderr).
fn with_dev(bin: &Path, script: &str) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; source ./dev; {script}"))
        .current_dir(root)
        .env("PATH", path)
        .env_remove("SAM_ENDPOINT_URL")
        .output()
        .expect("bash runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn stand_in(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn without_a_docker_bridge_the_emulator_stays_on_loopback() {
    let bin = tempfile::tempdir().unwrap();
    // What iproute2 answers when there is no docker0.
    stand_in(bin.path(), "ip", "echo 'Device \"docker0\" does not exist.' >&2; exit 1");
    let script = "bridge=$(docker_bridge); echo \"bridge=[$bridge]\"; \
                  AWS_ENDPOINT_URL=http://127.0.0.1:4566; endpoint=$(container_endpoint); echo \"endpoint=[$endpoint]\"";
    let (status, stdout, stderr) = with_dev(bin.path(), script);
    assert_eq!(status, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("bridge=[]") && stdout.contains("endpoint=[]"), "{stdout}");
}

#[test]
fn with_a_docker_bridge_containers_reach_the_emulator_on_it() {
    let bin = tempfile::tempdir().unwrap();
    stand_in(
        bin.path(),
        "ip",
        "echo '5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever'",
    );
    let script = "AWS_ENDPOINT_URL=http://127.0.0.1:4566; echo \"endpoint=[$(container_endpoint)]\"";
    let (status, stdout, stderr) = with_dev(bin.path(), script);
    assert_eq!(status, 0, "stderr: {stderr}");
    assert!(stdout.contains("endpoint=[http://172.17.0.1:4566]"), "{stdout}");
}

#[test]
fn without_ip_at_all_there_is_no_bridge_and_no_failure() {
    // A PATH with bash's basics but no `ip`.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["awk", "sed", "python3", "uname", "grep"] {
        if let Ok(found) = which(tool) {
            std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new("/bin/bash")
        .arg("-c")
        .arg("set -euo pipefail; source ./dev; echo \"bridge=[$(docker_bridge)]\"")
        .current_dir(root)
        .env("PATH", bin.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("bridge=[]"), "{stdout}");
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|candidate| candidate.is_file())
        .ok_or(())
}
