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
    let child = spawn_with(script, input, Stdio::piped(), Stdio::piped());
    let output = child.wait_with_output().expect("node runs to its end");
    parse_output(script, &output)
}

/// Starts `node <script>` with `input` on stdin and returns the process (to kill it).
pub fn spawn(script: &str, input: &Value) -> std::process::Child {
    spawn_with(script, input, Stdio::null(), Stdio::null())
}

/// A running Node script whose output is read line by line.
pub struct Watcher {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Watcher {
    /// Starts `node <script>` with `input` on stdin and waits for its first line to be `ready`.
    pub fn start(script: &str, input: &Value) -> Self {
        use std::io::BufRead;
        let mut child = spawn_with(script, input, Stdio::piped(), Stdio::inherit());
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        assert_eq!(first, "ready", "node {script} did not get ready");
        Self { child, lines }
    }

    /// Waits for the script's JSON line and its exit.
    pub fn finish(mut self) -> Value {
        let line = self.lines.next().and_then(Result::ok).unwrap_or_default();
        let status = self.child.wait().expect("node runs to its end");
        assert!(status.success(), "node exited with {status}: {line}");
        serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("node printed no JSON ({err}): {line}"))
    }
}

impl Drop for Watcher {
    /// A test that fails before `finish` must not leave the script running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_with(script: &str, input: &Value, stdout: Stdio, stderr: Stdio) -> std::process::Child {
    let dir = compat_dir();
    assert!(
        dir.join("node_modules/bullmq6").exists(),
        "Node BullMQ is missing: run `npm ci` in node-worker-compat"
    );
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
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
