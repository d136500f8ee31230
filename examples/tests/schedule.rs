//! The `schedule` example's command-line contract: the scheduled job's id (or `null`)
//! alone on stdout and exit 0; `--remove` prints `{"removed":true|false}`; a one-line
//! error and exit 2 for bad arguments, JSON or options; exit 1 when Redis is unreachable.

use std::process::{Command, Output};

use bullmq_rs::{BullmqMajor, Queue};
use testkit::RedisServer;

fn schedule(args: &[&str]) -> Output {
    Command::new(testkit::example_binary("schedule"))
        .args(args)
        .env_remove("REDIS_URL")
        .output()
        .expect("the schedule example is built by cargo test")
}

fn stdout(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn fails_with(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("panicked"),
        "{stderr}"
    );
    stderr
}

#[tokio::test]
async fn upserts_prints_the_run_id_and_removes() {
    let redis = RedisServer::start();
    let url = redis.url_db(2);

    let out = stdout(&schedule(&[
        "--redis-url",
        &url,
        "--prefix",
        "{p}",
        "--bullmq-major",
        "5",
        "reports",
        "nightly",
        r#"{"pattern":"0 3 * * *","tz":"UTC"}"#,
        r#"{"name":"report","data":{"format":"pdf"}}"#,
    ]));
    let run = out.trim_end();
    assert!(run.starts_with("repeat:nightly:"), "{out}");
    assert_eq!(out.lines().count(), 1);

    let queue = Queue::builder("reports")
        .prefix("{p}")
        .major(BullmqMajor::V5)
        .connect(&url)
        .await
        .unwrap();
    let scheduler = queue.get_job_scheduler("nightly").await.unwrap().unwrap();
    assert_eq!(scheduler.name, "report");
    assert_eq!(
        Some(run),
        scheduler
            .next
            .map(|next| format!("repeat:nightly:{next}"))
            .as_deref()
    );
    let job = queue.get_job(&run.into()).await.unwrap().unwrap();
    assert_eq!(job.data, serde_json::json!({"format": "pdf"}));

    let no_run = schedule(&[
        "--redis-url",
        &url,
        "q",
        "none",
        r#"{"every":1000,"limit":0}"#,
    ]);
    assert_eq!(stdout(&no_run), "null\n");

    let removed = [
        "--redis-url",
        &url,
        "--prefix",
        "{p}",
        "--remove",
        "reports",
        "nightly",
    ];
    assert_eq!(stdout(&schedule(&removed)), "{\"removed\":true}\n");
    assert_eq!(stdout(&schedule(&removed)), "{\"removed\":false}\n");
}

#[test]
fn bad_input_exits_2_and_unreachable_redis_exits_1() {
    let redis = RedisServer::start();
    let url = redis.url();
    for args in [
        vec!["q", "s"],
        vec!["q", "s", "not json"],
        vec!["q", "s", r#"{"every":1000,"cron":"x"}"#],
        vec!["q", "s", r#"{"every":1000,"pattern":"* * * * *"}"#],
        vec!["q", "s", r#"{"pattern":"99 * * * *"}"#],
        vec!["q", "s", r#"{"every":1000}"#, r#"{"opts":{"delay":5}}"#],
        vec!["--remove", "q", "s", r#"{"every":1000}"#],
        vec!["--bullmq-major", "7", "q", "s", r#"{"every":1000}"#],
    ] {
        let mut full = vec!["--redis-url", url.as_str()];
        full.extend(&args);
        fails_with(&schedule(&full), 2);
    }
    let unreachable = [
        "--redis-url",
        "redis://127.0.0.1:1",
        "q",
        "s",
        r#"{"every":1000}"#,
    ];
    let stderr = fails_with(&schedule(&unreachable), 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
