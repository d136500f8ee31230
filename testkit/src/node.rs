//! Runs the scripts of `node-worker-compat/` (real Node BullMQ) with a JSON document on
//! stdin and one JSON line expected on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// `node-worker-compat/` of this workspace.
pub fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node-worker-compat")
}

/// Runs `node <script>` with `input` on stdin and returns the JSON it prints, panicking
/// with its stderr when it fails. Fails loudly when the packages are not installed.
pub fn run(script: &str, input: &Value) -> Value {
    let dir = compat_dir();
    assert!(
        dir.join("node_modules/bullmq6").exists() && dir.join("node_modules/bullmq5").exists(),
        "Node BullMQ is missing: run `npm ci` in node-worker-compat"
    );
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run node ({err}): install Node.js 20"));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .expect("node reads its input");
    let output = child.wait_with_output().expect("node runs to its end");
    parse_output(script, &output)
}

/// Starts `node <script>` with `input` on stdin and returns the process (to kill it).
pub fn spawn(script: &str, input: &Value) -> std::process::Child {
    let dir = compat_dir();
    assert!(
        dir.join("node_modules/bullmq6").exists(),
        "Node BullMQ is missing: run `npm ci` in node-worker-compat"
    );
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run node ({err}): install Node.js 20"));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .expect("node reads its input");
    child
}

/// Runs `node <script> <args...>` and returns the JSON it prints last.
pub fn run_args(script: &str, args: &[&str]) -> Value {
    let dir = compat_dir();
    assert!(
        dir.join("node_modules/bullmq6").exists(),
        "Node BullMQ is missing: run `npm ci` in node-worker-compat"
    );
    let output = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run node ({err}): install Node.js 20"));
    parse_output(script, &output)
}

fn parse_output(script: &str, output: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {script} failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|err| panic!("node {script} printed no JSON ({err}):\n{stdout}"))
}
