//! Faults beyond Redis going away: a full disk, a record that no longer validates, a
//! replica down for a long stretch, an add that runs after its deadline, the listener
//! killed at random moments while it drains. Every event answered 200 ends in Redis once.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use listener::{Spool, SpoolRecord};
use redis::Commands;
use testkit::{RedisServer, eventually};

use crate::durability::Outcome;
use crate::support::{InProcess, Process, SECRET, TempDir, event, post_signed, request};

const WAIT: &str = "bull:sellsy-webhooks:wait";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn job_exists(redis: &RedisServer, id: &str) -> bool {
    redis
        .connection(0)
        .exists(format!("bull:sellsy-webhooks:{id}"))
        .unwrap()
}

fn readyz(body: &crate::support::Response) -> serde_json::Value {
    body.json()
}

/// A tmpfs of `size` mounted on `dir` for the life of the value (tests run as root in
/// CI); `None`, with the reason printed, where mounting is not allowed.
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status();
        match status {
            Ok(status) if status.success() => Some(Self {
                dir: dir.to_owned(),
            }),
            other => {
                eprintln!("SKIPPED: cannot mount a tmpfs here ({other:?}); this test needs root");
                None
            }
        }
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_503s_never_a_false_200_and_heals_when_space_returns() {
    let mut redis = RedisServer::with_aof();
    let dir = TempDir::new("disk-full");
    let Some(disk) = Tmpfs::mount(&dir.0, "3m") else {
        return;
    };
    let spool_dir = dir.0.join("spool");
    let listener = InProcess::with_spool(&redis, &spool_dir, &[]).await;
    redis.kill();

    let mut outcome = Outcome::default();
    let mut n = 0;
    while outcome.refused < 20 {
        n += 1;
        assert!(n < 50_000, "the 3 MiB disk never filled");
        let response = post_signed(listener.addr, &event(n)).await.unwrap();
        match response.status {
            200 => {
                outcome
                    .acked
                    .insert(n, response.json()["jobId"].as_str().unwrap().to_owned());
            }
            503 => {
                assert!(response.header("retry-after").is_some());
                outcome.refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let full = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(full.status, 503, "{}", readyz(&full));
    assert_eq!(readyz(&full)["redis"], "unreachable");
    assert_ne!(readyz(&full)["spool"], "writable");
    println!(
        "disk full after {} acknowledged events, readyz: {}",
        outcome.acked.len(),
        readyz(&full)
    );

    disk.grow("64m");
    // Redis still down: the spool alone must take events again, with no restart.
    let (n, response) = first_accepted(listener.addr, 2_000_000)
        .await
        .expect("the spool heals by itself once there is room");
    assert_eq!(response.json()["status"], "spooled");
    outcome.acked.insert(n, job_id_of(&response));
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(readyz(&ready)["spool"], "writable", "{}", readyz(&ready));
    redis.restart();
    eventually(
        Duration::from_secs(30),
        "every acknowledged event in redis",
        || outcome.acked.values().all(|id| job_exists(&redis, id)),
    );
    let (n, response) = first_accepted(listener.addr, 1_000_000)
        .await
        .expect("no restart needed: 200s again once space and redis are back");
    outcome.acked.insert(n, job_id_of(&response));
    eventually(Duration::from_secs(30), "the spool to drain", || {
        outcome.acked.values().all(|id| job_exists(&redis, id))
    });
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(ready.status, 200, "{}", readyz(&ready));
    let waiting: usize = redis.connection(0).llen(WAIT).unwrap();
    assert_eq!(
        waiting,
        outcome.acked.len(),
        "one job per acknowledged event"
    );
    listener.stop().await;
}

#[tokio::test]
async fn a_spool_that_cannot_be_opened_at_start_is_used_once_it_can_without_a_restart() {
    let mut redis = RedisServer::start();
    let dir = TempDir::new("late-spool");
    let blocker = dir.0.join("spool");
    std::fs::write(&blocker, b"a file where the spool directory should be").unwrap();
    let listener = InProcess::with_spool(&redis, &blocker, &[]).await;
    redis.kill();
    let refused = post_signed(listener.addr, &event(1)).await.unwrap();
    assert_eq!(refused.status, 503, "neither redis nor the spool");

    std::fs::remove_file(&blocker).unwrap();
    let (_, response) = first_accepted(listener.addr, 2)
        .await
        .expect("the spool opened by itself");
    let id = job_id_of(&response);
    redis.restart();
    eventually(
        Duration::from_secs(20),
        "the spooled event in redis",
        || job_exists(&redis, &id),
    );
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_spool_max_bytes_events_get_503_and_the_spool_takes_them_again_once_drained() {
    let mut redis = RedisServer::start();
    let spool_dir = TempDir::new("spool-full");
    let listener =
        InProcess::with_spool(&redis, &spool_dir.0, &["--spool-max-bytes", "3145728"]).await;
    redis.kill();

    let mut acked = Vec::new();
    let mut n = 0;
    let refused = loop {
        n += 1;
        assert!(n < 50_000, "a 3 MiB spool never filled");
        let response = post_signed(listener.addr, &event(n)).await.unwrap();
        match response.status {
            200 => acked.push(response.json()["jobId"].as_str().unwrap().to_owned()),
            503 => break response,
            other => panic!("unexpected {other}"),
        }
    };
    assert!(refused.header("retry-after").is_some());
    let full = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(full.status, 503, "{}", readyz(&full));
    assert_eq!(readyz(&full)["spool"], "full", "{}", readyz(&full));
    let metrics = request(listener.addr, "GET", "/metrics", &[], b"")
        .await
        .unwrap();
    let metrics = String::from_utf8(metrics.body).unwrap();
    assert!(
        metrics.contains("sellsy_listener_spool_bytes "),
        "{metrics}"
    );
    println!("spool full after {} acknowledged events", acked.len());

    redis.restart();
    eventually(
        Duration::from_secs(30),
        "every acknowledged event in redis",
        || acked.iter().all(|id| job_exists(&redis, id)),
    );
    redis.kill();
    let again = post_signed(listener.addr, &event(n + 1)).await.unwrap();
    assert_eq!(
        (again.status, again.json()["status"].as_str()),
        (200, Some("spooled")),
        "the drained spool takes events again"
    );
    listener.stop().await;
}

/// Posts events numbered from `first` every 100 ms, for at most 10 s, until one is
/// answered 200; returns its number and the answer.
async fn first_accepted(
    addr: std::net::SocketAddr,
    first: u64,
) -> Option<(u64, crate::support::Response)> {
    for n in first..first + 100 {
        let response = post_signed(addr, &event(n)).await.unwrap();
        if response.status == 200 {
            return Some((n, response));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn job_id_of(response: &crate::support::Response) -> String {
    response.json()["jobId"].as_str().unwrap().to_owned()
}

fn record(job_id: &str, opts: &str, attempted_ms: Option<u64>) -> SpoolRecord {
    SpoolRecord {
        job_id: job_id.to_owned(),
        name: "event".to_owned(),
        data: format!(r#"{{"id":"{job_id}"}}"#),
        opts: opts.to_owned(),
        received_ms: now_ms(),
        attempted_ms,
        in_redis: false,
    }
}

fn listener_opts(job_id: &str, extra: &str) -> String {
    format!(
        r#"{{"jobId":"{job_id}","deduplication":{{"id":"{job_id}","ttl":86400000}},"removeOnComplete":true{extra}}}"#
    )
}

/// Runs `sellsy-listener spool ARGS` on `spool_dir`. An in-process listener that has just
/// stopped may hold the spool's file lock a moment longer than its `run` (its worker
/// threads drop their state last): "in use" is retried for a few seconds.
fn spool_command(spool_dir: &Path, args: &[&str]) -> (i32, String) {
    let released_by = Instant::now() + Duration::from_secs(5);
    loop {
        let output = Command::new(env!("CARGO_BIN_EXE_sellsy-listener"))
            .arg("--spool-dir")
            .arg(spool_dir)
            .arg("spool")
            .args(args)
            .output()
            .unwrap();
        let in_use = String::from_utf8_lossy(&output.stderr).contains("in use");
        if !in_use || Instant::now() > released_by {
            return (
                output.status.code().unwrap_or(-1),
                String::from_utf8(output.stdout).unwrap(),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_record_that_no_longer_validates_is_set_aside_and_requeued_after_a_fix() {
    let redis = RedisServer::start();
    let spool_dir = TempDir::new("dead-letter");
    {
        // Written by a listener on BullMQ 5, whose highest priority is one above BullMQ 6's.
        let spool = Spool::open(&spool_dir.0, 1 << 30).unwrap();
        spool
            .append(&[
                record("sellsy-first", &listener_opts("sellsy-first", ""), None),
                record(
                    "sellsy-v5-only",
                    &listener_opts("sellsy-v5-only", r#","priority":2097152"#),
                    None,
                ),
                record("sellsy-third", &listener_opts("sellsy-third", ""), None),
            ])
            .unwrap();
    }
    let args = [
        "--redis-url",
        &redis.url(),
        "--secret",
        SECRET,
        "--spool-dir",
        spool_dir.0.to_str().unwrap(),
    ];
    let listener = InProcess::start(&args).await;

    eventually(
        Duration::from_secs(20),
        "the valid records to reach redis",
        || job_exists(&redis, "sellsy-first") && job_exists(&redis, "sellsy-third"),
    );
    let live = post_signed(listener.addr, &event(7)).await.unwrap();
    assert_eq!(
        (live.status, live.json()["status"].as_str()),
        (200, Some("queued"))
    );
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(readyz(&ready)["dead_letters"], 1, "{}", readyz(&ready));
    assert!(!job_exists(&redis, "sellsy-v5-only"));
    listener.stop().await;

    let (code, stats) = spool_command(&spool_dir.0, &["stats"]);
    assert_eq!(code, 0);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        (stats["pending"].as_u64(), stats["dead_letters"].as_u64()),
        (Some(0), Some(1))
    );
    let (code, export) = spool_command(&spool_dir.0, &["export", "--dead-letters"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{export}");
    assert_eq!(lines[0]["job_id"], "sellsy-v5-only");
    assert!(
        lines[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("priority"),
        "{export}"
    );
    let (code, requeued) = spool_command(&spool_dir.0, &["requeue-dead-letters"]);
    assert_eq!((code, requeued.trim()), (0, r#"{"requeued":1}"#));

    // The fix: back to the BullMQ major the record was written for.
    let mut fixed = args.to_vec();
    fixed.extend(["--bullmq-major", "5"]);
    let listener = InProcess::start(&fixed).await;
    eventually(
        Duration::from_secs(20),
        "the requeued record to reach redis",
        || job_exists(&redis, "sellsy-v5-only"),
    );
    listener.stop().await;
    let (_, stats) = spool_command(&spool_dir.0, &["stats"]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        (stats["pending"].as_u64(), stats["dead_letters"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn an_attempted_record_past_its_dedup_window_is_set_aside_not_added_again() {
    let redis = RedisServer::start();
    let spool_dir = TempDir::new("past-window");
    {
        let spool = Spool::open(&spool_dir.0, 1 << 30).unwrap();
        let short = r#"{"jobId":"sellsy-old","deduplication":{"id":"old","ttl":2000}}"#;
        let fresh = r#"{"jobId":"sellsy-fresh","deduplication":{"id":"fresh","ttl":2000}}"#;
        let never = r#"{"jobId":"sellsy-never-sent","deduplication":{"id":"never","ttl":2000}}"#;
        spool
            .append(&[
                record("sellsy-old", short, Some(now_ms() - 10_000)),
                record("sellsy-fresh", fresh, Some(now_ms())),
                // Old, but never sent to Redis: always safe to add.
                SpoolRecord {
                    received_ms: now_ms() - 3_600_000,
                    ..record("sellsy-never-sent", never, None)
                },
            ])
            .unwrap();
    }
    let listener = InProcess::with_spool(&redis, &spool_dir.0, &[]).await;

    eventually(
        Duration::from_secs(20),
        "the safe records to reach redis",
        || job_exists(&redis, "sellsy-fresh") && job_exists(&redis, "sellsy-never-sent"),
    );
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(readyz(&ready)["dead_letters"], 1, "{}", readyz(&ready));
    assert!(!job_exists(&redis, "sellsy-old"));
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_that_runs_after_its_deadline_never_makes_a_second_job() {
    let redis = RedisServer::start();
    let spool_dir = TempDir::new("late-add");
    let listener = InProcess::with_spool(
        &redis,
        &spool_dir.0,
        &["--dedup-ttl-secs", "1", "--redis-deadline-ms", "100"],
    )
    .await;
    let mut conn = redis.connection(0);
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("WRITE")
        .query(&mut conn)
        .unwrap();

    let response = post_signed(listener.addr, &event(1)).await.unwrap();
    assert_eq!(
        (response.status, response.json()["status"].as_str()),
        (200, Some("spooled"))
    );
    let id = response.json()["jobId"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(10), "the late add to run", || {
        job_exists(&redis, &id)
    });
    // A worker processes the job and removes it (removeOnComplete).
    let _: () = conn.del(format!("bull:sellsy-webhooks:{id}")).unwrap();
    let _: () = conn.lrem(WAIT, 0, &id).unwrap();
    // Well past the 1 s deduplication window.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    let ready = readyz(&ready);
    assert_eq!(
        (
            ready["spool_depth"].as_u64(),
            ready["dead_letters"].as_u64()
        ),
        (Some(0), Some(0)),
        "the late add's outcome removed its record: {ready}"
    );
    assert!(!job_exists(&redis, &id), "no second job");
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("bull:sellsy-webhooks:events")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let adds = entries
        .iter()
        .filter(|(_, fields)| {
            fields.windows(2).any(|kv| kv == ["event", "added"])
                && fields.windows(2).any(|kv| kv[0] == "jobId" && kv[1] == id)
        })
        .count();
    assert_eq!(adds, 1, "one add in the events stream: {entries:?}");
    listener.stop().await;
}

/// Posts the signed events numbered `numbers` from 16 concurrent senders.
async fn post_events(
    addr: std::net::SocketAddr,
    numbers: std::ops::Range<u64>,
) -> Vec<(u64, crate::support::Response)> {
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let numbers = numbers.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for n in numbers.skip(sender).step_by(16) {
                    answers.push((n, post_signed(addr, &event(n)).await.unwrap()));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for sender in senders {
        answers.extend(sender.await.unwrap());
    }
    answers
}

fn replica_linked(replica: &RedisServer) -> bool {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut replica.connection(0))
        .unwrap_or_default();
    info.contains("master_link_status:up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_only_replica_down_new_events_still_reach_the_workers() {
    let primary = RedisServer::start();
    let mut replica =
        RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port().to_string()]);
    eventually(Duration::from_secs(10), "the replica to sync", || {
        replica_linked(&replica)
    });
    let spool_dir = TempDir::new("replica-down");
    let listener = InProcess::with_spool(
        &primary,
        &spool_dir.0,
        &["--min-replicas-acks", "1", "--redis-deadline-ms", "200"],
    )
    .await;
    replica.kill();

    let addr = listener.addr;
    let mut acked = BTreeMap::new();
    for (n, response) in post_events(addr, 0..40).await {
        assert_eq!(response.status, 200);
        let id = response.json()["jobId"].as_str().unwrap().to_owned();
        assert!(
            job_exists(&primary, &id),
            "visible to workers as soon as it is acknowledged: {} {:?}",
            response.json(),
            readyz(&request(addr, "GET", "/readyz", &[], b"").await.unwrap())
        );
        acked.insert(n, id);
    }
    let ready = request(addr, "GET", "/readyz", &[], b"").await.unwrap();
    assert_eq!(
        (
            readyz(&ready)["redis"].as_str(),
            readyz(&ready)["stores_to"].as_str()
        ),
        (Some("replicas behind"), Some("redis and spool")),
        "{}",
        readyz(&ready)
    );
    let held = readyz(&ready)["spool_depth"].as_u64().unwrap();
    assert!(
        held > 0,
        "kept until a replica has them: {}",
        readyz(&ready)
    );

    replica.restart();
    let confirmed_by = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = request(addr, "GET", "/readyz", &[], b"").await.unwrap();
        if readyz(&ready)["spool_depth"] == 0 {
            break;
        }
        assert!(
            Instant::now() < confirmed_by,
            "records not confirmed: {}",
            readyz(&ready)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waiting: usize = primary.connection(0).llen(WAIT).unwrap();
    assert_eq!(waiting, acked.len(), "nothing lost, nothing doubled");
    let mut on_replica = replica.connection(0);
    for id in acked.values() {
        assert!(
            on_replica
                .exists::<_, bool>(format!("bull:sellsy-webhooks:{id}"))
                .unwrap()
        );
    }
    listener.stop().await;
}

/// Spooled records whose job is already in Redis: the kill came between an add and the
/// removal of its records.
fn added_but_still_spooled(redis: &RedisServer, spool_dir: &Path) -> usize {
    let spool = Spool::open_existing(spool_dir).unwrap();
    let pending = spool.pending(None, usize::MAX, usize::MAX).unwrap();
    pending
        .iter()
        .filter_map(|spooled| spooled.record.as_ref().ok())
        .filter(|record| job_exists(redis, &record.job_id))
        .count()
}

/// Pseudo-random milliseconds below `below` (no random crate for one test).
fn some_millis(below: u64) -> u64 {
    u64::from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    ) % below
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_killed_at_random_moments_while_draining_loses_and_doubles_nothing() {
    let mut redis = RedisServer::with_aof();
    let spool_dir = TempDir::new("kill-drain");
    let args = [
        "--redis-url",
        &redis.url(),
        "--secret",
        SECRET,
        "--spool-dir",
        spool_dir.0.to_str().unwrap(),
    ];
    let mut acked = BTreeMap::new();
    let mut next = 0_u64;
    let mut caught_mid_batch = 0;
    let started = Instant::now();
    for cycle in 0..20 {
        redis.kill();
        let process = Process::start(&args);
        let addr = process.addr;
        for (n, response) in post_events(addr, next..next + 300).await {
            assert_eq!(response.status, 200);
            acked.insert(n, response.json()["jobId"].as_str().unwrap().to_owned());
        }
        next += 300;
        let before: usize = {
            redis.restart();
            redis.connection(0).llen(WAIT).unwrap()
        };
        if cycle % 2 == 0 {
            // Any moment: the drainer probes Redis with a backoff, then drains in batches.
            tokio::time::sleep(Duration::from_millis(some_millis(700))).await;
        } else {
            // Just as a drain batch lands in Redis, before or after its records go.
            let mut conn = redis.connection(0);
            let landed_by = Instant::now() + Duration::from_secs(10);
            while conn.llen::<_, usize>(WAIT).unwrap() == before && Instant::now() < landed_by {
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_micros(some_millis(3_000)));
        }
        process.kill();
        caught_mid_batch += added_but_still_spooled(&redis, &spool_dir.0);
    }
    let in_redis_before_the_last_start: usize = redis.connection(0).llen(WAIT).unwrap();
    let last = Process::start(&args);
    eventually(
        Duration::from_secs(60),
        "every acknowledged event in redis",
        || acked.values().all(|id| job_exists(&redis, id)),
    );
    let waiting: usize = redis.connection(0).llen(WAIT).unwrap();
    println!(
        "20 kills in {:?} ({caught_mid_batch} records were in redis and still in the spool at a kill): {} acknowledged, {in_redis_before_the_last_start} in redis before the last start, {waiting} at the end",
        started.elapsed(),
        acked.len()
    );
    assert_eq!(waiting, acked.len(), "one job per acknowledged event");
    assert!(
        caught_mid_batch > 0,
        "no kill landed between a drain's add and the removal of its records"
    );
    drop(last);
}
