//! Signatures: wrong, missing, truncated or other-algorithm signatures get 401 and enqueue
//! nothing; several keys work during a rotation; quarantine parks instead of refusing;
//! neither the Redis password nor a signing key reaches the output.

use hmac::{Hmac, Mac};
use redis::Commands;
use testkit::RedisServer;

use crate::support::{InProcess, Process, SECRET, TempDir, event, post_signed, request, sign};

async fn post_with(addr: std::net::SocketAddr, body: &[u8], signature: Option<&str>) -> u16 {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(signature) = signature {
        headers.push(("X-Webhook-Signature", signature));
    }
    request(addr, "POST", "/webhook/sellsy", &headers, body)
        .await
        .unwrap()
        .status
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn main_queue_keys(redis: &RedisServer) -> Vec<String> {
    let mut keys: Vec<String> = redis.connection(0).keys("bull:sellsy-webhooks:*").unwrap();
    keys.retain(|key| !key.ends_with(":meta"));
    keys
}

#[tokio::test]
async fn bad_signatures_get_401_and_enqueue_nothing() {
    let redis = RedisServer::start();
    let spool = TempDir::new("sig");
    let listener = InProcess::start(&[
        "--redis-url",
        &redis.url(),
        "--secret",
        SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ])
    .await;
    let body = event(1);
    let good = sign(&body);
    let mut hmac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    hmac.update(&body);
    let other_algorithm = hex(&hmac.finalize().into_bytes());
    let other_key = {
        let mut tampered = body.clone();
        tampered.push(b' ');
        sign(&tampered)
    };

    for (label, signature) in [
        ("missing", None),
        ("empty", Some("")),
        ("truncated", Some(&good[..20])),
        ("not hex", Some("zz49797d7be49105f791a2998e901933c2ccf30d")),
        ("other algorithm", Some(other_algorithm.as_str())),
        ("other body", Some(other_key.as_str())),
    ] {
        assert_eq!(
            post_with(listener.addr, &body, signature).await,
            401,
            "{label}"
        );
    }
    assert!(
        main_queue_keys(&redis).is_empty(),
        "{:?}",
        main_queue_keys(&redis)
    );
    let metrics = request(listener.addr, "GET", "/metrics", &[], b"")
        .await
        .unwrap();
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains(r#"sellsy_listener_signature_failures_total{reason="mismatch"} 2"#),
        "{text}"
    );
    assert!(!text.contains(SECRET));

    assert_eq!(
        post_with(listener.addr, &body, Some(&good.to_uppercase())).await,
        200
    );
    listener.stop().await;
}

#[tokio::test]
async fn both_keys_work_during_a_rotation() {
    let redis = RedisServer::start();
    let spool = TempDir::new("rotation");
    let keys = format!("old-key,{SECRET}");
    let listener = InProcess::start(&[
        "--redis-url",
        &redis.url(),
        "--secret",
        &keys,
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ])
    .await;
    let body = event(2);
    let with_old = {
        use sha1::Digest;
        let mut hasher = sha1::Sha1::new();
        hasher.update(b"old-key");
        hasher.update(&body);
        hex(&hasher.finalize())
    };

    assert_eq!(post_with(listener.addr, &body, Some(&with_old)).await, 200);
    assert_eq!(
        post_with(listener.addr, &event(3), Some(&sign(&event(3)))).await,
        200
    );
    assert_eq!(
        post_with(listener.addr, &event(4), Some(&sign(&event(5)))).await,
        401
    );
    listener.stop().await;
}

#[tokio::test]
async fn quarantine_mode_parks_badly_signed_events_outside_the_main_queue() {
    let redis = RedisServer::start();
    let spool = TempDir::new("quarantine");
    let listener = InProcess::start(&[
        "--redis-url",
        &redis.url(),
        "--secret",
        SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
        "--on-bad-signature",
        "quarantine",
    ])
    .await;

    let response = request(
        listener.addr,
        "POST",
        "/webhook/sellsy",
        &[("Content-Type", "application/json")],
        &event(1),
    )
    .await
    .unwrap();

    assert_eq!(response.status, 200);
    assert_eq!(response.json()["status"], "quarantined");
    assert!(main_queue_keys(&redis).is_empty());
    let parked: Vec<String> = redis
        .connection(0)
        .lrange("bull:sellsy-webhooks-quarantine:wait", 0, -1)
        .unwrap();
    assert_eq!(parked.len(), 1);
    listener.stop().await;
}

#[tokio::test]
async fn with_allow_unsigned_and_no_key_events_are_accepted_and_readiness_says_so() {
    let redis = RedisServer::start();
    let spool = TempDir::new("nokey");
    let listener = InProcess::start(&[
        "--redis-url",
        &redis.url(),
        "--allow-unsigned",
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ])
    .await;

    assert_eq!(post_with(listener.addr, &event(1), None).await, 200);
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap()
        .json();
    assert!(
        ready["signature"]
            .as_str()
            .unwrap()
            .starts_with("NOT CHECKED"),
        "{ready}"
    );
    listener.stop().await;
}

#[tokio::test]
async fn the_redis_password_and_the_key_never_reach_the_output() {
    const PASSWORD: &str = "hunter2-pw";
    let dir = TempDir::new("secret-output");
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let urls = format!(
        "redis://ada:{PASSWORD}@127.0.0.1:{unreachable}/0,redis://:{PASSWORD}@127.0.0.1:{unreachable}"
    );
    let log = dir.0.join("output.log");
    for (format, url, extra) in [
        ("pretty", urls.split(',').next().unwrap(), None),
        ("json", urls.as_str(), Some("mymaster")),
    ] {
        let mut args = vec![
            "--redis-url",
            url,
            "--secret",
            SECRET,
            "--spool-dir",
            dir.0.to_str().unwrap(),
            "--log-format",
            format,
        ];
        if let Some(master) = extra {
            args.extend(["--redis-sentinel-master", master]);
        }
        let process = Process::start_with(&args, &[("RUST_LOG", "debug")], Some(&log));
        let stored = post_signed(process.addr, &event(1)).await.unwrap();
        let refused = post_with(process.addr, &event(2), Some(&"0".repeat(40))).await;
        for path in ["/metrics", "/readyz"] {
            request(process.addr, "GET", path, &[], b"").await.unwrap();
        }
        assert_eq!((stored.status, refused), (200, 401), "{format}");
        assert!(process.terminate().success(), "{format}");
    }

    let output = std::fs::read_to_string(&log).unwrap();
    assert!(output.contains("listening"), "{output}");
    assert!(output.contains("REDIS IS UNREACHABLE"), "{output}");
    assert!(
        !output.contains(PASSWORD),
        "the Redis password is shown:\n{output}"
    );
    assert!(
        !output.contains(SECRET),
        "the signing key is shown:\n{output}"
    );
}
