//! Bad input: oversized bodies, malformed JSON or forms, unknown routes, wrong methods,
//! stalled clients, and random garbage: only 4xx, never a panic or a 5xx.

use std::time::Duration;

use testkit::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{InProcess, SECRET, TempDir, event, request, sign};

async fn start(redis: &RedisServer, spool: &TempDir, extra: &[&str]) -> InProcess {
    let mut args = vec![
        "--redis-url".to_owned(),
        redis.url(),
        "--spool-dir".to_owned(),
        spool.0.to_str().unwrap().to_owned(),
        "--allow-unsigned".to_owned(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    InProcess::start(&args).await
}

/// label, method, path, headers, body, expected status
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    Vec<u8>,
    u16,
);

#[tokio::test]
async fn oversized_malformed_and_misrouted_requests_get_json_4xx() {
    let redis = RedisServer::start();
    let spool = TempDir::new("bad");
    let listener = start(&redis, &spool, &["--max-body-bytes", "1000"]).await;
    let json = [("Content-Type", "application/json")];
    let form = [("Content-Type", "application/x-www-form-urlencoded")];

    let cases: Vec<Case<'_>> = vec![
        (
            "not json",
            "POST",
            "/webhook/sellsy",
            &json,
            b"{\"eventType\":".to_vec(),
            400,
        ),
        (
            "trailing data",
            "POST",
            "/webhook/sellsy",
            &json,
            b"{\"a\":1}{\"b\":2}".to_vec(),
            400,
        ),
        (
            "not an object",
            "POST",
            "/webhook/sellsy",
            &json,
            b"[1,2]".to_vec(),
            400,
        ),
        ("empty", "POST", "/webhook/sellsy", &json, Vec::new(), 400),
        (
            "form without notif",
            "POST",
            "/webhook/sellsy",
            &form,
            b"other=1".to_vec(),
            400,
        ),
        (
            "unknown route",
            "POST",
            "/webhook/other",
            &json,
            event(1),
            404,
        ),
        (
            "wrong method",
            "PUT",
            "/webhook/sellsy",
            &json,
            event(1),
            405,
        ),
        (
            "wrong method on ops",
            "POST",
            "/healthz",
            &json,
            Vec::new(),
            405,
        ),
    ];
    for (label, method, path, headers, body, expected) in cases {
        let response = request(listener.addr, method, path, headers, &body)
            .await
            .unwrap();
        assert_eq!(
            response.status,
            expected,
            "{label}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert!(response.json()["error"].is_string(), "{label}");
    }
    let ping = request(listener.addr, "GET", "/webhook/sellsy", &[], b"")
        .await
        .unwrap();
    assert_eq!(ping.status, 200, "Sellsy may check the endpoint with a GET");
    listener.stop().await;
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let redis = RedisServer::start();
    let spool = TempDir::new("declared");
    let listener = start(&redis, &spool, &["--max-body-bytes", "1000"]).await;
    let mut stream = tokio::net::TcpStream::connect(listener.addr).await.unwrap();

    let head = "POST /webhook/sellsy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();

    assert!(
        String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );
    listener.stop().await;
}

#[tokio::test]
async fn a_stalled_client_is_timed_out() {
    let redis = RedisServer::start();
    let spool = TempDir::new("stalled");
    let listener = start(&redis, &spool, &["--client-timeout-ms", "300"]).await;
    let mut stream = tokio::net::TcpStream::connect(listener.addr).await.unwrap();

    stream
        .write_all(b"POST /webhook/sellsy HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;

    assert!(
        closed.is_ok(),
        "the server must give up on a client that stops sending"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    listener.stop().await;
}

/// xorshift64*: deterministic, dependency-free randomness for the fuzz loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How the fuzz loop signs its requests.
#[derive(Clone, Copy, PartialEq)]
enum Signing {
    /// The listener has no key (`--allow-unsigned`); signatures are random text.
    Unchecked,
    /// The listener has [`SECRET`]; requests are signed, then maybe mutated, or unsigned.
    Checked,
}

/// Random garbage, a mutated valid event, a form wrapping part of it, a truncation, or
/// now and then the valid event or a deep nesting.
fn fuzz_body(rng: &mut Rng, valid: &[u8], round: usize) -> Vec<u8> {
    if round.is_multiple_of(97) {
        return vec![b'['; 3000];
    }
    if round.is_multiple_of(13) {
        return valid.to_vec();
    }
    match rng.below(4) {
        0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        1 => {
            let mut mutated = valid.to_vec();
            for _ in 0..=rng.below(8) {
                let at = rng.below(mutated.len());
                mutated[at] = rng.next() as u8;
            }
            mutated
        }
        2 => format!(
            "notif={}",
            String::from_utf8_lossy(&valid[..rng.below(valid.len())])
        )
        .into_bytes(),
        _ => valid[..rng.below(valid.len())].to_vec(),
    }
}

/// The signature header for `body`, or `None` for no header.
fn fuzz_signature(rng: &mut Rng, signing: Signing, body: &mut Vec<u8>) -> Option<String> {
    let random = |rng: &mut Rng| -> String {
        (0..rng.below(50))
            .map(|_| char::from(b'0' + (rng.next() % 75) as u8))
            .collect()
    };
    if signing == Signing::Unchecked {
        return Some(random(rng));
    }
    match rng.below(5) {
        // Signed as sent: the signature passes and the body is judged.
        0 | 1 => Some(sign(body)),
        // Signed, then the body changed on the way.
        2 => {
            let signature = sign(body);
            let at = rng.below(body.len() + 1);
            body.insert(at, rng.next() as u8);
            Some(signature)
        }
        // A signature with one character changed or cut short.
        3 => {
            let mut signature = sign(body).into_bytes();
            let at = rng.below(signature.len());
            match rng.below(3) {
                0 => signature.truncate(at),
                1 => signature[at] = b"0123456789abcdefABCDEFxyz "[rng.below(26)],
                _ => signature.insert(at, b'0'),
            }
            Some(String::from_utf8(signature).unwrap())
        }
        // Unsigned, or random text.
        _ => (rng.below(2) == 0).then(|| random(rng)),
    }
}

/// Sends `rounds` random requests and checks each answer is 2xx, 4xx or 503; returns
/// how many got each status (0: the connection was reset before the answer).
async fn fuzz(signing: Signing, rounds: usize) -> std::collections::BTreeMap<u16, u32> {
    let redis = RedisServer::start();
    let spool = TempDir::new("fuzz");
    let mut args = vec!["--max-body-bytes", "4096"];
    if signing == Signing::Checked {
        args.extend(["--secret", SECRET]);
    }
    let listener = start(&redis, &spool, &args).await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let valid = event(7);
    let content_types = [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/json; charset=utf-8",
        "multipart/form-data; boundary=x",
        "",
        "application/x-www-form-urlencoded; charset=\u{0}",
    ];
    let mut statuses = std::collections::BTreeMap::new();

    for round in 0..rounds {
        let mut body = fuzz_body(&mut rng, &valid, round);
        let content_type = content_types[rng.below(content_types.len())];
        let signature = fuzz_signature(&mut rng, signing, &mut body);
        let mut headers = vec![("Content-Type", content_type)];
        if let Some(signature) = signature.as_deref()
            && !signature.contains(['\r', '\n'])
        {
            headers.push(("X-Webhook-Signature", signature));
        }
        let response =
            match request(listener.addr, "POST", "/webhook/sellsy", &headers, &body).await {
                Ok(response) => response,
                // A request the HTTP layer refuses outright (a NUL in a header, say) is answered
                // 400 and the connection closed while the body may still be on its way: the
                // reset can beat the answer to the client. The server must live on.
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ) =>
                {
                    *statuses.entry(0).or_insert(0) += 1;
                    continue;
                }
                Err(err) => panic!("round {round}: {err}"),
            };
        assert!(
            response.status < 500 || response.status == 503,
            "round {round}: {} for {:?}",
            response.status,
            String::from_utf8_lossy(&body)
        );
        *statuses.entry(response.status).or_insert(0) += 1;
    }

    let health = request(listener.addr, "GET", "/healthz", &[], b"")
        .await
        .unwrap();
    assert_eq!(health.status, 200, "{statuses:?}");
    listener.stop().await;
    statuses
}

#[tokio::test]
async fn random_bodies_headers_and_encodings_get_only_2xx_or_4xx() {
    let statuses = fuzz(Signing::Unchecked, 1500).await;

    assert!(statuses.contains_key(&400), "{statuses:?}");
}

#[tokio::test]
async fn with_a_key_signed_mutated_and_unsigned_requests_get_only_2xx_or_4xx() {
    let statuses = fuzz(Signing::Checked, 1500).await;

    for status in [200, 400, 401] {
        assert!(statuses.contains_key(&status), "{status}: {statuses:?}");
    }
}
