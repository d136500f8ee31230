//! One test's world: a private Redis, the fake Sellsy, a queue to add events to, and
//! invoice workers run as processes (the Rust example, or the Node reference).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bullmq_rs::{Job, JobId, JobOptions, JobState, Queue};
use serde_json::{Value, json};
use testkit::{RedisServer, eventually};

use super::fake_api::FakeSellsy;
use super::fixtures::{CLIENT_ID, CLIENT_SECRET, estimate};

pub(crate) const QUEUE: &str = "sellsy-webhooks";
const WAIT: Duration = Duration::from_secs(20);

pub(crate) struct Setup {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) redis: RedisServer,
    pub(crate) fake: FakeSellsy,
    pub(crate) queue: Queue,
}

impl Setup {
    /// Redis, the fake with estimate 48213377 accepted, and the queue.
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let redis = RedisServer::start();
        let fake = FakeSellsy::start(&runtime);
        fake.state()
            .estimates
            .insert("48213377".into(), estimate(json!({})));
        let queue = runtime
            .block_on(Queue::connect(&redis.url(), QUEUE))
            .expect("the queue");
        Self {
            runtime,
            redis,
            fake,
            queue,
        }
    }

    /// The environment both workers read.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SELLSY_CLIENT_ID", CLIENT_ID.to_owned()),
            ("SELLSY_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("SELLSY_API_BASE", self.fake.api_base()),
            ("SELLSY_TOKEN_URL", self.fake.token_url()),
            ("SELLSY_TIMEOUT_MS", "5000".to_owned()),
            ("REDIS_URL", self.redis.url()),
            ("QUEUE_NAME", QUEUE.to_owned()),
            // The default (2 jobs a second) would make the tests slow.
            ("LIMITER_MAX", "100".to_owned()),
        ]
    }

    pub(crate) fn add(&self, data: &Value, opts: JobOptions) -> JobId {
        self.runtime
            .block_on(self.queue.add("event", data, opts))
            .expect("job added")
    }

    pub(crate) fn job(&self, id: &JobId) -> Job {
        let job = self
            .runtime
            .block_on(self.queue.get_job(id))
            .expect("redis answers");
        job.expect("the job exists")
    }

    /// Waits until every job completed or failed for good, and returns them.
    pub(crate) fn finished(&self, ids: &[JobId]) -> Vec<Job> {
        let done = |job: &Job| matches!(job.state, JobState::Completed | JobState::Failed);
        eventually(WAIT, "jobs to finish", || {
            ids.iter().all(|id| done(&self.job(id)))
        });
        ids.iter().map(|id| self.job(id)).collect()
    }

    /// A Redis command's reply, for the lock and record keys.
    pub(crate) fn redis_cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut command = redis::cmd(args[0]);
        command.arg(&args[1..]);
        command
            .query(&mut self.redis.connection(0))
            .expect("redis answers")
    }
}

/// A worker process whose stdout and stderr lines are collected.
pub(crate) struct WorkerProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl WorkerProcess {
    /// Starts the Rust example and waits until it is ready.
    pub(crate) fn rust(setup: &Setup) -> Self {
        let worker = Self::spawn(
            Command::new(testkit::example_binary("sellsy_invoice_worker")),
            &setup.env(),
        );
        worker.wait_ready()
    }

    /// Starts node-worker-compat/invoice-worker.js and waits until it is ready.
    pub(crate) fn node(setup: &Setup) -> Self {
        let dir = testkit::node::compat_dir();
        assert!(
            dir.join("node_modules/bullmq6").exists(),
            "Node BullMQ is missing: run `npm ci` in node-worker-compat"
        );
        let mut command = Command::new("node");
        command.arg(dir.join("invoice-worker.js")).current_dir(&dir);
        Self::spawn(command, &setup.env()).wait_ready()
    }

    /// Runs `command` with exactly `env` (and PATH).
    pub(crate) fn spawn(mut command: Command, env: &[(&str, String)]) -> Self {
        command
            .env_clear()
            .envs(std::env::var_os("PATH").map(|path| ("PATH", path)));
        command.envs(env.iter().map(|(name, value)| (name, value)));
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the worker starts (cargo builds the example; node is installed)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), &lines),
            collect(child.stderr.take().expect("piped"), &lines),
        ];
        Self {
            child,
            lines,
            readers,
        }
    }

    fn wait_ready(self) -> Self {
        eventually(WAIT, "the worker's start line", || {
            self.lines()
                .iter()
                .any(|line| line.starts_with("invoice worker on"))
        });
        self
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The lines about jobs (`job 3 docslog.step estimate 48213377 -> ...`).
    pub(crate) fn job_lines(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with("job "))
            .collect()
    }

    /// Waits until `count` job lines were printed, and returns them.
    pub(crate) fn wait_job_lines(&self, count: usize) -> Vec<String> {
        eventually(WAIT, "the job lines", || self.job_lines().len() >= count);
        self.job_lines()
    }

    /// Waits for the process to end by itself, and for the last of its output.
    pub(crate) fn exit(&mut self) -> ExitStatus {
        eventually(WAIT, "the worker to exit", || {
            self.child.try_wait().expect("waitable").is_some()
        });
        for reader in self.readers.drain(..) {
            reader
                .join()
                .expect("the output reader ends with the process");
        }
        self.child.wait().expect("exited")
    }

    /// Sends `SIG<signal>` (`TERM`, `INT`) and waits for the exit.
    pub(crate) fn stop(&mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(sent.expect("kill runs").success());
        let status = self.exit();
        let lines = self.lines();
        let stopping = format!("SIG{signal}: waiting for running jobs");
        assert!(lines.contains(&stopping), "{lines:?}");
        status
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static, lines: &Arc<Mutex<Vec<String>>>) -> JoinHandle<()> {
    let lines = Arc::clone(lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    })
}
