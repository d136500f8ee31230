//! The acknowledgement rule: an event is answered 200 only once it is stored, in Redis
//! within the deadline or else in the local spool; when neither can take it, the answer
//! is 503. Concurrent events are coalesced: one batcher task sends all events waiting at
//! that moment in one `add_bulk` (one round trip, one script call), so throughput grows
//! with load instead of hitting Redis' per-call ceiling.
//!
//! While the spool holds events, new events go to the spool too, so the drainer moves
//! them to Redis in arrival order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bullmq_rs::{JobId, NewJob, Queue};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics::{Metrics, StoredIn};
use crate::spool::{Spool, SpoolRecord, SpoolSeq};

/// Most events sent in one Redis call.
const MAX_BATCH: usize = 512;
/// Events that may wait for the batcher before senders wait too (bounded memory).
const QUEUE_CAPACITY: usize = 8192;

/// Where an acknowledged event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A BullMQ job (or the job that already holds this event's id).
    InRedis(JobId),
    /// In the local spool, under this sequence number.
    InSpool(SpoolSeq),
}

/// Neither Redis nor the spool could store the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// State shared by the batcher, the drainer and the routes.
pub struct Shared {
    /// The queue events go to (drains, probes and readiness use it; each HTTP worker adds
    /// through a connection of its own).
    pub queue: Queue,
    /// The local spool; `None` when it could not be opened (then Redis is the only store).
    pub spool: Option<Arc<Spool>>,
    /// When an event counts as stored in Redis.
    pub durability: Durability,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    redis_down: AtomicBool,
    drain_needed: Notify,
}

/// When an event counts as stored in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// How long Redis may take (the add, and the replicas' acknowledgement) before the
    /// event goes to the spool instead.
    pub deadline: Duration,
    /// Replicas that must have the event (Redis WAIT); 0 does not wait.
    pub min_replicas: u32,
}

/// Why a batch did not count as stored in Redis.
#[derive(Debug)]
pub(crate) enum NotStored {
    /// Redis answered with an error.
    Refused(bullmq_rs::Error),
    /// The deadline passed.
    TooSlow,
    /// Fewer replicas than required acknowledged the writes in time.
    TooFewReplicas(u32),
}

impl std::fmt::Display for NotStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(err) => write!(f, "redis refused the events: {err}"),
            Self::TooSlow => f.write_str("redis missed the deadline"),
            Self::TooFewReplicas(acked) => {
                write!(f, "only {acked} replica(s) acknowledged the events")
            }
        }
    }
}

impl Durability {
    /// Adds the jobs through `queue` and, when replicas are required, waits for them;
    /// both within `limit`. Only `Ok` means the events are in Redis as required.
    pub(crate) async fn add(
        self,
        queue: &Queue,
        jobs: &[NewJob],
        limit: Duration,
    ) -> Result<Vec<JobId>, NotStored> {
        let stored = async {
            if self.min_replicas == 0 {
                return queue.add_bulk(jobs).await.map_err(NotStored::Refused);
            }
            // The add and WAIT share the limit: WAIT gets three quarters of it, so that a
            // lagging replica is reported as such rather than as a missed deadline.
            let wait = limit
                .saturating_sub(limit / 4)
                .max(Duration::from_millis(1));
            let (ids, acked) = queue
                .add_bulk_replicated(jobs, self.min_replicas, wait)
                .await
                .map_err(NotStored::Refused)?;
            if acked < self.min_replicas {
                return Err(NotStored::TooFewReplicas(acked));
            }
            Ok(ids)
        };
        tokio::time::timeout(limit, stored)
            .await
            .unwrap_or(Err(NotStored::TooSlow))
    }
}

impl Shared {
    /// Shares these parts; Redis counts as down until it answers.
    pub fn new(
        queue: Queue,
        spool: Option<Arc<Spool>>,
        durability: Durability,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            queue,
            spool,
            durability,
            metrics,
            redis_down: AtomicBool::new(true),
            drain_needed: Notify::new(),
        })
    }

    /// Whether the last Redis call failed and no drain has succeeded since.
    pub fn redis_down(&self) -> bool {
        self.redis_down.load(Ordering::Relaxed)
    }

    /// Events waiting in the spool.
    pub fn spool_len(&self) -> u64 {
        self.spool.as_ref().map_or(0, |spool| spool.len())
    }

    pub(crate) fn set_redis_down(&self, down: bool) {
        if down && !self.redis_down.swap(true, Ordering::Relaxed) {
            match &self.spool {
                Some(spool) => {
                    tracing::warn!(spool = %spool.path().display(), "redis is unreachable: events are kept in the spool")
                }
                None => tracing::error!(
                    "redis is unreachable and there is no spool: events are refused with 503"
                ),
            }
        } else if !down && self.redis_down.swap(false, Ordering::Relaxed) {
            tracing::info!("redis is reachable: events go to redis");
        }
        self.drain_needed.notify_one();
    }

    pub(crate) async fn drain_needed(&self) {
        self.drain_needed.notified().await;
    }
}

struct Pending {
    job: NewJob,
    received: Instant,
    reply: oneshot::Sender<Result<Stored, Unavailable>>,
}

/// The handle the routes store events through. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    sender: mpsc::Sender<Pending>,
}

impl Ingest {
    /// Starts a batcher on the current thread's runtime, adding through `queue` (a
    /// connection of this thread's own, so that a request, its batch and the Redis reply
    /// never wait for another thread to wake up). It ends when every `Ingest` is dropped,
    /// after storing what was already handed to it.
    pub fn start(shared: Arc<Shared>, queue: Queue) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::task::spawn_local(
            Batcher {
                shared,
                queue,
                receiver,
            }
            .run(),
        );
        Self { sender }
    }

    /// Stores one event; resolves once it is in Redis or in the spool.
    ///
    /// # Errors
    /// [`Unavailable`] when neither could take it.
    pub async fn store(&self, job: NewJob, received: Instant) -> Result<Stored, Unavailable> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending {
                job,
                received,
                reply,
            })
            .await
            .map_err(|_| Unavailable)?;
        answer.await.unwrap_or(Err(Unavailable))
    }
}

struct Batcher {
    shared: Arc<Shared>,
    queue: Queue,
    receiver: mpsc::Receiver<Pending>,
}

impl Batcher {
    async fn run(mut self) {
        while let Some(first) = self.receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.receiver.try_recv() {
                    Ok(pending) => batch.push(pending),
                    Err(_) => break,
                }
            }
            self.store(batch).await;
        }
    }

    async fn store(&self, batch: Vec<Pending>) {
        let (jobs, waiters): (Vec<NewJob>, Vec<_>) = batch
            .into_iter()
            .map(|pending| (pending.job, (pending.received, pending.reply)))
            .unzip();
        let shared = &self.shared;
        let mut attempted = None;
        if !shared.redis_down() && shared.spool_len() == 0 {
            attempted = Some(unix_ms());
            let durability = shared.durability;
            match durability
                .add(&self.queue, &jobs, durability.deadline)
                .await
            {
                Ok(ids) => {
                    for ((received, reply), id) in waiters.into_iter().zip(ids) {
                        shared.metrics.stored(StoredIn::Redis, received.elapsed());
                        let _ = reply.send(Ok(Stored::InRedis(id)));
                    }
                    return;
                }
                Err(why) => {
                    tracing::warn!(reason = %why, events = jobs.len(), "spooling the events")
                }
            }
            shared.metrics.redis_error();
            shared.set_redis_down(true);
        }
        self.spool(jobs, waiters, attempted).await;
    }

    async fn spool(
        &self,
        jobs: Vec<NewJob>,
        waiters: Vec<(Instant, oneshot::Sender<Result<Stored, Unavailable>>)>,
        attempted: Option<u64>,
    ) {
        let appended = match self.shared.spool.clone() {
            Some(spool) => tokio::task::spawn_blocking(move || {
                let received = unix_ms();
                let records: Vec<SpoolRecord> = jobs
                    .iter()
                    .map(|job| SpoolRecord::from_job(job, received, attempted))
                    .collect();
                spool.append(&records).map_err(|err| err.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("the spool task failed".to_owned())),
            None => Err("no spool".to_owned()),
        };
        match appended {
            Ok(seqs) => {
                for ((received, reply), seq) in waiters.into_iter().zip(seqs) {
                    self.shared
                        .metrics
                        .stored(StoredIn::Spool, received.elapsed());
                    let _ = reply.send(Ok(Stored::InSpool(seq)));
                }
                self.shared.drain_needed.notify_one();
            }
            Err(err) => {
                tracing::error!(error = %err, events = waiters.len(), "the spool cannot store the events: answering 503");
                self.shared.metrics.unavailable(waiters.len() as u64);
                for (_, reply) in waiters {
                    let _ = reply.send(Err(Unavailable));
                }
            }
        }
    }
}

/// Unix time in ms (0 if the clock is before 1970).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
