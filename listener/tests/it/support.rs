//! Test support: the listener in-process (bound to 127.0.0.1:0) or as its real binary, a
//! minimal HTTP/1.1 client over loopback, and signed Sellsy events.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use listener::Config;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The test signing key (the fact sheet's example key).
pub(crate) const SECRET: &str = "3f6c1d2e-8a4b-4c7d-9e10-5b2a7f9c0d11";

/// A unique temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("listener-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One HTTP worker unless the test asks for another count.
fn default_workers(args: &[&str]) -> &'static [&'static str] {
    if args.contains(&"--workers") {
        &[]
    } else {
        &["--workers", "1"]
    }
}

/// The listener running in this process, on a thread of its own with its own actix
/// system (as `main` runs it).
pub(crate) struct InProcess {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<std::thread::JoinHandle<Result<(), listener::Error>>>,
}

impl InProcess {
    /// Starts the listener with these extra flags on a free loopback port.
    pub(crate) async fn start(args: &[&str]) -> Self {
        let config = Config::try_parse_from(
            ["sellsy-listener", "--listen", "127.0.0.1:0"]
                .iter()
                .copied()
                .chain(default_workers(args).iter().copied())
                .chain(args.iter().copied()),
        )
        .unwrap();
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(listener::run(config, socket, async {
                let _ = stopped.await;
            }))
        });
        Self {
            addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Starts the listener on `redis` with the test key and the spool in `spool_dir`,
    /// plus `extra` flags.
    pub(crate) async fn with_spool(
        redis: &testkit::RedisServer,
        spool_dir: &std::path::Path,
        extra: &[&str],
    ) -> Self {
        let url = redis.url();
        let mut args = vec!["--redis-url", &url, "--secret", SECRET, "--spool-dir"];
        args.push(spool_dir.to_str().unwrap());
        args.extend_from_slice(extra);
        Self::start(&args).await
    }

    /// Stops it gracefully and waits until it has stopped.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            tokio::task::spawn_blocking(move || done.join())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }
}

/// The real `sellsy-listener` binary, killed on drop.
pub(crate) struct Process {
    pub(crate) addr: SocketAddr,
    child: Child,
}

impl Process {
    pub(crate) fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[], None)
    }

    /// Starts it with extra environment variables, and its stdout and stderr appended to
    /// the file `log` when given (else discarded).
    pub(crate) fn start_with(
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Self {
        let output = || match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None => Stdio::null(),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sellsy-listener"))
            .args(["--listen", &addr.to_string()])
            .args(default_workers(args))
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap();
        let process = Self { addr, child };
        testkit::eventually(
            Duration::from_secs(10),
            "the listener to accept connections",
            || std::net::TcpStream::connect(addr).is_ok(),
        );
        process
    }

    /// Its process id (for /proc/PID).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no graceful anything.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response: status, lower-cased headers, body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends one request on a new connection (`Connection: close`) and reads the answer.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::other("no answer within 10 s"))??;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "not an HTTP response: {}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Sellsy's signature: lowercase hex SHA-1 of the key followed by the body.
pub(crate) fn sign(body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(SECRET.as_bytes());
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A ~600-byte JSON Sellsy event (estimate accepted, object included), unique per `n`.
pub(crate) fn event(n: u64) -> Vec<u8> {
    serde_json::json!({
        "eventType": "docslog", "timestamp": "1732400123", "event": "step",
        "relatedid": (48_000_000 + n).to_string(), "relatedtype": "estimate",
        "ownerid": "204551", "ownertype": "staff", "corpid": "90812",
        "relatedobject": {
            "id": 48_000_000 + n, "number": format!("DEV-2024-{n:05}"), "status": "accepted",
            "date": "2024-11-23", "currency": "EUR", "subject": "Refonte site e-commerce",
            "related": [{"id": 7_311_820, "type": "company"}],
            "amounts": {"total_raw_excl_tax": "1250.00", "total_excl_tax": "1250.00", "total_incl_tax": "1500.00"},
            "assigned_staff_id": 204_551, "decimal_number": {"unit_price": 2, "quantity": 2}
        }
    })
    .to_string()
    .into_bytes()
}

/// POSTs a signed JSON event to the webhook.
pub(crate) async fn post_signed(addr: SocketAddr, body: &[u8]) -> std::io::Result<Response> {
    let signature = sign(body);
    request(
        addr,
        "POST",
        "/webhook/sellsy",
        &[
            ("Content-Type", "application/json"),
            ("X-Webhook-Signature", &signature),
        ],
        body,
    )
    .await
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
