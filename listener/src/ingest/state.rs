//! Where events go now: Redis, the spool, or nowhere. This is the only place that decides
//! it; the batcher, the drainer and the readiness probe ask here and report what they saw.
//!
//! # The cycle
//!
//! Two facts make the state:
//!
//! - **Redis**: `accepting` or `unreachable`.
//!   - accepting → unreachable: an add of the batcher fails or misses the deadline
//!     ([`Router::redis_failed`]), or the drainer's add fails.
//!   - unreachable → accepting: the prober's probe (`PING` and a write of the queue's meta,
//!     see [`crate::probe`]) succeeds, one of the drainer's adds does, or an add that
//!     missed its deadline turns out to have stored its jobs after all
//!     ([`Router::redis_recovered`]). The prober tries with a backoff of 100 ms doubling
//!     to 5 s, so Redis is used again at most 5 s after it is back, with no restart. It
//!     has a task of its own, so a drainer waiting on replicas never delays it.
//!   - Replicas that do not acknowledge in time (`--min-replicas-acks`) do not make Redis
//!     unreachable: the primary took the jobs and workers see them at once; the events are
//!     kept in the spool too until the drainer confirms the replicas have them.
//! - **Spool**: writable, full (`--spool-max-bytes`) or failing (an I/O error). The spool
//!   tracks this itself ([`Spool::health`]): after an I/O error it reopens its file, at most
//!   every 500 ms, until a write works again (space freed, device back); a full spool
//!   accepts again once the drainer has emptied it.
//!
//! A new batch of events goes to Redis whenever Redis is accepting, even while the spool
//! still holds older events (availability over order: BullMQ workers with concurrency do
//! not keep order anyway); else to the spool; when the spool refuses it too, every event
//! of the batch is answered 503 with `Retry-After`. The listener is ready (`/readyz` 200)
//! exactly when one of the two can take an event.
//!
//! Nothing here needs a restart to leave: every transition out of a bad state is taken by
//! the prober or by the spool's own healing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::spool::Spool;

/// Where the events of a new batch are sent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Redis accepts writes: add there (the spool takes the batch if Redis fails it).
    Redis,
    /// Redis is unreachable: straight to the spool.
    Spool,
}

/// The state machine described in the module docs.
#[derive(Debug)]
pub(crate) struct Router {
    redis_accepting: AtomicBool,
    spool: Arc<Spool>,
    wake_drainer: Notify,
    redis_lost: Notify,
}

impl Router {
    /// Redis counts as unreachable until a probe or an add succeeds.
    pub(crate) fn new(spool: Arc<Spool>) -> Self {
        Self {
            redis_accepting: AtomicBool::new(false),
            spool,
            wake_drainer: Notify::new(),
            redis_lost: Notify::new(),
        }
    }

    /// Where a new batch goes first.
    pub(crate) fn destination(&self) -> Destination {
        if self.redis_accepting() {
            Destination::Redis
        } else {
            Destination::Spool
        }
    }

    /// Whether Redis took the last write tried (or the last probe answered).
    pub(crate) fn redis_accepting(&self) -> bool {
        self.redis_accepting.load(Ordering::Relaxed)
    }

    /// The spool (it may be failing: see [`Spool::health`]).
    pub(crate) fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// An add failed or missed its deadline: new events go to the spool until the
    /// prober finds Redis again.
    pub(crate) fn redis_failed(&self) {
        if self.redis_accepting.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                spool = %self.spool.path().display(),
                "redis is unreachable: events are kept in the spool"
            );
        }
        self.redis_lost.notify_one();
    }

    /// A probe or an add succeeded: new events go to Redis again, and the drainer resumes.
    pub(crate) fn redis_recovered(&self) {
        if !self.redis_accepting.swap(true, Ordering::Relaxed) {
            tracing::info!("redis is reachable: events go to redis");
            self.wake_drainer.notify_one();
        }
    }

    /// Tells the drainer there is work: events were spooled, or Redis failed.
    pub(crate) fn wake_drainer(&self) {
        self.wake_drainer.notify_one();
    }

    /// Resolves when [`Router::wake_drainer`] was called, or Redis recovered, since the
    /// last call (one wake-up is remembered).
    pub(crate) async fn drainer_woken(&self) {
        self.wake_drainer.notified().await;
    }

    /// Resolves when [`Router::redis_failed`] was called since the last call (one is
    /// remembered): the prober's cue.
    pub(crate) async fn redis_lost(&self) {
        self.redis_lost.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spool that cannot be opened (its directory would be under a device file): these
    /// tests never write to it.
    fn unopened_spool() -> Arc<Spool> {
        let dir = std::path::Path::new("/dev/null/spool");
        Arc::new(Spool::open_or_retry_later(dir, 1).0)
    }

    #[test]
    fn redis_is_tried_only_once_it_was_seen_accepting() {
        let router = Router::new(unopened_spool());
        assert_eq!(router.destination(), Destination::Spool);

        router.redis_recovered();
        assert_eq!(router.destination(), Destination::Redis);

        router.redis_failed();
        assert_eq!(router.destination(), Destination::Spool);
        assert!(!router.redis_accepting());
    }

    #[tokio::test]
    async fn a_failure_wakes_the_prober_and_a_recovery_the_drainer_even_before_they_wait() {
        let router = Router::new(unopened_spool());
        router.redis_recovered();
        router.redis_failed();
        let second = std::time::Duration::from_secs(1);
        tokio::time::timeout(second, router.redis_lost())
            .await
            .expect("the loss is remembered");
        router.redis_recovered();
        tokio::time::timeout(second, router.drainer_woken())
            .await
            .expect("the recovery is remembered");
    }
}
