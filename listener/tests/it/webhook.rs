//! End to end: signed webhooks (JSON and form) become BullMQ jobs that real Node BullMQ
//! workers process; redeliveries add nothing.

use bullmq_rs::{ConnectionOptions, JobId, Queue};
use serde_json::json;
use testkit::RedisServer;

use crate::support::{InProcess, TempDir, event, post_signed, request, sign};

async fn start(redis: &RedisServer, spool: &TempDir) -> InProcess {
    InProcess::start(&[
        "--redis-url",
        &redis.url(),
        "--secret",
        crate::support::SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ])
    .await
}

fn form_body(event: &[u8]) -> Vec<u8> {
    let mut body = b"notif=".to_vec();
    for &byte in event {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => body.push(byte),
            b' ' => body.push(b'+'),
            other => body.extend(format!("%{other:02X}").bytes()),
        }
    }
    body
}

#[tokio::test]
async fn a_signed_json_event_becomes_the_job_the_node_poc_enqueued() {
    let redis = RedisServer::start();
    let spool = TempDir::new("json");
    let listener = start(&redis, &spool).await;
    let body = event(1);

    let response = post_signed(listener.addr, &body).await.unwrap();

    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let ack = response.json();
    assert_eq!(ack["status"], "queued");
    let id = JobId::from(ack["jobId"].as_str().unwrap());
    assert!(id.as_str().starts_with("sellsy-"));
    let queue = Queue::connect(&redis.url(), "sellsy-webhooks")
        .await
        .unwrap();
    let job = queue
        .get_job(&id)
        .await
        .unwrap()
        .expect("the acknowledged job is in Redis");
    assert_eq!(job.name, "event");
    assert_eq!(
        job.data,
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    );
    assert_eq!(
        job.opts.remove_on_complete,
        Some(bullmq_rs::RemoveOn::Remove(true))
    );
    assert!(response.header("x-request-id").is_some());
    listener.stop().await;
}

#[tokio::test]
async fn the_form_encoded_event_is_the_same_job_as_the_json_one() {
    let redis = RedisServer::start();
    let spool = TempDir::new("form");
    let listener = start(&redis, &spool).await;
    let body = event(2);
    let form = form_body(&body);

    let from_json = post_signed(listener.addr, &body).await.unwrap();
    let signature = sign(&form);
    let from_form = request(
        listener.addr,
        "POST",
        "/webhook/sellsy",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Webhook-Signature", &signature),
        ],
        &form,
    )
    .await
    .unwrap();

    assert_eq!(
        (from_json.status, from_form.status),
        (200, 200),
        "{}",
        String::from_utf8_lossy(&from_form.body)
    );
    assert_eq!(from_json.json()["jobId"], from_form.json()["jobId"]);
    let queue = Queue::connect(&redis.url(), "sellsy-webhooks")
        .await
        .unwrap();
    assert_eq!(
        queue.get_job_counts().await.unwrap().waiting,
        1,
        "a redelivery adds no second job"
    );
    listener.stop().await;
}

#[tokio::test]
async fn a_node_bullmq_6_worker_processes_the_events_and_redeliveries_add_nothing() {
    let redis = RedisServer::start();
    let spool = TempDir::new("node");
    let listener = start(&redis, &spool).await;
    let bodies: Vec<Vec<u8>> = (10..15).map(event).collect();
    for body in &bodies {
        assert_eq!(post_signed(listener.addr, body).await.unwrap().status, 200);
    }

    let run = testkit::node::run(
        "work.js",
        &json!({"redisUrl": redis.url(), "major": 6, "prefix": "bull", "queue": "sellsy-webhooks",
                "concurrency": 2, "expect": 5, "timeoutMs": 20000}),
    );
    assert_eq!(run["completed"].as_array().unwrap().len(), 5);

    // Completed jobs were removed (removeOnComplete); the deduplication window still
    // recognises a redelivery.
    let again = post_signed(listener.addr, &bodies[0]).await.unwrap();
    assert_eq!(again.status, 200);
    let queue = Queue::connect(&redis.url(), "sellsy-webhooks")
        .await
        .unwrap();
    let counts = queue.get_job_counts().await.unwrap();
    assert_eq!((counts.waiting, counts.completed), (0, 0), "{counts:?}");
    listener.stop().await;
}

#[tokio::test]
async fn the_poc_test_body_is_accepted_as_is() {
    let redis = RedisServer::start();
    let spool = TempDir::new("poc");
    let listener = start(&redis, &spool).await;
    let body = br#"{"event":"invoice.paid","data":{"id":123,"customer":"Acme Corp"}}"#;

    let response = post_signed(listener.addr, body).await.unwrap();

    assert_eq!(response.status, 200);
    let queue = Queue::connect(&redis.url(), "sellsy-webhooks")
        .await
        .unwrap();
    let job = queue
        .get_job(&response.json()["jobId"].as_str().unwrap().into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.data,
        json!({"event": "invoice.paid", "data": {"id": 123, "customer": "Acme Corp"}})
    );
    listener.stop().await;
}

#[tokio::test]
async fn ops_routes_report_health_readiness_and_metrics() {
    let redis = RedisServer::start();
    let spool = TempDir::new("ops");
    let listener = start(&redis, &spool).await;
    post_signed(listener.addr, &event(3)).await.unwrap();

    let health = request(listener.addr, "GET", "/healthz", &[], b"")
        .await
        .unwrap();
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    let metrics = request(listener.addr, "GET", "/metrics", &[], b"")
        .await
        .unwrap();

    assert_eq!(health.status, 200);
    assert_eq!(ready.status, 200);
    let ready = ready.json();
    assert_eq!(
        (
            ready["redis"].as_str(),
            ready["spool"].as_str(),
            ready["stores_to"].as_str()
        ),
        (Some("reachable"), Some("writable"), Some("redis"))
    );
    assert!(ready["signature"].as_str().unwrap().starts_with("enforced"));
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains(r#"sellsy_listener_http_requests_total{route="webhook",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"sellsy_listener_events_stored_total{store="redis"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("sellsy_listener_enqueue_seconds_count 1"),
        "{text}"
    );
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_worker_processes_the_events_too() {
    let redis = RedisServer::start();
    let spool = TempDir::new("rust-worker");
    let listener = start(&redis, &spool).await;
    let bodies: Vec<Vec<u8>> = (20..25).map(event).collect();
    for body in &bodies {
        assert_eq!(post_signed(listener.addr, body).await.unwrap().status, 200);
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let worker = bullmq_rs::Worker::builder("sellsy-webhooks")
        .connect(&redis.url(), move |job: bullmq_rs::ActiveJob| {
            record.lock().unwrap().push(
                job.data["relatedid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            async { Ok::<_, bullmq_rs::JobError>(json!({"action": "none"})) }
        })
        .await
        .unwrap();
    let queue = Queue::connect(&redis.url(), "sellsy-webhooks")
        .await
        .unwrap();
    let drained = async move {
        while queue.get_job_counts().await.unwrap().waiting > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        worker.run_until(drained),
    )
    .await
    .unwrap()
    .unwrap();

    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        (20..25)
            .map(|n| (48_000_000 + n).to_string())
            .collect::<Vec<_>>()
    );
    listener.stop().await;
}

#[tokio::test]
async fn two_listeners_given_the_same_events_make_one_job_per_event() {
    let redis = RedisServer::start();
    let (spool_a, spool_b) = (TempDir::new("replica-a"), TempDir::new("replica-b"));
    let a = start(&redis, &spool_a).await;
    let b = start(&redis, &spool_b).await;

    for n in 30..40 {
        let body = event(n);
        let (first, second) = (
            post_signed(a.addr, &body).await.unwrap(),
            post_signed(b.addr, &body).await.unwrap(),
        );
        assert_eq!((first.status, second.status), (200, 200));
        assert_eq!(first.json()["jobId"], second.json()["jobId"]);
    }

    let queue = Queue::connect(&redis.url(), "sellsy-webhooks")
        .await
        .unwrap();
    assert_eq!(queue.get_job_counts().await.unwrap().waiting, 10);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_events_become_jobs_acknowledged_by_a_replica() {
    let cluster = testkit::RedisCluster::start_with(3, 1, &[]);
    let spool = TempDir::new("cluster");
    let listener = InProcess::start(&[
        "--redis-url",
        &cluster.url(),
        "--redis-cluster",
        "--min-replicas-acks",
        "1",
        "--redis-deadline-ms",
        "500",
        "--prefix",
        "{sellsy}",
        "--secret",
        crate::support::SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ])
    .await;

    let response = post_signed(listener.addr, &event(50)).await.unwrap();

    // "queued", not "spooled": WAIT went to the primary holding {sellsy}, whose replica
    // acknowledged the add.
    assert_eq!(
        (response.status, response.json()["status"].as_str()),
        (200, Some("queued"))
    );
    let job_key = format!(
        "{{sellsy}}:sellsy-webhooks:{}",
        response.json()["jobId"].as_str().unwrap()
    );
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&job_key)
        .query(&mut cluster.nodes()[0].connection(0))
        .unwrap();
    let owner = cluster.primary_of(slot).port();
    let replica = cluster
        .nodes()
        .iter()
        .find(|node| {
            redis::cmd("INFO")
                .arg("replication")
                .query::<String>(&mut node.connection(0))
                .is_ok_and(|info| info.contains(&format!("master_port:{owner}")))
        })
        .expect("the owner has a replica");
    let mut on_replica = replica.connection(0);
    let () = redis::cmd("READONLY").query(&mut on_replica).unwrap();
    let replicated: bool = redis::cmd("EXISTS")
        .arg(&job_key)
        .query(&mut on_replica)
        .unwrap();
    assert!(
        replicated,
        "acknowledged means on the owner's replica already"
    );
    let queue = Queue::builder("sellsy-webhooks")
        .prefix("{sellsy}")
        .connection(ConnectionOptions::default().cluster())
        .connect(&cluster.url())
        .await
        .unwrap();
    let job = queue
        .get_job(&response.json()["jobId"].as_str().unwrap().into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.name, "event");
    listener.stop().await;
}
