//! The binary's contract: `--help` documents every flag with its variable, a bad value
//! stops start-up with one line naming it (exit 2), SIGTERM stops it cleanly.

use std::process::Command;

use testkit::RedisServer;

use crate::support::{Process, TempDir, event, post_signed};

fn listener() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sellsy-listener"))
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
    ] {
        let mut command = listener();
        command.args(&args);
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
        .args(["--redis-cluster", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("use a prefix such as {sellsy}"), "{stderr}");
}
