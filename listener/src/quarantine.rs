//! What a request with a bad signature gets: 401, or a place in the quarantine queue, a
//! BullMQ queue of its own, for inspection and replay.
//!
//! The quarantine is bounded, since anyone can send badly signed requests:
//! - a body over `--quarantine-max-body-bytes` is not kept;
//! - at most `--quarantine-max-per-sec` requests per second are kept, for the whole
//!   process (a token bucket holding one second of them);
//! - nothing is kept while the queue holds `--quarantine-max-jobs` jobs (counted in Redis
//!   at most once a second, plus what this process added since);
//! - a background task removes jobs older than `--quarantine-ttl-secs` the BullMQ way
//!   (`Queue::clean` of waiting, completed and failed jobs, so that jobs a Node worker
//!   took are cleaned too), every tenth of the TTL and at least once a minute. Job hashes
//!   never get a Redis TTL: BullMQ would keep ids of vanished jobs in its lists. Each
//!   pass over a state holding jobs adds one `cleaned` entry to the queue's events
//!   stream (BullMQ writes it uncapped; the next capped event trims the stream).
//!
//! Past a limit the answer is 401, as if the policy were to reject. A kept request follows
//! `--min-replicas-acks`: when fewer replicas are in sync before the add, nothing is added;
//! when they do not acknowledge the add within the Redis deadline, the answer is 503 (the
//! job may then stay on the primary alone, until the cleaner removes it).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq_rs::{JobId, JobOptions, JobState, NewJob, Queue};
use serde_json::json;

use crate::error::{ApiError, RETRY_AFTER};
use crate::ingest::Durability;
use crate::ingest::redis::{AddOutcome, RedisStore};

/// How long a count of the queue's jobs read from Redis is trusted.
const COUNT_MAX_AGE: Duration = Duration::from_secs(1);
/// Longest pause between two cleanings.
const MAX_CLEAN_PERIOD: Duration = Duration::from_secs(60);
/// Jobs removed per state and cleaning at most, so that one pass stays short.
const CLEAN_LIMIT: u64 = 1000;
/// The name of every quarantined job.
const JOB_NAME: &str = "quarantined";

/// What a request with a bad signature gets.
#[derive(Clone)]
pub(crate) enum BadSignaturePolicy {
    /// 401, nothing stored.
    Reject,
    /// 200 once the request is in the quarantine queue; 401 past its limits.
    Quarantine(Quarantine),
}

/// The bounds of the quarantine (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineLimits {
    /// Age past which a quarantined job is removed.
    pub ttl: Duration,
    /// Requests kept per second, for the whole process.
    pub max_per_sec: u32,
    /// Largest body kept, in bytes.
    pub max_body_bytes: usize,
    /// Most jobs in the quarantine queue.
    pub max_jobs: u64,
}

impl From<&crate::Config> for QuarantineLimits {
    fn from(config: &crate::Config) -> Self {
        Self {
            ttl: config.quarantine_ttl,
            max_per_sec: config.quarantine_max_per_sec,
            max_body_bytes: config.quarantine_max_body_bytes,
            max_jobs: config.quarantine_max_jobs,
        }
    }
}

/// Why a request was not quarantined.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotQuarantined {
    /// The body is over the quarantine's size limit.
    #[error("body of {0} bytes is over the quarantine limit")]
    TooLarge(usize),
    /// More requests than the quarantine takes per second.
    #[error("quarantine rate limit reached")]
    TooFast,
    /// The quarantine queue holds its maximum of jobs.
    #[error("quarantine queue is full ({0} jobs)")]
    Full(u64),
    /// Redis did not store it as `--min-replicas-acks` requires, in time.
    #[error("quarantine not stored: {0}")]
    Unavailable(String),
}

impl From<NotQuarantined> for ApiError {
    fn from(refusal: NotQuarantined) -> Self {
        match refusal {
            NotQuarantined::Unavailable(_) => ApiError::Unavailable {
                retry_after: RETRY_AFTER,
            },
            _ => ApiError::Unauthorized,
        }
    }
}

/// The quarantine queue with its limits; cheap to clone (clones share the limits).
#[derive(Clone)]
pub struct Quarantine {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Queue,
    limits: QuarantineLimits,
    durability: Durability,
    clean_period: Duration,
    bucket: Mutex<TokenBucket>,
    count: tokio::sync::Mutex<JobCount>,
}

impl Quarantine {
    /// The quarantine of `queue`; adds follow `durability`. It cleans every tenth of the
    /// TTL, at least once a minute, once [`Quarantine::run`] runs.
    pub fn new(queue: Queue, limits: QuarantineLimits, durability: Durability) -> Self {
        let clean_period = (limits.ttl / 10)
            .min(MAX_CLEAN_PERIOD)
            .max(Duration::from_millis(10));
        Self::build(queue, limits, durability, clean_period)
    }

    /// The same quarantine with another cleaning period (tests use a short one).
    pub fn with_clean_period(self, period: Duration) -> Self {
        let inner = &self.inner;
        Self::build(inner.queue.clone(), inner.limits, inner.durability, period)
    }

    fn build(
        queue: Queue,
        limits: QuarantineLimits,
        durability: Durability,
        clean_period: Duration,
    ) -> Self {
        let inner = Inner {
            queue,
            limits,
            durability,
            clean_period,
            bucket: Mutex::new(TokenBucket::full(limits.max_per_sec)),
            count: tokio::sync::Mutex::new(JobCount::default()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The quarantine queue.
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// Keeps a badly signed request as a job (data: reason, content type, body as text,
    /// reception time) if the limits allow it; returns the job's id.
    ///
    /// # Errors
    /// [`NotQuarantined`] saying which limit refused it, or that Redis did not store it.
    pub async fn park(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        reason: &str,
    ) -> Result<JobId, NotQuarantined> {
        let inner = &self.inner;
        if body.len() > inner.limits.max_body_bytes {
            return Err(NotQuarantined::TooLarge(body.len()));
        }
        if !lock(&inner.bucket).take(inner.limits.max_per_sec, Instant::now()) {
            return Err(NotQuarantined::TooFast);
        }
        let mut count = inner.count.lock().await;
        let jobs = count
            .current(&inner.queue, inner.durability.deadline)
            .await?;
        if jobs >= inner.limits.max_jobs {
            return Err(NotQuarantined::Full(jobs));
        }
        self.check_replicas().await?;
        let data = json!({
            "reason": reason,
            "contentType": content_type,
            "body": String::from_utf8_lossy(body),
            "receivedAt": chrono::Utc::now().to_rfc3339(),
        });
        let job = NewJob::new(JOB_NAME, &data, JobOptions::default())
            .map_err(|err| NotQuarantined::Unavailable(err.to_string()))?;
        let deadline = inner.durability.deadline;
        let store = RedisStore::new(inner.queue.clone(), inner.durability);
        let add = store.add(
            std::slice::from_ref(&job),
            RedisStore::replica_wait_within(deadline),
        );
        let outcome = tokio::time::timeout(deadline, add)
            .await
            .map_err(|_| NotQuarantined::Unavailable("redis missed the deadline".to_owned()))?;
        let AddOutcome::Stored(mut ids) = outcome else {
            return Err(NotQuarantined::Unavailable(outcome.to_string()));
        };
        count.added();
        ids.pop()
            .ok_or_else(|| NotQuarantined::Unavailable("no job id".to_owned()))
    }

    /// Refuses before writing when fewer replicas than required are in sync, so that an
    /// unreplicated primary gets nothing.
    async fn check_replicas(&self) -> Result<(), NotQuarantined> {
        let durability = self.inner.durability;
        if durability.min_replicas == 0 {
            return Ok(());
        }
        let in_sync =
            tokio::time::timeout(durability.deadline, self.inner.queue.replicas_in_sync())
                .await
                .map_err(|_| NotQuarantined::Unavailable("redis missed the deadline".to_owned()))?
                .map_err(|err| NotQuarantined::Unavailable(err.to_string()))?;
        if in_sync < durability.min_replicas {
            return Err(NotQuarantined::Unavailable(format!(
                "{in_sync} replica(s) in sync, {} required",
                durability.min_replicas
            )));
        }
        Ok(())
    }

    /// Cleans the quarantine queue until `shutdown` resolves: at once, then every period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let pass = async {
                self.clean().await;
                tokio::time::sleep(self.inner.clean_period).await;
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = pass => {}
            }
        }
    }

    /// One cleaning pass; failures are logged and the next pass tries again.
    async fn clean(&self) {
        let inner = &self.inner;
        // Each clean call writes a `cleaned` event, uncapped as in BullMQ: states without
        // jobs are skipped, so that an idle quarantine writes nothing.
        let counts = match inner.queue.get_job_counts().await {
            Ok(counts) => counts,
            Err(err) => {
                tracing::warn!(error = %err, "cannot count the quarantine queue's jobs");
                return;
            }
        };
        let mut removed = 0;
        for (state, jobs) in [
            (JobState::Waiting, counts.waiting),
            (JobState::Prioritized, counts.prioritized),
            // A Node worker that retried a quarantined job with a backoff left it here.
            (JobState::Delayed, counts.delayed),
            (JobState::Completed, counts.completed),
            (JobState::Failed, counts.failed),
        ] {
            if jobs == 0 {
                continue;
            }
            match inner
                .queue
                .clean(inner.limits.ttl, CLEAN_LIMIT, state)
                .await
            {
                Ok(ids) => removed += ids.len(),
                Err(err) => {
                    tracing::warn!(error = %err, %state, "cannot clean the quarantine queue");
                }
            }
        }
        if removed > 0 {
            inner.count.lock().await.forget();
            tracing::info!(removed, "quarantined requests past their ttl removed");
        }
    }
}

/// Requests allowed per second, refilled continuously, holding at most one second's worth.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    fn full(per_sec: u32) -> Self {
        Self {
            tokens: f64::from(per_sec),
            refilled_at: Instant::now(),
        }
    }

    fn take(&mut self, per_sec: u32, now: Instant) -> bool {
        let rate = f64::from(per_sec);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The number of jobs in the quarantine queue: read from Redis at most once a second,
/// counted up locally in between.
#[derive(Debug, Default)]
struct JobCount {
    read_at: Option<Instant>,
    jobs: u64,
}

impl JobCount {
    async fn current(&mut self, queue: &Queue, deadline: Duration) -> Result<u64, NotQuarantined> {
        if self.read_at.is_some_and(|at| at.elapsed() < COUNT_MAX_AGE) {
            return Ok(self.jobs);
        }
        let counts = tokio::time::timeout(deadline, queue.get_job_counts())
            .await
            .map_err(|_| NotQuarantined::Unavailable("redis missed the deadline".to_owned()))?
            .map_err(|err| NotQuarantined::Unavailable(err.to_string()))?;
        self.jobs = counts.waiting
            + counts.prioritized
            + counts.delayed
            + counts.active
            + counts.completed
            + counts.failed
            + counts.waiting_children;
        self.read_at = Some(Instant::now());
        Ok(self.jobs)
    }

    fn added(&mut self) {
        self.jobs += 1;
    }

    fn forget(&mut self) {
        self.read_at = None;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_a_second_of_requests_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket {
            tokens: 3.0,
            refilled_at: start,
        };
        let taken = (0..5).filter(|_| bucket.take(3, start)).count();
        assert_eq!(taken, 3);
        assert!(!bucket.take(3, start + Duration::from_millis(100)));
        assert!(bucket.take(3, start + Duration::from_millis(400)));
        let after_long_idle = start + Duration::from_secs(60);
        let taken = (0..10).filter(|_| bucket.take(3, after_long_idle)).count();
        assert_eq!(taken, 3);
    }
}
