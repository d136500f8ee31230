//! Adding a batch of events to Redis, and waiting for replicas when
//! `--min-replicas-acks` asks for them: the one place that talks to Redis for events.

use std::time::Duration;

use bullmq_rs::{JobId, NewJob, Queue};

/// When an event counts as stored in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// How long Redis may take (the add, and the replicas' acknowledgement) before the
    /// event goes to the spool instead.
    pub deadline: Duration,
    /// Replicas that must have the event (Redis `WAIT`); 0 does not wait.
    pub min_replicas: u32,
}

/// What became of one add of a batch.
#[derive(Debug)]
pub(crate) enum AddOutcome {
    /// Every job is in Redis (and on the required replicas).
    Stored(Vec<JobId>),
    /// Every job is on the primary, visible to workers, but fewer replicas than required
    /// acknowledged it within the time given: keep the events until they do.
    Unreplicated {
        /// Replicas that acknowledged.
        acked: u32,
    },
    /// Redis refused the batch or could not be reached; it may or may not have run.
    Failed(bullmq_rs::Error),
    /// The add's task ended without an outcome (it panicked); it may or may not have run.
    Lost,
}

impl std::fmt::Display for AddOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stored(ids) => write!(f, "{} job(s) stored", ids.len()),
            Self::Unreplicated { acked } => {
                write!(f, "only {acked} replica(s) acknowledged the events")
            }
            Self::Failed(err) => write!(f, "redis did not store the events: {err}"),
            Self::Lost => f.write_str("the add ended without an outcome"),
        }
    }
}

impl AddOutcome {
    /// Whether the error is one that the same records will meet again however often they
    /// are sent (invalid options, a script refusal), as opposed to Redis being away.
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Failed(bullmq_rs::Error::InvalidOption { .. } | bullmq_rs::Error::Script { .. })
        )
    }
}

/// Adds batches through one queue connection, as [`Durability`] asks.
#[derive(Clone)]
pub(crate) struct RedisStore {
    queue: Queue,
    durability: Durability,
}

impl RedisStore {
    pub(crate) fn new(queue: Queue, durability: Durability) -> Self {
        Self { queue, durability }
    }

    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    /// Adds `jobs` in one script call (and one `WAIT` in the same round trip when replicas
    /// are required, given `wait_for_replicas` at most). Has no deadline of its own: the
    /// caller decides how long to wait for the outcome, and may go on waiting for it after
    /// answering, so that a late add is still known.
    pub(crate) async fn add(&self, jobs: &[NewJob], wait_for_replicas: Duration) -> AddOutcome {
        let min_replicas = self.durability.min_replicas;
        if min_replicas == 0 {
            return match self.queue.add_bulk(jobs).await {
                Ok(ids) => AddOutcome::Stored(ids),
                Err(err) => AddOutcome::Failed(err),
            };
        }
        match self
            .queue
            .add_bulk_replicated(jobs, min_replicas, wait_for_replicas)
            .await
        {
            Ok((ids, acked)) if acked >= min_replicas => AddOutcome::Stored(ids),
            Ok((_, acked)) => AddOutcome::Unreplicated { acked },
            Err(err) => AddOutcome::Failed(err),
        }
    }

    /// Confirms that jobs stored earlier (through any connection) are on the required
    /// replicas, without adding them again: a write of the queue's meta and `WAIT`, in one
    /// round trip. No replicas required: stored at once.
    pub(crate) async fn confirm_replicated(&self, wait_for_replicas: Duration) -> AddOutcome {
        let min_replicas = self.durability.min_replicas;
        if min_replicas == 0 {
            return AddOutcome::Stored(Vec::new());
        }
        match self
            .queue
            .confirm_replicated(min_replicas, wait_for_replicas)
            .await
        {
            Ok(acked) if acked >= min_replicas => AddOutcome::Stored(Vec::new()),
            Ok(acked) => AddOutcome::Unreplicated { acked },
            Err(err) => AddOutcome::Failed(err),
        }
    }

    /// How long `WAIT` may take within `limit`: half of it, so that a lagging replica is
    /// reported as such (the jobs are in Redis) rather than as a missed deadline (which
    /// sends the next events to the spool only, until the drainer's probe).
    pub(crate) fn replica_wait_within(limit: Duration) -> Duration {
        (limit / 2).max(Duration::from_millis(1))
    }
}
