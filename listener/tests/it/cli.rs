//! The binary's contract: `--help` documents every flag with its variable, a bad value
//! or a missing signing key stops start-up with one line naming it (exit 2), SIGTERM
//! stops it cleanly.

use std::process::Command;

use testkit::RedisServer;

use crate::support::{Process, TempDir, event, post_signed, request};

/// The binary, with no key nor permission to go without one from this environment.
fn listener() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sellsy-listener"));
    command
        .env_remove("SELLSY_WEBHOOK_SECRET")
        .env_remove("SELLSY_WEBHOOK_SECRET_FILE")
        .env_remove("ALLOW_UNSIGNED");
    command
}

/// Runs the binary to its exit and returns its exit code and stderr.
fn fails(command: &mut Command) -> (Option<i32>, String) {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn help_lists_every_flag_with_its_variable() {
    let output = listener().arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();

    assert!(output.status.success());
    for (flag, env) in [
        ("--listen", "LISTEN_ADDR"),
        ("--redis-url", "REDIS_URL"),
        ("--queue", "QUEUE_NAME"),
        ("--prefix", "BULLMQ_PREFIX"),
        ("--bullmq-major", "BULLMQ_MAJOR"),
        ("--secret", "SELLSY_WEBHOOK_SECRET"),
        ("--secret-file", "SELLSY_WEBHOOK_SECRET_FILE"),
        ("--spool-dir", "SPOOL_DIR"),
        ("--max-body-bytes", "MAX_BODY_BYTES"),
        ("--redis-deadline-ms", "REDIS_DEADLINE_MS"),
        ("--job-options", "DEFAULT_JOB_OPTIONS"),
        ("--log-format", "LOG_FORMAT"),
        ("--signature-scheme", "SIGNATURE_SCHEME"),
        ("--redis-cluster", "REDIS_CLUSTER"),
        ("--redis-sentinel-master", "REDIS_SENTINEL_MASTER"),
        ("--min-replicas-acks", "MIN_REPLICAS_ACKS"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} missing from --help:\n{help}"
        );
    }
}

#[test]
fn a_bad_value_stops_start_up_with_one_line_naming_it() {
    for (args, env, name) in [
        (vec!["--listen", "not-an-address"], None, "--listen"),
        (vec!["--bullmq-major", "4"], None, "--bullmq-major"),
        (
            vec![],
            Some(("DEFAULT_JOB_OPTIONS", "{\"attempts\":-1}")),
            "--job-options",
        ),
        (
            vec!["--redis-deadline-ms", "soon"],
            None,
            "--redis-deadline-ms",
        ),
        (
            vec!["--redis-cluster"],
            Some(("REDIS_SENTINEL_MASTER", "mymaster")),
            "--redis-sentinel-master",
        ),
        (
            vec![
                "--max-inflight-body-bytes",
                "1000",
                "--max-body-bytes",
                "2000",
            ],
            None,
            "--max-inflight-body-bytes",
        ),
        (vec!["--spool-max-bytes", "0"], None, "--spool-max-bytes"),
        (vec!["--keep-alive-secs", "0"], None, "--keep-alive-secs"),
    ] {
        let mut command = listener();
        command.args(["--secret", "k"]).args(&args);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(name), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn sigterm_finishes_and_exits_cleanly_keeping_the_spool() {
    let redis = RedisServer::start();
    let spool = TempDir::new("sigterm");
    let process = Process::start(&[
        "--redis-url",
        &redis.url(),
        "--secret",
        crate::support::SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ]);
    assert_eq!(
        post_signed(process.addr, &event(1)).await.unwrap().status,
        200
    );

    let status = process.terminate();

    assert!(status.success(), "{status:?}");
    assert!(spool.0.join("spool.redb").exists());
}

#[test]
fn a_cluster_without_hash_tagged_prefix_stops_start_up_with_advice() {
    let output = listener()
        .args([
            "--redis-cluster",
            "--listen",
            "127.0.0.1:0",
            "--secret",
            "k",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("use a prefix such as {sellsy}"), "{stderr}");
}

#[test]
fn without_a_signing_key_start_up_stops_with_one_line_naming_the_variable() {
    let spool = TempDir::new("no-key");
    let (code, stderr) = fails(listener().args([
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        "redis://127.0.0.1:1",
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ]));

    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SELLSY_WEBHOOK_SECRET"), "{stderr}");
}

#[test]
fn an_empty_key_stops_start_up_without_showing_any_key() {
    const KEY: &str = "k3y-visible";
    let dir = TempDir::new("empty-key");
    let blank_file = dir.0.join("blank");
    std::fs::write(&blank_file, " \n\t\n").unwrap();
    let blank_file = blank_file.to_str().unwrap();
    let cases: [(&[&str], Option<&str>); 5] = [
        (&["--secret", ","], None),
        (&["--secret", "k3y-visible,"], None),
        (&["--secret", "k3y-visible, ,other"], None),
        (&[], Some(" ")),
        (&["--secret", KEY, "--secret-file", blank_file], None),
    ];
    for (args, env) in cases {
        let mut command = listener();
        command.args(["--listen", "127.0.0.1:0", "--spool-dir"]);
        command.arg(&dir.0).args(args);
        if let Some(value) = env {
            command.env("SELLSY_WEBHOOK_SECRET", value);
        }
        let (code, stderr) = fails(&mut command);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains(KEY), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--secret") || stderr.contains("SELLSY_WEBHOOK_SECRET"),
            "{args:?} {env:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn allow_unsigned_from_the_environment_starts_and_accepts_unsigned_webhooks() {
    let redis = RedisServer::start();
    let spool = TempDir::new("unsigned-env");
    let process = Process::start_with(
        &[
            "--redis-url",
            &redis.url(),
            "--spool-dir",
            spool.0.to_str().unwrap(),
        ],
        &[("ALLOW_UNSIGNED", "1")],
        None,
    );

    let headers = [("Content-Type", "application/json")];
    let response = request(process.addr, "POST", "/webhook/sellsy", &headers, &event(1))
        .await
        .unwrap();

    assert_eq!(response.status, 200);
}
