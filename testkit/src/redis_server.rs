//! A private `redis-server` on a free loopback port with its own temp dir.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A `redis-server` started for one test: free port on 127.0.0.1, temp dir, no dump file.
/// It is killed and its dir removed on drop. It never reads `REDIS_URL` and never touches
/// a server it did not start.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
    /// A config file read before the arguments (sentinels need one they can rewrite).
    config_file: Option<PathBuf>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server; panics (with its log) when it cannot.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with AOF on and `appendfsync always` (for fault tests).
    pub fn with_aof() -> Self {
        Self::start_with(&["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// Starts a server with AOF on and `appendfsync everysec`, as production runs it (for
    /// benchmarks: every write also goes to the AOF, fsynced once a second).
    pub fn with_aof_everysec() -> Self {
        Self::start_with(&["--appendonly", "yes", "--appendfsync", "everysec"])
    }

    /// Starts a server that also listens with TLS on a second port, with a certificate for
    /// `localhost` signed by a test CA made here (with `openssl`). Returns the server, the
    /// TLS port and the CA file clients must trust.
    pub fn with_tls() -> (Self, u16, PathBuf) {
        let certs = temp_dir();
        make_test_certificates(&certs);
        let tls_port = free_port();
        let path = |name: &str| certs.join(name).to_string_lossy().into_owned();
        let server = Self::start_with(&[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &path("server.pem"),
            "--tls-key-file",
            &path("server.key"),
            "--tls-ca-cert-file",
            &path("ca.pem"),
            "--tls-auth-clients",
            "no",
        ]);
        (server, tls_port, certs.join("ca.pem"))
    }

    /// Starts a server with extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_configured(None, extra)
    }

    /// Starts a Redis Sentinel (`redis-server --sentinel`) whose config file holds
    /// `config` (`sentinel monitor ...` lines); the port and dir are set here.
    pub fn start_sentinel(config: &str) -> Self {
        Self::start_configured(Some(config), &["--sentinel"])
    }

    fn start_configured(config: Option<&str>, extra: &[&str]) -> Self {
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = temp_dir();
            let config_file = config.map(|text| {
                let path = dir.join("redis.conf");
                fs::write(&path, text).expect("the temp dir must be writable");
                path
            });
            let mut server = Self {
                port: free_port(),
                dir,
                extra_args: extra.iter().map(|s| (*s).to_owned()).collect(),
                config_file,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("redis-server did not start:\n{last_log}");
    }

    /// `redis://127.0.0.1:<port>/<db>`.
    pub fn url_db(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// CPU time (user + system) the server process has used so far, from `/proc`.
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        process_cpu_time(self.child.as_ref()?.id())
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A blocking connection to db `db`.
    pub fn connection(&self, db: u8) -> redis::Connection {
        redis::Client::open(self.url_db(db))
            .and_then(|client| client.get_connection())
            .unwrap_or_else(|err| {
                panic!(
                    "cannot connect to the test redis on port {}: {err}",
                    self.port
                )
            })
    }

    /// Kills the server with SIGKILL (no shutdown save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and dir (after [`RedisServer::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(log) if Instant::now() > deadline => {
                    panic!("redis-server did not restart:\n{log}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.join("redis.log");
        let mut command = Command::new("redis-server");
        if let Some(config) = &self.config_file {
            command.arg(config);
        }
        command
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args([
                "--daemonize",
                "no",
                "--logfile",
                &log_path.to_string_lossy(),
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot run redis-server ({err}): install it, e.g. `apt-get install redis-server`"
            )
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(_)) = child.try_wait() {
                return Err(read_log(&log_path));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(read_log(&log_path));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// CPU time (user + system) process `pid` has used so far, from `/proc` (Linux).
pub fn process_cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, which is 100 on every mainstream build.
    Some(std::time::Duration::from_millis(ticks * 10))
}

fn ping(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
        .is_ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the loopback interface must offer a free port")
}

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "testkit-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).expect("the temp dir must be writable");
    dir
}

fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|_| "(no log)".to_owned())
}

/// A test CA and a certificate for `localhost` / 127.0.0.1 signed by it, in `dir`.
fn make_test_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|err| {
                panic!("cannot run openssl ({err}): install it, e.g. `apt-get install openssl`")
            });
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=testkit-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
    )
    .expect("the cert dir is writable");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}
