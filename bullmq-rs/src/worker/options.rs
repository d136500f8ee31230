//! What a running worker reads: its locks, stalled checks, waits, rate limit, name,
//! retention defaults, hooks, backoff strategies and metrics ([`WorkerOptions`]), set
//! through [`super::WorkerBuilder`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::WorkerEvent;
use super::backoff::BackoffStrategies;
use crate::Error;
use crate::options::RemoveOn;

/// BullMQ's `limiter`: at most `max` jobs per `duration`, across every worker with the
/// same limiter on the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limiter {
    /// Jobs per window.
    pub max: u64,
    /// The window.
    pub duration: Duration,
}

pub(super) type ErrorHook = Arc<dyn Fn(&Error) + Send + Sync>;
pub(super) type EventHook = Arc<dyn Fn(&WorkerEvent<'_>) + Send + Sync>;

/// The options a running worker reads, with BullMQ's defaults. Concurrency is not here:
/// it is run state, changed through [`super::WorkerControl`].
#[derive(Clone)]
pub(crate) struct WorkerOptions {
    pub(super) lock_duration: Duration,
    /// `None`: half the lock duration.
    pub(super) lock_renew_time: Option<Duration>,
    pub(super) stalled_interval: Duration,
    pub(super) max_stalled_count: u32,
    pub(super) drain_delay: Duration,
    pub(super) limiter: Option<Limiter>,
    /// Stored as `pb` on the jobs taken, and part of the connection's client name.
    pub(super) worker_name: Option<String>,
    pub(super) remove_on_complete: Option<RemoveOn>,
    pub(super) remove_on_fail: Option<RemoveOn>,
    pub(super) on_error: ErrorHook,
    pub(super) on_event: Option<EventHook>,
    pub(super) backoff_strategies: BackoffStrategies,
    /// `metrics.maxDataPoints`; `None` keeps no metrics.
    pub(super) metrics: Option<u64>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
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
        }
    }
}

impl WorkerOptions {
    /// How often the locks of the jobs running here are renewed (at least every 10 ms).
    pub(super) fn lock_renew_every(&self) -> Duration {
        self.lock_renew_time
            .unwrap_or(self.lock_duration / 2)
            .max(Duration::from_millis(10))
    }
}
