//! `ConnectionOptions`: how every queue, worker, flow producer and events reader reaches
//! Redis (its deployment and its limits), set once and handed to any builder.

use std::time::Duration;

/// How the Redis a queue lives in is deployed, which decides how its URL is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Topology {
    /// One server (or a primary addressed directly): the URL is that server.
    #[default]
    Single,
    /// A Redis Cluster: the URL is any of its nodes (several may be given, separated by
    /// commas). Every key of a queue must share a slot, so the prefix or the name needs a
    /// hash tag such as `{sellsy}`.
    Cluster,
    /// A primary managed by Redis Sentinel under `master` (its `sentinel monitor` name):
    /// the URL is a sentinel (several may be given, separated by commas). Each sentinel is
    /// reached with its own URL's user, password and TLS; the primary with the user,
    /// password, database and TLS of the first URL.
    Sentinel {
        /// The name the sentinels monitor the primary under.
        master: String,
    },
}

impl Topology {
    /// A primary managed by Redis Sentinel under `master`.
    pub fn sentinel(master: &str) -> Self {
        Self::Sentinel {
            master: master.to_owned(),
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster)
    }
}

/// How to reach Redis: its deployment ([`Topology`]) and the limits of the connection.
/// Every builder takes one through `.connection(..)`: [`crate::QueueBuilder::connection`],
/// [`crate::WorkerBuilder::connection`], [`crate::FlowProducerBuilder::connection`] and
/// [`crate::QueueEventsBuilder::connection`].
///
/// The default is one server, 2 s to connect, 10 s for a reply and 2 reconnection
/// attempts per failed request.
///
/// ```no_run
/// # async fn demo() -> bullmq_rs::Result<()> {
/// use std::time::Duration;
/// use bullmq_rs::{ConnectionOptions, Queue, Worker};
///
/// let connection = ConnectionOptions::default()
///     .sentinel("mymaster")
///     .connect_timeout(Duration::from_millis(500))
///     .response_timeout(Some(Duration::from_secs(5)));
/// let url = "redis://10.0.0.5:26379,redis://10.0.0.6:26379";
/// let queue = Queue::builder("emails")
///     .connection(connection.clone())
///     .connect(url)
///     .await?;
/// let worker = Worker::builder("emails")
///     .connection(connection)
///     .connect(url, |job: bullmq_rs::ActiveJob| async move {
///         Ok::<_, bullmq_rs::JobError>(job.data.clone())
///     })
///     .await?;
/// # let _ = (queue, worker); Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOptions {
    pub(crate) topology: Topology,
    pub(crate) connect_timeout: Duration,
    /// `None` waits as long as Redis takes.
    pub(crate) response_timeout: Option<Duration>,
    pub(crate) retries: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            topology: Topology::Single,
            connect_timeout: Duration::from_secs(2),
            // A timed-out script may still have run, so this is generous.
            response_timeout: Some(Duration::from_secs(10)),
            retries: 2,
        }
    }
}

impl ConnectionOptions {
    /// Talks to a Redis Cluster: the URL is any of its nodes. The prefix (or the name) of
    /// every queue must hold a hash tag such as `{sellsy}`, so that all its keys share a
    /// slot; the queues of one flow must share one hash tag.
    pub fn cluster(self) -> Self {
        self.topology(Topology::Cluster)
    }

    /// Talks to the primary that Redis Sentinel manages under `master`: the URL is a
    /// sentinel (or several, comma-separated). After a failover the next request goes to
    /// the new primary.
    pub fn sentinel(self, master: &str) -> Self {
        self.topology(Topology::sentinel(master))
    }

    /// How the Redis behind the URL is deployed (default [`Topology::Single`]).
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    /// Limit on one connection attempt (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Limit on one reply (default 10 s; `None` to wait as long as Redis takes). When it
    /// passes, the command may still have run: an add may have happened, so use custom
    /// ids to retry safely. Connections that block on purpose (a worker waiting for jobs,
    /// [`crate::QueueEvents`] reading the stream) bound their waits themselves instead.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Reconnection attempts per failed request before the request fails (default 2),
    /// on a single server or a sentinel-managed primary; the cluster client follows its
    /// own retry rules.
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }
}
