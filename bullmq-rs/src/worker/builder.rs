//! `WorkerBuilder`: a worker's queue (name, prefix, BullMQ major), its connection and its
//! [`WorkerOptions`]; `connect` or `connect_lazy` turns it into a [`Worker`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::client_name::ClientName;
use super::control::RunState;
use super::options::{Limiter, WorkerOptions};
use super::{ActiveJob, JobError, Shared, Worker, WorkerEvent};
use crate::connection::{self, Connection, ConnectionOptions};
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::options::RemoveOn;
use crate::{Error, Result};

/// Options of a [`Worker`], with BullMQ's defaults.
#[derive(Clone)]
pub struct WorkerBuilder {
    name: String,
    prefix: String,
    major: BullmqMajor,
    connection: ConnectionOptions,
    /// The starting concurrency; [`WorkerControl`](super::WorkerControl) changes it later.
    concurrency: usize,
    options: WorkerOptions,
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
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            major: BullmqMajor::default(),
            connection: ConnectionOptions::default(),
            concurrency: 1,
            options: WorkerOptions::default(),
        }
    }

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
        self.options.lock_duration = duration;
        self
    }

    /// How often locks are renewed (default half the lock duration).
    pub fn lock_renew_time(mut self, every: Duration) -> Self {
        self.options.lock_renew_time = Some(every);
        self
    }

    /// How often stalled jobs are looked for (default 30 s).
    pub fn stalled_interval(mut self, interval: Duration) -> Self {
        self.options.stalled_interval = interval;
        self
    }

    /// How often a job may stall before it fails (default 1).
    pub fn max_stalled_count(mut self, count: u32) -> Self {
        self.options.max_stalled_count = count;
        self
    }

    /// Longest wait for new jobs before looking again (default 5 s, BullMQ's `drainDelay`).
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.options.drain_delay = delay;
        self
    }

    /// Rate limit (BullMQ's `limiter`).
    pub fn limiter(mut self, limiter: Limiter) -> Self {
        self.options.limiter = Some(limiter);
        self
    }

    /// The worker's name, stored as `pb` ("processed by") on the jobs it takes.
    pub fn name(mut self, name: &str) -> Self {
        self.options.worker_name = Some(name.to_owned());
        self
    }

    /// What to keep of completed jobs whose options do not say (default: all).
    pub fn remove_on_complete(mut self, keep: RemoveOn) -> Self {
        self.options.remove_on_complete = Some(keep);
        self
    }

    /// What to keep of failed jobs whose options do not say (default: all).
    pub fn remove_on_fail(mut self, keep: RemoveOn) -> Self {
        self.options.remove_on_fail = Some(keep);
        self
    }

    /// Called with every error the worker recovers from by itself (Redis unreachable, a
    /// lock lost...); by default they are dropped.
    pub fn on_error(mut self, hook: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.options.on_error = Arc::new(hook);
        self
    }

    /// Counts the jobs this worker completes and fails, per minute, in
    /// `metrics:completed` and `metrics:failed`, keeping the last `max_data_points`
    /// minutes, as BullMQ's `metrics: { maxDataPoints }` (its `MetricsTime.ONE_WEEK` is
    /// 10080); Node's `Queue.getMetrics` reads them. Off by default, as in BullMQ.
    pub fn metrics(mut self, max_data_points: u64) -> Self {
        self.options.metrics = Some(max_data_points.max(1));
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
        self.options
            .backoff_strategies
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
        self.options.on_event = Some(Arc::new(hook));
        self
    }

    /// How to reach Redis: topology and limits (default [`ConnectionOptions::default`]).
    /// On a Redis Cluster, the prefix (or the name) must hold a hash tag such as
    /// `{sellsy}`. The reply timeout applies to every command but the wait for new jobs,
    /// which is bounded by itself (at most the drain delay).
    pub fn connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// Connects to `url` and prepares the worker; [`Worker::run_until`] starts it.
    ///
    /// # Errors
    /// [`Error::InvalidQueue`], [`Error::InvalidUrl`], [`Error::Connect`] when Redis
    /// cannot be reached, [`Error::Redis`] when it refuses to name the connection.
    pub async fn connect<H, F>(self, url: &str, handler: H) -> Result<Worker<H>>
    where
        H: Fn(ActiveJob) -> F + Send + Sync + 'static,
        F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
    {
        let keys = self.keys()?;
        let conn = connection::open(url, &self.connection).await?;
        let blocking = connection::open(url, &self.blocking_options()).await?;
        let worker = self.into_worker(keys, conn, blocking, handler);
        // Named at once, so that `Queue.getWorkers` lists the worker as soon as this returns.
        let shared = &worker.shared;
        shared.client_name.resolve(&shared.blocking).await?;
        Ok(worker)
    }

    /// Prepares the worker without contacting Redis, so this succeeds while Redis is down:
    /// its connections are made on first use and remade whenever they are lost. Once
    /// started, it reports each failed attempt to [`WorkerBuilder::on_error`] and tries
    /// again after a pause (100 ms, doubling up to 5 s) until Redis answers; its
    /// connection is named (`CLIENT SETNAME`) then.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{ActiveJob, JobError, Worker};
    ///
    /// let worker = Worker::builder("emails")
    ///     .on_error(|err| eprintln!("worker: {err}"))
    ///     .connect_lazy("redis://127.0.0.1:6379", |job: ActiveJob| async move {
    ///         Ok::<_, JobError>(job.data.clone())
    ///     })?;
    /// worker.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidQueue`] for a bad name or prefix, [`Error::InvalidUrl`].
    pub fn connect_lazy<H, F>(self, url: &str, handler: H) -> Result<Worker<H>>
    where
        H: Fn(ActiveJob) -> F + Send + Sync + 'static,
        F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
    {
        let keys = self.keys()?;
        let conn = connection::open_lazy(url, &self.connection)?;
        let blocking = connection::open_lazy(url, &self.blocking_options())?;
        Ok(self.into_worker(keys, conn, blocking, handler))
    }

    fn keys(&self) -> Result<QueueKeys> {
        QueueKeys::for_connection(&self.prefix, &self.name, &self.connection.topology)
    }

    /// Waiting for the marker blocks its connection: it gets one of its own, with no
    /// reply timeout (the wait is bounded by its own timeout).
    fn blocking_options(&self) -> ConnectionOptions {
        self.connection.clone().response_timeout(None)
    }

    fn into_worker<H>(
        self,
        keys: QueueKeys,
        conn: Connection,
        blocking: Connection,
        handler: H,
    ) -> Worker<H> {
        let client_name = ClientName::new(
            &self.prefix,
            &self.name,
            self.options.worker_name.as_deref(),
        );
        let shared = Shared {
            keys,
            major: self.major,
            conn,
            blocking,
            client_name,
            worker_id: uuid::Uuid::new_v4().to_string(),
            next_token: AtomicU64::new(1),
            held: Mutex::new(HashMap::new()),
            state: watch::Sender::new(RunState::new(self.concurrency)),
            finished: watch::Sender::new(false),
            busy: AtomicUsize::new(0),
            finisher: super::finisher::Finisher::new(),
            options: self.options,
        };
        Worker {
            shared: Arc::new(shared),
            handler: Arc::new(handler),
        }
    }
}
