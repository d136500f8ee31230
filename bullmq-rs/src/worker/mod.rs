//! `Worker`: processes the jobs of one queue with an async handler, following BullMQ's
//! worker protocol so that it shares queues with Node workers: it takes jobs through the
//! marker, locks them and renews the locks, reports completion and failure as BullMQ
//! does, retries with the job's backoff and takes back the jobs of workers that died.

mod backoff;
mod builder;
mod client_name;
mod control;
mod events;
mod fetch;
mod finish;
mod finisher;
mod job;
mod lock;
mod options;
mod schedule_next;
mod stalled;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use builder::WorkerBuilder;
pub use control::WorkerControl;
pub use events::WorkerEvent;
pub use job::{ActiveJob, JobCancellation, JobError};
pub use options::Limiter;

use control::{Cancel, RunState, Stop};

use client_name::ClientName;
pub(crate) use client_name::client_name;
use options::WorkerOptions;

use crate::connection::Connection;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::scripts::FetchArgs;
use crate::{Error, Result};

/// State shared by the fetch loop, the job tasks, the lock renewer and the stalled checker.
pub(crate) struct Shared {
    keys: QueueKeys,
    major: BullmqMajor,
    conn: Connection,
    blocking: Connection,
    /// The blocking connection's `CLIENT SETNAME`, by which Node's `getWorkers` finds us.
    client_name: ClientName,
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
    /// Where job tasks hand their endings, sent to Redis in batches.
    finisher: finisher::Finisher,
    options: WorkerOptions,
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

    /// What `moveToActive` needs to take a job with `token` now.
    fn fetch_args<'a>(&'a self, token: &'a str) -> FetchArgs<'a> {
        FetchArgs {
            now: crate::codec::now_millis(),
            token,
            lock_ms: self.lock_ms(),
            limiter: self.options.limiter,
            worker_name: self.options.worker_name.as_deref().unwrap_or(""),
        }
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
        WorkerBuilder::new(name)
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
        // Lives until the jobs in flight have ended: they end through it.
        let _finisher = AbortOnDrop(tokio::spawn(finisher::send_endings(shared.clone())));
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
