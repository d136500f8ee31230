//! The `enqueue` example's command-line contract: id alone on stdout and exit 0; a
//! one-line error and exit 2 for bad JSON or options; exit 1 when Redis is unreachable.

use std::process::{Command, Output};

use bullmq_rs::{JobState, Queue};
use serde_json::json;
use testkit::RedisServer;

fn enqueue(args: &[&str], redis_url: Option<&str>) -> Output {
    let mut command = Command::new(testkit::example_binary("enqueue"));
    command.args(args).env_remove("REDIS_URL");
    if let Some(url) = redis_url {
        command.env("REDIS_URL", url);
    }
    command
        .output()
        .expect("the enqueue example is built by cargo test")
}

/// ACL user `producer` (password `s3cret`) limited to the keys of queue `q`.
fn add_producer_user(redis: &RedisServer) {
    let () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "producer",
            "on",
            ">s3cret",
            "~bull:q:*",
            "+@all",
            "-@dangerous",
        ])
        .query(&mut redis.connection(0))
        .unwrap();
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr
}

#[tokio::test]
async fn adds_one_job_and_prints_its_id_alone() {
    let redis = RedisServer::start();

    let output = enqueue(
        &[
            "emails",
            "welcome",
            r#"{"to":"ada"}"#,
            r#"{"delay":5000,"attempts":2}"#,
        ],
        Some(&redis.url()),
    );

    assert!(output.status.success(), "{}", stderr_line(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1\n");
    let queue = Queue::connect(&redis.url(), "emails").await.unwrap();
    let job = queue.get_job(&"1".into()).await.unwrap().unwrap();
    assert_eq!(
        (job.name.as_str(), job.state, job.data),
        ("welcome", JobState::Delayed, json!({"to": "ada"}))
    );
    assert_eq!(job.opts.attempts, Some(2));
}

#[tokio::test]
async fn flags_choose_url_prefix_and_major() {
    let redis = RedisServer::start();
    let url = redis.url_db(3);

    let output = enqueue(
        &[
            "--redis-url",
            &url,
            "--prefix",
            "{t}",
            "--bullmq-major",
            "5",
            "q",
            "n",
            "[1,2]",
        ],
        None,
    );

    assert!(output.status.success(), "{}", stderr_line(&output));
    let queue = Queue::builder("q")
        .prefix("{t}")
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(
        queue.get_job(&"1".into()).await.unwrap().unwrap().data,
        json!([1, 2])
    );
}

#[test]
fn bad_json_or_options_exit_2_with_one_line() {
    for (args, expected) in [
        (vec!["q", "n", "{not json"], "DATA_JSON is not valid JSON"),
        (
            vec!["q", "n", "{}", r#"{"delays":1}"#],
            "unknown field `delays`",
        ),
        (
            vec!["q", "n", "{}", r#"{"priority":9999999}"#],
            "invalid job option `priority`",
        ),
        (
            vec!["q", "n", "{}", r#"{"jobId":"42"}"#],
            "invalid job option `jobId`",
        ),
        (vec!["q", "n"], "missing arguments"),
        (
            vec!["--bullmq-major", "4", "q", "n", "{}"],
            "expected 5 or 6",
        ),
    ] {
        let output = enqueue(&args, Some("redis://127.0.0.1:1"));
        let stderr = stderr_line(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn unreachable_redis_exits_1_with_one_line() {
    let redis = RedisServer::start();
    let url = redis.url();
    drop(redis);

    let output = enqueue(&["q", "n", "{}"], Some(&url));

    let stderr = stderr_line(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot connect to redis at 127.0.0.1:"),
        "{stderr}"
    );
}

#[tokio::test]
async fn adds_over_tls_with_a_rediss_url() {
    let (redis, tls_port, ca) = RedisServer::with_tls();
    let url = format!("rediss://localhost:{tls_port}");

    let output = std::process::Command::new(testkit::example_binary("enqueue"))
        .args(["--redis-url", &url, "q", "secure", "{}"])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();

    assert!(output.status.success(), "{}", stderr_line(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1\n");
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    assert_eq!(
        queue.get_job(&"1".into()).await.unwrap().unwrap().name,
        "secure"
    );
}

#[tokio::test]
async fn adds_to_a_redis_cluster_with_cluster() {
    let cluster = testkit::RedisCluster::start(3);

    let output = enqueue(
        &["--cluster", "--prefix", "{sellsy}", "q", "on-cluster", "{}"],
        Some(&cluster.url()),
    );
    let refused = enqueue(
        &["--cluster", "q", "on-cluster", "{}"],
        Some(&cluster.url()),
    );

    assert!(output.status.success(), "{}", stderr_line(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1\n");
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a prefix without hash tag is a usage error"
    );
    assert!(stderr_line(&refused).contains("use a prefix such as {sellsy}"));
}

#[tokio::test]
async fn adds_over_tls_as_an_acl_user_and_a_wrong_password_is_one_line() {
    let (redis, tls_port, ca) = RedisServer::with_tls();
    add_producer_user(&redis);
    let run = |password: &str, queue: &str| {
        std::process::Command::new(testkit::example_binary("enqueue"))
            .args(["q", "n", "{}"].map(|arg| if arg == "q" { queue } else { arg }))
            .env(
                "REDIS_URL",
                format!("rediss://producer:{password}@localhost:{tls_port}"),
            )
            .env("SSL_CERT_FILE", &ca)
            .output()
            .unwrap()
    };

    let allowed = run("s3cret", "q");
    let other_queue = run("s3cret", "other");
    let wrong = run("wrong", "q");

    assert!(allowed.status.success(), "{}", stderr_line(&allowed));
    assert_eq!(String::from_utf8_lossy(&allowed.stdout), "1\n");
    assert_eq!(
        other_queue.status.code(),
        Some(1),
        "{}",
        stderr_line(&other_queue)
    );
    let refused = stderr_line(&wrong);
    assert_eq!(wrong.status.code(), Some(1), "{refused}");
    assert_eq!(refused.lines().count(), 1, "{refused}");
    assert!(refused.contains("cannot connect to redis"), "{refused}");
    assert!(!refused.contains("wrong"), "the password is never printed");
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    assert!(queue.get_job(&"1".into()).await.unwrap().is_some());
}

#[test]
fn an_acl_user_limited_to_the_queue_keys_can_add_and_a_wrong_password_fails_fast() {
    let redis = RedisServer::start();
    add_producer_user(&redis);
    let port = redis.port();

    let allowed = enqueue(
        &["q", "n", "{}"],
        Some(&format!("redis://producer:s3cret@127.0.0.1:{port}")),
    );
    let other_queue = enqueue(
        &["other", "n", "{}"],
        Some(&format!("redis://producer:s3cret@127.0.0.1:{port}")),
    );
    let wrong = enqueue(
        &["q", "n", "{}"],
        Some(&format!("redis://producer:wrong@127.0.0.1:{port}")),
    );

    assert!(allowed.status.success(), "{}", stderr_line(&allowed));
    assert_eq!(
        other_queue.status.code(),
        Some(1),
        "keys outside ~bull:q:* are refused: {}",
        stderr_line(&other_queue)
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr_line(&wrong));
    assert!(
        stderr_line(&wrong).contains("cannot connect to redis"),
        "{}",
        stderr_line(&wrong)
    );
    assert!(
        !stderr_line(&wrong).contains("wrong"),
        "the password is never printed"
    );
    // Redis logs failed logins in ACL LOG, one entry per client with a count.
    let log: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("ACL")
        .arg("LOG")
        .query(&mut redis.connection(0))
        .unwrap();
    let denied: i64 = log
        .iter()
        .filter(|entry| entry.get("reason") == Some(&redis::Value::BulkString(b"auth".to_vec())))
        .filter_map(|entry| match entry.get("count") {
            Some(redis::Value::Int(count)) => Some(*count),
            _ => None,
        })
        .sum();
    assert!(
        (1..=3).contains(&denied),
        "no retry storm: {denied} failed logins"
    );
}

#[tokio::test]
async fn adds_a_flow_and_prints_the_root_id_alone() {
    let redis = RedisServer::start();
    let flow = json!({
        "name": "invoice", "queueName": "invoices", "data": {"id": 7}, "opts": {"jobId": "inv-7"},
        "children": [
            {"name": "pdf", "queueName": "renders", "opts": {"jobId": "pdf-7", "failParentOnFailure": true}},
            {"name": "mail", "queueName": "mails", "prefix": "other", "opts": {"jobId": "mail-7"}}
        ]
    });

    let output = enqueue(
        &["--prefix", "app", "--flow", &flow.to_string()],
        Some(&redis.url()),
    );

    assert!(output.status.success(), "{}", stderr_line(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "inv-7\n");
    let invoices = Queue::builder("invoices")
        .prefix("app")
        .connect(&redis.url())
        .await
        .unwrap();
    let root = invoices.get_job(&"inv-7".into()).await.unwrap().unwrap();
    assert_eq!(root.state, JobState::WaitingChildren);
    let mut conn = redis.connection(0);
    let mut deps: Vec<String> = redis::cmd("SMEMBERS")
        .arg("app:invoices:inv-7:dependencies")
        .query(&mut conn)
        .unwrap();
    deps.sort();
    assert_eq!(deps, ["app:renders:pdf-7", "other:mails:mail-7"]);
    let parent: String = redis::cmd("HGET")
        .arg("other:mails:mail-7")
        .arg("parent")
        .query(&mut conn)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&parent).unwrap(),
        json!({"id": "inv-7", "queueKey": "app:invoices"})
    );
}

#[test]
fn a_flow_root_without_id_gets_a_uuid() {
    let redis = RedisServer::start();
    let output = enqueue(
        &[
            "--flow",
            r#"{"name":"n","queueName":"q","children":[{"name":"c","queueName":"q"}]}"#,
        ],
        Some(&redis.url()),
    );
    assert!(output.status.success(), "{}", stderr_line(&output));
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!((id.len(), id.matches('-').count()), (36, 4), "{id}");
}

#[test]
fn bad_flows_exit_2_with_one_line() {
    for (args, expected) in [
        (vec!["--flow", "{not json"], "FLOW_JSON"),
        (
            vec!["--flow", r#"{"name":"n","queueName":"q","kids":[]}"#],
            "unknown field `kids`",
        ),
        (
            vec!["q", "--flow", r#"{"name":"n","queueName":"q"}"#],
            "--flow takes no QUEUE",
        ),
        (
            vec![
                "--flow",
                r#"{"name":"n","queueName":"q","children":[{"name":"c","queueName":"q","opts":{"jobId":"42"}}]}"#,
            ],
            "invalid job option `jobId`",
        ),
        (
            vec!["--flow", r#"{"name":"n","queueName":"a:b"}"#],
            "invalid queue name",
        ),
    ] {
        let output = enqueue(&args, Some("redis://127.0.0.1:1"));
        let stderr = stderr_line(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_flow_with_redis_unreachable_exits_1() {
    let redis = RedisServer::start();
    let url = redis.url();
    drop(redis);
    let output = enqueue(&["--flow", r#"{"name":"n","queueName":"q"}"#], Some(&url));
    let stderr = stderr_line(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
