//! `FlowProducer`: adds flows (a parent job waiting for child jobs, possibly in other
//! queues) in BullMQ's exact layout, and reads them back.
//!
//! The layout, as BullMQ's FlowProducer writes it: a parent sits in its queue's
//! `waiting-children` with `<parent>:dependencies` holding the full keys of its pending
//! children; each child carries `parentKey`, `parent` (`{id, queueKey}` plus the flag of
//! its parent option: `fpof`, `cpof`, `idof` or `rdof`) and `parent: {id, queue}` in its
//! opts. A worker finishing a child updates the parent (lua/includes/parent.lua).

mod add;
mod dependencies;
mod node;
mod tree;

use std::sync::Arc;

pub use node::{AddedFlow, Dependencies, FlowJob, JobNode};

pub(crate) use dependencies::{read_children_values, read_dependencies};

use crate::Result;
use crate::connection::{self, Connection, ConnectionOptions, Topology};
use crate::layout::BullmqMajor;
use crate::queue::DEFAULT_PREFIX;

/// Adds flows to any queues of one Redis, as BullMQ's `FlowProducer` does.
///
/// Cheap to clone: clones share one multiplexed connection, which reconnects by itself.
/// Like BullMQ's, it writes no queue `meta` besides the events cap the scripts need.
#[derive(Clone)]
pub struct FlowProducer {
    conn: Connection,
    shared: Arc<Shared>,
}

struct Shared {
    prefix: String,
    major: BullmqMajor,
    topology: Topology,
}

impl std::fmt::Debug for FlowProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowProducer")
            .field("prefix", &self.shared.prefix)
            .field("major", &self.shared.major)
            .finish_non_exhaustive()
    }
}

impl FlowProducer {
    /// Connects to `url` with the default prefix and BullMQ 6.
    ///
    /// # Errors
    /// See [`FlowProducerBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder().connect(url).await
    }

    /// Starts configuring a producer.
    pub fn builder() -> FlowProducerBuilder {
        FlowProducerBuilder {
            prefix: DEFAULT_PREFIX.to_owned(),
            major: BullmqMajor::default(),
            connection: ConnectionOptions::default(),
        }
    }

    /// The prefix of nodes that name none.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The BullMQ major whose layout this producer writes.
    pub fn major(&self) -> BullmqMajor {
        self.shared.major
    }
}

/// Options of a [`FlowProducer`]: default prefix, BullMQ major, connection.
#[derive(Debug, Clone)]
pub struct FlowProducerBuilder {
    prefix: String,
    major: BullmqMajor,
    connection: ConnectionOptions,
}

impl FlowProducerBuilder {
    /// Key prefix of the nodes that name none (default `bull`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Which BullMQ major's layout to write (default [`BullmqMajor::V6`]).
    pub fn major(mut self, major: BullmqMajor) -> Self {
        self.major = major;
        self
    }

    /// How to reach Redis: topology and limits (default [`ConnectionOptions::default`]).
    /// On a Redis Cluster, every queue of a flow must share one hash tag.
    pub fn connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// Connects to `url` (`redis://[user:password@]host:port[/db]`).
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{BullmqMajor, FlowProducer};
    /// let producer = FlowProducer::builder()
    ///     .major(BullmqMajor::V5)
    ///     .connect("redis://127.0.0.1:6379")
    ///     .await?;
    /// # let _ = producer; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::InvalidQueue`] for an empty prefix, [`crate::Error::InvalidUrl`],
    /// [`crate::Error::Connect`] when Redis cannot be reached.
    pub async fn connect(self, url: &str) -> Result<FlowProducer> {
        crate::keys::QueueKeys::new(&self.prefix, "flow")?;
        let conn = connection::open(url, &self.connection).await?;
        Ok(FlowProducer {
            conn,
            shared: Arc::new(Shared {
                prefix: self.prefix,
                major: self.major,
                topology: self.connection.topology,
            }),
        })
    }
}
