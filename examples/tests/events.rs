//! The `events` example's contract: from the moment it says it listens, one JSON object per
//! event on stdout, `"id"` then the entry's fields as stored (strings as strings), the
//! same entries `XRANGE` shows; exit 0 on SIGTERM; exit 2 for bad arguments, 1 when Redis
//! is unreachable.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bullmq_rs::{ActiveJob, JobOptions, Queue, Worker};
use serde_json::{Map, Value, json};
use testkit::RedisServer;

fn events_command(args: &[&str]) -> Command {
    let mut command = Command::new(testkit::example_binary("events"));
    command.args(args).env_remove("REDIS_URL");
    command
}

#[test]
fn prints_each_event_as_stored_and_stops_on_sigterm() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let queue = rt.block_on(Queue::connect(&redis.url(), "q")).unwrap();
    // Before the example starts (`added`, `delayed`): not printed. Not run either.
    let later = JobOptions {
        delay: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    rt.block_on(queue.add("earlier", &json!({}), later))
        .unwrap();
    let mut example = events_command(&["--redis-url", &redis.url(), "q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the events example is built by cargo test");
    let mut stderr = BufReader::new(example.stderr.take().unwrap()).lines();
    let ready = stderr.next().unwrap().unwrap();
    assert!(
        ready.starts_with("listening to bull:q:events after "),
        "{ready}"
    );

    rt.block_on(async {
        let id = queue
            .add("greet", &json!({"to": "ada"}), JobOptions::default())
            .await
            .unwrap();
        let worker = Worker::builder("q")
            .drain_delay(Duration::from_millis(100))
            .connect(&redis.url(), |job: ActiveJob| async move {
                Ok::<_, bullmq_rs::JobError>(json!({"sent": job.data["to"]}))
            })
            .await
            .unwrap();
        let done = queue.clone();
        let completed = async move {
            while done
                .get_job(&id)
                .await
                .unwrap()
                .unwrap()
                .finished_on
                .is_none()
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        worker.run_until(completed).await.unwrap();
    });
    let stored: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("bull:q:events")
        .arg("-")
        .arg("+")
        .query(&mut redis.connection(0))
        .unwrap();
    let expected: Vec<Value> = stored[2..]
        .iter()
        .map(|(id, fields)| {
            let mut line = Map::new();
            line.insert("id".to_owned(), json!(id));
            for pair in fields.chunks(2) {
                line.insert(pair[0].clone(), json!(pair[1]));
            }
            Value::Object(line)
        })
        .collect();
    let mut stdout = BufReader::new(example.stdout.take().unwrap()).lines();
    let printed: Vec<String> = (0..expected.len())
        .map(|_| stdout.next().unwrap().unwrap())
        .collect();
    let _ = Command::new("kill")
        .args(["-TERM", &example.id().to_string()])
        .status();
    let status = example.wait().unwrap();

    let parsed: Vec<Value> = printed
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(parsed, expected);
    let names: Vec<&str> = parsed
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["added", "waiting", "active", "completed"]);
    assert!(
        printed[3].starts_with(r#"{"id":""#)
            && printed[3].ends_with(
                r#"","event":"completed","jobId":"2","returnvalue":"{\"sent\":\"ada\"}","prev":"active"}"#
            ),
        "{}",
        printed[3]
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_arguments_exit_2_and_an_unreachable_redis_exits_1() {
    let no_queue = events_command(&[]).output().unwrap();
    assert_eq!(no_queue.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_queue.stderr).starts_with("error: expected one QUEUE"));
    let bad_name = events_command(&["a:b"]).output().unwrap();
    assert_eq!(bad_name.status.code(), Some(2));

    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = events_command(&[
        "--redis-url",
        &format!("redis://127.0.0.1:{free_port}"),
        "q",
    ])
    .output()
    .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        stderr.starts_with("error: cannot connect to redis"),
        "{stderr}"
    );
}
