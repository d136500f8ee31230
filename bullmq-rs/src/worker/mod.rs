//! `Worker`: processes the jobs of one queue with an async handler, following BullMQ's
//! worker protocol so that it shares queues with Node workers: it takes jobs through the
//! marker, locks them and renews the locks, reports completion and failure as BullMQ
//! does, retries with the job's backoff and takes back the jobs of workers that died.

mod backoff;
mod client_name;
mod control;
mod events;
mod fetch;
mod finish;
mod job;
mod lock;
mod schedule_next;
mod stalled;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use control::WorkerControl;
pub use events::WorkerEvent;
pub use job::{ActiveJob, JobCancellation, JobError};

use control::{Cancel, RunState, Stop};

use crate::connection::{self, Connection, ConnectionSettings, Topology};
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::options::RemoveOn;
use crate::{Error, Result};

/// BullMQ's `limiter`: at most `max` jobs per `duration`, across every worker with the
/// same limiter on the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limiter {
    /// Jobs per window.
    pub max: u64,
    /// The window.
    pub duration: Duration,
}

type ErrorHook = Arc<dyn Fn(&Error) + Send + Sync>;
type EventHook = Arc<dyn Fn(&WorkerEvent<'_>) + Send + Sync>;

/// Options of a [`Worker`], with BullMQ's defaults.
#[derive(Clone)]
pub struct WorkerBuilder {
    name: String,
    prefix: String,
    major: BullmqMajor,
    concurrency: usize,
    lock_duration: Duration,
    lock_renew_time: Option<Duration>,
    stalled_interval: Duration,
    max_stalled_count: u32,
    drain_delay: Duration,
    limiter: Option<Limiter>,
    worker_name: Option<String>,
    remove_on_complete: Option<RemoveOn>,
    remove_on_fail: Option<RemoveOn>,
    on_error: ErrorHook,
    on_event: Option<EventHook>,
    backoff_strategies: backoff::BackoffStrategies,
    metrics: Option<u64>,
    topology: Topology,
}

impl std::fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// Key prefix (default `bull`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// BullMQ major of the queue's layout (default 6).
    pub fn major(mut self, major: BullmqMajor) -> Self {
        self.major = major;
        self
    }

    /// Jobs run at once (default 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How long a job's lock lasts without renewal (default 30 s).
    pub fn lock_duration(mut self, duration: Duration) -> Self {
        self.lock_duration = duration;
        self
    }

    /// How often locks are renewed (default half the lock duration).
    pub fn lock_renew_time(mut self, every: Duration) -> Self {
        self.lock_renew_time = Some(every);
        self
    }

    /// How often stalled jobs are looked for (default 30 s).
    pub fn stalled_interval(mut self, interval: Duration) -> Self {
        self.stalled_interval = interval;
        self
    }

    /// How often a job may stall before it fails (default 1).
    pub fn max_stalled_count(mut self, count: u32) -> Self {
        self.max_stalled_count = count;
        self
    }

    /// Longest wait for new jobs before looking again (default 5 s, BullMQ's `drainDelay`).
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Rate limit (BullMQ's `limiter`).
    pub fn limiter(mut self, limiter: Limiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The worker's name, stored as `pb` ("processed by") on the jobs it takes.
    pub fn name(mut self, name: &str) -> Self {
        self.worker_name = Some(name.to_owned());
        self
    }

    /// What to keep of completed jobs whose options do not say (default: all).
    pub fn remove_on_complete(mut self, keep: RemoveOn) -> Self {
        self.remove_on_complete = Some(keep);
        self
    }

    /// What to keep of failed jobs whose options do not say (default: all).
    pub fn remove_on_fail(mut self, keep: RemoveOn) -> Self {
        self.remove_on_fail = Some(keep);
        self
    }

    /// Called with every error the worker recovers from by itself (Redis unreachable, a
    /// lock lost...); by default they are dropped.
    pub fn on_error(mut self, hook: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_error = Arc::new(hook);
        self
    }

    /// Counts the jobs this worker completes and fails, per minute, in
    /// `metrics:completed` and `metrics:failed`, keeping the last `max_data_points`
    /// minutes, as BullMQ's `metrics: { maxDataPoints }` (its `MetricsTime.ONE_WEEK` is
    /// 10080); Node's `Queue.getMetrics` reads them. Off by default, as in BullMQ.
    pub fn metrics(mut self, max_data_points: u64) -> Self {
        self.metrics = Some(max_data_points.max(1));
        self
    }

    /// Registers a custom backoff strategy for jobs whose `backoff` has type `name`
    /// (BullMQ's `settings.backoffStrategy`, which receives the same arguments): called
    /// after a failed attempt that may be retried with the attempts made so far (1 after
    /// the first failure), the type, the error and the job; it returns the delay before
    /// the next try, zero to retry at once, or `None` to fail the job for good (BullMQ's
    /// `-1`). The built-in `fixed` and `exponential` cannot be replaced, as in BullMQ.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use std::time::Duration;
    /// use bullmq_rs::{ActiveJob, JobError, Worker};
    ///
    /// let worker = Worker::builder("emails")
    ///     .backoff_strategy("linear", |attempts_made, _kind, _err, _job| {
    ///         Some(Duration::from_secs(attempts_made * 10))
    ///     })
    ///     .connect("redis://127.0.0.1:6379", |job: ActiveJob| async move {
    ///         Err::<serde_json::Value, _>(JobError::new("smtp down"))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn backoff_strategy(
        mut self,
        name: &str,
        strategy: impl Fn(u64, &str, &JobError, &crate::Job) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.backoff_strategies
            .insert(name.to_owned(), Arc::new(strategy));
        self
    }

    /// Called with what happens in the worker: a job active, its progress, completed,
    /// failed, a stalled job taken back, an error (BullMQ's `worker.on(...)`). Runs inline
    /// in the worker's tasks, so it should be quick: send to a channel for slow work.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{ActiveJob, JobError, Worker, WorkerEvent};
    ///
    /// let worker = Worker::builder("emails")
    ///     .on_event(|event| {
    ///         if let WorkerEvent::Failed { job, error, retried } = event {
    ///             eprintln!("job {} failed: {error} (retried: {retried})", job.id);
    ///         }
    ///     })
    ///     .connect("redis://127.0.0.1:6379", |job: ActiveJob| async move {
    ///         Ok::<_, JobError>(job.data.clone())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn on_event(mut self, hook: impl Fn(&WorkerEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(hook));
        self
    }

    /// Talks to a Redis Cluster: `url` is any of its nodes; the prefix (or the name) must
    /// hold a hash tag such as `{sellsy}`.
    pub fn cluster(self) -> Self {
        self.topology(Topology::Cluster)
    }

    /// Talks to the primary that Redis Sentinel manages under `master`: `url` is a
    /// sentinel (or several, comma-separated).
    pub fn sentinel(self, master: &str) -> Self {
        self.topology(Topology::sentinel(master))
    }

    /// How the Redis behind `url` is deployed (default [`Topology::Single`]).
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    /// Connects to `url` and prepares the worker; [`Worker::run_until`] starts it.
    ///
    /// # Errors
    /// [`Error::InvalidQueue`], [`Error::InvalidUrl`], [`Error::Connect`].
    pub async fn connect<H, F>(self, url: &str, handler: H) -> Result<Worker<H>>
    where
        H: Fn(ActiveJob) -> F + Send + Sync + 'static,
        F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
    {
        let keys = QueueKeys::for_connection(&self.prefix, &self.name, &self.topology)?;
        let conn = connection::open(url, ConnectionSettings::default(), &self.topology).await?;
        // Waiting for the marker blocks its connection: it gets one of its own, with no
        // reply timeout (the wait is bounded by its own timeout).
        let blocking_settings = ConnectionSettings {
            response_timeout: None,
            ..ConnectionSettings::default()
        };
        let mut blocking = connection::open(url, blocking_settings, &self.topology).await?;
        let name = client_name::client_name(&self.prefix, &self.name, self.worker_name.as_deref());
        let client_name = connection::set_name(&mut blocking, &name)
            .await?
            .then_some(name);
        let shared = Shared {
            keys,
            conn,
            blocking,
            client_name,
            worker_id: uuid::Uuid::new_v4().to_string(),
            next_token: AtomicU64::new(1),
            held: Mutex::new(HashMap::new()),
            state: watch::Sender::new(RunState::new(self.concurrency)),
            finished: watch::Sender::new(false),
            busy: AtomicUsize::new(0),
            options: self,
        };
        Ok(Worker {
            shared: Arc::new(shared),
            handler: Arc::new(handler),
        })
    }
}

/// State shared by the fetch loop, the job tasks, the lock renewer and the stalled checker.
pub(crate) struct Shared {
    keys: QueueKeys,
    conn: Connection,
    blocking: Connection,
    /// The blocking connection's `CLIENT SETNAME`, by which Node's `getWorkers` finds us
    /// (`None` where the server has no `CLIENT` command).
    client_name: Option<String>,
    worker_id: String,
    next_token: AtomicU64,
    /// Jobs running here, with their lock tokens.
    held: Mutex<HashMap<JobId, Held>>,
    /// Paused, concurrency, stopping: set through [`WorkerControl`].
    state: watch::Sender<RunState>,
    /// Turns true when the worker's run has ended.
    finished: watch::Sender<bool>,
    /// Job tasks running (each holds one concurrency slot).
    busy: AtomicUsize,
    options: WorkerBuilder,
}

/// A job running here: its lock token and its cancellation.
pub(crate) struct Held {
    token: String,
    cancel: Cancel,
}

impl Shared {
    fn new_token(&self) -> String {
        format!(
            "{}:{}",
            self.worker_id,
            self.next_token.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Records a job taken with `token`; returns its cancellation, already fired when the
    /// worker is handing its jobs back.
    fn hold(&self, id: JobId, token: String) -> watch::Receiver<bool> {
        let mut held = self.held();
        let fired = self.state.borrow().stop == Stop::HandingBack;
        let cancel = watch::Sender::new(fired);
        let receiver = cancel.subscribe();
        held.insert(id, Held { token, cancel });
        receiver
    }

    /// Fires the cancellation of every job running here.
    fn cancel_all(&self) {
        for held in self.held().values() {
            held.cancel.send_replace(true);
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Held>> {
        // A poisoned map only means a panic elsewhere while inserting: it is still usable.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn report(&self, err: &Error) {
        (self.options.on_error)(err);
        self.emit(&WorkerEvent::Error(err));
    }

    fn emit(&self, event: &WorkerEvent<'_>) {
        if let Some(hook) = &self.options.on_event {
            hook(event);
        }
    }

    fn lock_ms(&self) -> u64 {
        crate::codec::as_millis(self.options.lock_duration)
    }
}

/// A worker for one queue. Build it with [`Worker::builder`].
///
/// ```no_run
/// use bullmq_rs::{ActiveJob, JobError, Worker};
///
/// # async fn demo() -> bullmq_rs::Result<()> {
/// let worker = Worker::builder("emails")
///     .concurrency(8)
///     .connect("redis://127.0.0.1:6379", |job: ActiveJob| async move {
///         println!("sending {}", job.data);
///         Ok::<_, JobError>(serde_json::json!({ "sent": true }))
///     })
///     .await?;
/// worker.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub struct Worker<H> {
    shared: Arc<Shared>,
    handler: Arc<H>,
}

impl<H> std::fmt::Debug for Worker<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("queue", &self.shared.keys)
            .finish_non_exhaustive()
    }
}

impl Worker<()> {
    /// Starts configuring a worker for queue `name`.
    pub fn builder(name: &str) -> WorkerBuilder {
        WorkerBuilder {
            name: name.to_owned(),
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            major: BullmqMajor::default(),
            concurrency: 1,
            lock_duration: Duration::from_secs(30),
            lock_renew_time: None,
            stalled_interval: Duration::from_secs(30),
            max_stalled_count: 1,
            drain_delay: Duration::from_secs(5),
            limiter: None,
            worker_name: None,
            remove_on_complete: None,
            remove_on_fail: None,
            on_error: Arc::new(|_| {}),
            on_event: None,
            backoff_strategies: HashMap::new(),
            metrics: None,
            topology: Topology::Single,
        }
    }
}

impl<H, F> Worker<H>
where
    H: Fn(ActiveJob) -> F + Send + Sync + 'static,
    F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
{
    /// A handle to pause, resume, resize or close this worker while it runs.
    pub fn control(&self) -> WorkerControl {
        WorkerControl::new(self.shared.clone())
    }

    /// Takes and runs jobs until [`WorkerControl::close`] is called.
    ///
    /// # Errors
    /// None so far: Redis failures are reported to [`WorkerBuilder::on_error`] and retried.
    pub async fn run(self) -> Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Takes and runs jobs until `shutdown` resolves (or [`WorkerControl::close`] is
    /// called); then takes no more, lets the jobs in flight finish (their locks renewed
    /// meanwhile) and returns. A worker that is killed instead leaves its jobs locked until
    /// the lock expires; a stalled check (of any worker, Node or Rust) then puts them back.
    ///
    /// # Errors
    /// None so far: Redis failures are reported to [`WorkerBuilder::on_error`] and retried.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let shared = self.shared.clone();
        // Background tasks end with this future, also when it is dropped.
        let _renewer = AbortOnDrop(tokio::spawn(lock::LockRenewer::new(shared.clone()).run()));
        let checker = AbortOnDrop(tokio::spawn(
            stalled::StalledChecker::new(shared.clone()).run(),
        ));
        let fetcher = fetch::Fetcher::new(shared.clone(), self.handler.clone()).run();
        let mut stopping = shared.state.subscribe();
        let stop_asked = async move {
            // Without the Ref: holding it would block the state's writers.
            let _ = stopping
                .wait_for(|state| state.stop != Stop::Running)
                .await
                .map(drop);
        };

        tokio::pin!(fetcher, shutdown, stop_asked);
        tokio::select! {
            () = &mut fetcher => {}
            () = &mut shutdown => {
                shared.state.send_modify(|state| {
                    if state.stop == Stop::Running {
                        state.stop = Stop::Draining(None);
                    }
                });
                drop(checker);
                fetcher.await;
            }
            () = &mut stop_asked => {
                drop(checker);
                fetcher.await;
            }
        }
        shared.finished.send_replace(true);
        Ok(())
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop<T = ()>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
