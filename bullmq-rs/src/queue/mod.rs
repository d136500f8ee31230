//! `Queue`: the producer side of one BullMQ queue.

mod add;
mod clean;
mod control;
mod control_jobs;
mod getters;
mod housekeeping;
pub(crate) mod inspect;
mod job_edits;
mod limits;
mod queue_info;
mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::connection::Connection;

pub use add::NewJob;
pub use control_jobs::{RemoveOptions, RetryJobsOptions, RetryOptions};
pub use getters::JobLogs;
pub use queue_info::{GlobalRateLimit, QueueMeta, WorkerClient};

use crate::Result;
use crate::connection::{self, ConnectionOptions};
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;

/// The default key prefix of BullMQ.
pub const DEFAULT_PREFIX: &str = "bull";

/// The default cap of a queue's events stream (`streams.events.maxLen` in BullMQ).
pub const DEFAULT_MAX_LEN_EVENTS: u64 = 10_000;

/// One BullMQ queue: adds jobs in BullMQ's exact layout, reads them back, pauses, resumes.
///
/// Cheap to clone: clones share one multiplexed connection, which reconnects by itself.
#[derive(Clone)]
pub struct Queue {
    conn: Connection,
    shared: Arc<Shared>,
}

struct Shared {
    keys: QueueKeys,
    major: BullmqMajor,
    max_len_events: u64,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("keys", &self.shared.keys)
            .field("major", &self.shared.major)
            .finish()
    }
}

impl Queue {
    /// Connects to `url` and opens queue `name` with the default prefix and BullMQ 6.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// See [`QueueBuilder::connect`].
    pub async fn connect(url: &str, name: &str) -> Result<Self> {
        Self::builder(name).connect(url).await
    }

    /// Starts configuring queue `name`.
    pub fn builder(name: &str) -> QueueBuilder {
        QueueBuilder {
            name: name.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            major: BullmqMajor::default(),
            max_len_events: DEFAULT_MAX_LEN_EVENTS,
            connection: ConnectionOptions::default(),
        }
    }

    /// The queue's keys.
    pub fn keys(&self) -> &QueueKeys {
        &self.shared.keys
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        self.shared.keys.name()
    }

    /// The BullMQ major whose layout this queue writes.
    pub fn major(&self) -> BullmqMajor {
        self.shared.major
    }

    fn connection(&self) -> Connection {
        self.conn.clone()
    }

    async fn with_meta(self) -> Result<Self> {
        self.write_meta().await?;
        Ok(self)
    }

    /// Writes the queue's `meta` as a Node `Queue` does on creation: `opts.maxLenEvents`
    /// and `version`. [`QueueBuilder::connect`] does it; after
    /// [`QueueBuilder::connect_lazy`], call it once Redis is reachable.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn write_meta(&self) -> Result<()> {
        self.meta_write().exec_async(&mut self.connection()).await?;
        Ok(())
    }

    /// Writes the queue's `meta` (as [`Queue::write_meta`]) and waits until `replicas`
    /// replicas have acknowledged it, at most `timeout` (Redis `WAIT`, in the same pipeline
    /// on the same connection, one round trip). A replica's stream of writes is the
    /// primary's, in order, so the count returned is of the replicas that have every write
    /// the primary took before this call: use it to confirm that jobs added earlier,
    /// through any connection, are replicated, without adding them again.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// use std::time::Duration;
    /// if queue.confirm_replicated(1, Duration::from_millis(500)).await? >= 1 {
    ///     // every job added so far is on a replica too
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn confirm_replicated(&self, replicas: u32, timeout: Duration) -> Result<u32> {
        let (_, acked): (redis::Value, u32) = redis::pipe()
            .add_command(self.meta_write())
            .cmd("WAIT")
            .arg(replicas)
            .arg(
                u64::try_from(timeout.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            )
            .query_async(&mut self.connection())
            .await?;
        Ok(acked)
    }

    /// The write of `meta` a Node `Queue` makes on creation.
    fn meta_write(&self) -> redis::Cmd {
        let mut write = redis::cmd("HSET");
        write
            .arg(&self.shared.keys.meta)
            .arg("opts.maxLenEvents")
            .arg(self.shared.max_len_events)
            .arg("version")
            .arg(self.shared.major.version_tag());
        write
    }
}

/// Options of a [`Queue`]: prefix, BullMQ major, connection.
#[derive(Debug, Clone)]
pub struct QueueBuilder {
    name: String,
    prefix: String,
    major: BullmqMajor,
    max_len_events: u64,
    connection: ConnectionOptions,
}

impl QueueBuilder {
    /// Key prefix (default `bull`). A hash tag such as `{sellsy}` keeps the queue in one
    /// Redis Cluster slot.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Which BullMQ major's layout to write (default [`BullmqMajor::V6`]).
    pub fn major(mut self, major: BullmqMajor) -> Self {
        self.major = major;
        self
    }

    /// Approximate cap of the events stream, written to meta on connect (default 10 000).
    pub fn max_len_events(mut self, max_len: u64) -> Self {
        self.max_len_events = max_len;
        self
    }

    /// How to reach Redis: topology and limits (default [`ConnectionOptions::default`]).
    /// On a Redis Cluster, the prefix (or the name) must hold a hash tag such as
    /// `{sellsy}`, so that all the queue's keys share a slot.
    pub fn connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// Connects to `url` (`redis://[user:password@]host:port[/db]`).
    ///
    /// Like a Node `Queue`, it then writes the queue's `meta` (`opts.maxLenEvents` and
    /// `version`), so dashboards see the queue at once.
    ///
    /// # Errors
    /// [`crate::Error::InvalidQueue`] for a bad name or prefix, [`crate::Error::InvalidUrl`],
    /// [`crate::Error::Connect`] when Redis cannot be reached.
    pub async fn connect(self, url: &str) -> Result<Queue> {
        let keys = QueueKeys::for_connection(&self.prefix, &self.name, &self.connection.topology)?;
        let conn = connection::open(url, &self.connection).await?;
        self.into_queue(conn, keys).with_meta().await
    }

    /// Opens the queue without contacting Redis: the connection is made on first use and
    /// remade whenever it is lost, so this succeeds while Redis is down. Call
    /// [`Queue::write_meta`] once Redis answers.
    ///
    /// # Errors
    /// [`crate::Error::InvalidQueue`] for a bad name or prefix, [`crate::Error::InvalidUrl`].
    pub fn connect_lazy(self, url: &str) -> Result<Queue> {
        let keys = QueueKeys::for_connection(&self.prefix, &self.name, &self.connection.topology)?;
        let conn = connection::open_lazy(url, &self.connection)?;
        Ok(self.into_queue(conn, keys))
    }

    /// Uses an existing connection instead of opening one, and writes the queue's meta.
    ///
    /// # Errors
    /// [`crate::Error::InvalidQueue`] for a bad name or prefix, [`crate::Error::Redis`]
    /// when writing the queue's meta fails.
    pub async fn build(self, conn: ConnectionManager) -> Result<Queue> {
        let keys = QueueKeys::new(&self.prefix, &self.name)?;
        self.into_queue(conn.into(), keys).with_meta().await
    }

    fn into_queue(self, conn: Connection, keys: QueueKeys) -> Queue {
        let shared = Shared {
            keys,
            major: self.major,
            max_len_events: self.max_len_events,
        };
        Queue {
            conn,
            shared: Arc::new(shared),
        }
    }
}
