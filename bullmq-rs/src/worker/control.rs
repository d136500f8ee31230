//! Steering a running worker from outside: pause and resume, concurrency, and closing with
//! a deadline (BullMQ's `worker.pause()`, `resume()`, `concurrency = n`, `close()`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Shared;

/// What the worker is asked to do; the fetch loop and the job tasks read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunState {
    pub(super) paused: bool,
    pub(super) concurrency: usize,
    pub(super) stop: Stop,
}

/// How far the worker is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Taking jobs.
    Running,
    /// Taking no more; the jobs in flight may finish until the deadline, if any.
    Draining(Option<Instant>),
    /// Past the deadline: every job still running goes back to `wait`.
    HandingBack,
}

impl RunState {
    pub(super) fn new(concurrency: usize) -> Self {
        Self {
            paused: false,
            concurrency,
            stop: Stop::Running,
        }
    }

    /// Whether a job task may take the next job in the call that ends its job
    /// (BullMQ's fetchNext), `busy` tasks running.
    pub(super) fn may_take_next(&self, busy: usize) -> bool {
        self.stop == Stop::Running && !self.paused && busy <= self.concurrency
    }
}

/// A handle on a running [`super::Worker`]: pause, resume, change its concurrency, close
/// it. Cheap to clone; get it with [`super::Worker::control`] before running the worker.
///
/// ```no_run
/// use std::time::Duration;
/// use bullmq_rs::{ActiveJob, JobError, Worker};
///
/// # async fn demo() -> bullmq_rs::Result<()> {
/// let worker = Worker::builder("emails")
///     .connect("redis://127.0.0.1:6379", |job: ActiveJob| async move {
///         Ok::<_, JobError>(job.data.clone())
///     })
///     .await?;
/// let control = worker.control();
/// let running = tokio::spawn(worker.run());
/// control.set_concurrency(4);
/// // Jobs still running after 10 s go back to `wait` for another worker.
/// control.close(Duration::from_secs(10)).await;
/// # let _ = running.await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WorkerControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WorkerControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerControl")
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

impl WorkerControl {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Takes no new job until [`WorkerControl::resume`]; the jobs running go on (BullMQ's
    /// `worker.pause()`; the queue itself stays as it is).
    pub fn pause(&self) {
        self.shared.state.send_modify(|state| state.paused = true);
    }

    /// Takes jobs again after [`WorkerControl::pause`].
    pub fn resume(&self) {
        self.shared.state.send_modify(|state| state.paused = false);
    }

    /// Whether the worker is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.state.borrow().paused
    }

    /// Runs up to `concurrency` jobs at once from now on (at least 1); when lowered, the
    /// jobs running beyond it finish first.
    pub fn set_concurrency(&self, concurrency: usize) {
        let concurrency = concurrency.max(1);
        self.shared
            .state
            .send_modify(|state| state.concurrency = concurrency);
    }

    /// The concurrency the worker runs with now.
    pub fn concurrency(&self) -> usize {
        self.shared.state.borrow().concurrency
    }

    /// Stops the worker: it takes no more jobs and waits up to `deadline` for the jobs
    /// running. Then each job still running has its cancellation fired
    /// ([`super::ActiveJob::cancelled`]), its handler dropped and goes back to the front of
    /// `wait` at once, as BullMQ's stalled recovery would put it but with no stall
    /// counted (`stc` unchanged, no `stalled` event, a `waiting` event with `prev: active`),
    /// for any worker to take. Returns once the worker's run has ended.
    pub async fn close(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        self.shared.state.send_modify(|state| {
            // The earlier deadline wins (a shutdown without deadline may be under way).
            state.stop = match state.stop {
                Stop::Running | Stop::Draining(None) => Stop::Draining(Some(until)),
                Stop::Draining(Some(earlier)) => Stop::Draining(Some(earlier.min(until))),
                Stop::HandingBack => Stop::HandingBack,
            };
        });
        let mut finished = self.shared.finished.subscribe();
        // The sender lives in the worker's shared state, which this handle keeps alive.
        let _ = finished.wait_for(|done| *done).await;
    }
}

/// A job's cancellation, fired when the worker hands the job back.
pub(super) type Cancel = watch::Sender<bool>;
