//! Redis URL to one multiplexed connection that reconnects by itself: a single server
//! (`ConnectionManager`), a Redis Cluster (the cluster client, which follows MOVED/ASK
//! redirections and topology changes) or a Sentinel-managed primary (re-resolved through
//! the sentinels whenever it is lost or demoted).

mod cluster;
mod sentinel;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::{Error, Result};

pub(crate) use cluster::LazyCluster;
pub(crate) use sentinel::SentinelPrimary;

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

/// Timeouts of the connection a [`crate::Queue`] opens from a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionSettings {
    /// Limit on one connection attempt.
    pub(crate) connect_timeout: Duration,
    /// Limit on one reply; `None` waits as long as Redis takes. A timed-out script may
    /// still have run, so this is generous by default.
    pub(crate) response_timeout: Option<Duration>,
    /// Reconnection attempts per failed request before the request fails.
    pub(crate) retries: usize,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Some(Duration::from_secs(10)),
            retries: 2,
        }
    }
}

/// The connection a queue or worker talks through.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server (or a replica set's primary).
    Single(ConnectionManager),
    /// A Redis Cluster; every key of a queue must share a slot (hash-tagged prefix).
    Cluster(Arc<LazyCluster>),
    /// The primary the sentinels currently name.
    Sentinel(Arc<SentinelPrimary>),
}

impl From<ConnectionManager> for Connection {
    fn from(conn: ConnectionManager) -> Self {
        Self::Single(conn)
    }
}

impl Connection {
    /// `cmd`'s reply from every node of a cluster, replicas included (one reply per node),
    /// or from the one server: for commands about a node rather than about keys, such as
    /// `CLIENT LIST`, which the cluster client would otherwise send to any one node.
    pub(crate) async fn on_every_node(&mut self, cmd: &Cmd) -> redis::RedisResult<Vec<Value>> {
        use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
        let Self::Cluster(lazy) = self else {
            return Ok(vec![self.req_packed_command(cmd).await?]);
        };
        let every_node = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllNodes, None));
        let replies = lazy
            .connection()
            .await?
            .route_command(cmd.clone(), every_node)
            .await?;
        Ok(match replies {
            // Without a response policy the cluster client maps each node to its reply.
            Value::Map(per_node) => per_node.into_iter().map(|(_, reply)| reply).collect(),
            one => vec![one],
        })
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(lazy) => {
                Box::pin(async move { lazy.connection().await?.req_packed_command(cmd).await })
            }
            Self::Sentinel(primary) => Box::pin(async move {
                primary
                    .request(|mut conn| async move { conn.req_packed_command(cmd).await })
                    .await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(lazy) => Box::pin(async move {
                lazy.connection()
                    .await?
                    .req_packed_commands(pipeline, offset, count)
                    .await
            }),
            Self::Sentinel(primary) => Box::pin(async move {
                primary
                    .request(|mut conn| async move {
                        conn.req_packed_commands(pipeline, offset, count).await
                    })
                    .await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// Opens a connection for `topology` and checks that Redis answers.
///
/// # Errors
/// [`Error::InvalidUrl`], or [`Error::Connect`] when Redis cannot be reached.
pub(crate) async fn open(
    url: &str,
    settings: ConnectionSettings,
    topology: &Topology,
) -> Result<Connection> {
    match topology {
        Topology::Single => {
            let (client, address) = open_client(url)?;
            ConnectionManager::new_with_config(client, manager_config(settings))
                .await
                .map(Connection::Single)
                .map_err(|source| Error::Connect { address, source })
        }
        Topology::Cluster => {
            let lazy = LazyCluster::new(url, settings)?;
            lazy.connection()
                .await
                .map_err(|source| lazy.connect_error(source))?;
            Ok(Connection::Cluster(Arc::new(lazy)))
        }
        Topology::Sentinel { master } => {
            let primary = SentinelPrimary::new(url, master, settings)?;
            primary
                .current()
                .await
                .map_err(|source| primary.connect_error(source))?;
            Ok(Connection::Sentinel(Arc::new(primary)))
        }
    }
}

/// Like [`open`], but connects on first use: nothing is sent before then, so this
/// succeeds while Redis is down.
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL the redis crate refuses.
pub(crate) fn open_lazy(
    url: &str,
    settings: ConnectionSettings,
    topology: &Topology,
) -> Result<Connection> {
    Ok(match topology {
        Topology::Single => {
            let (client, address) = open_client(url)?;
            ConnectionManager::new_lazy_with_config(client, manager_config(settings))
                .map(Connection::Single)
                .map_err(|source| Error::Connect { address, source })?
        }
        Topology::Cluster => Connection::Cluster(Arc::new(LazyCluster::new(url, settings)?)),
        Topology::Sentinel { master } => {
            Connection::Sentinel(Arc::new(SentinelPrimary::new(url, master, settings)?))
        }
    })
}

/// Names the connection (`CLIENT SETNAME`), as BullMQ names its workers' connections;
/// `false` when the server has no `CLIENT` command (some hosted Redis), which BullMQ
/// tolerates too.
///
/// # Errors
/// [`Error::Redis`] when Redis refuses otherwise or cannot be reached.
pub(crate) async fn set_name(conn: &mut Connection, name: &str) -> Result<bool> {
    let named = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .exec_async(conn)
        .await;
    match named {
        Ok(()) => Ok(true),
        Err(err) => {
            let message = err.to_string().to_lowercase();
            if message.contains("unknown command") && message.contains("client") {
                Ok(false)
            } else {
                Err(err.into())
            }
        }
    }
}

/// Sends `command` on a connection that keeps the client name `name` across reconnects: the
/// name is set again in the same pipeline, so it lands on the very connection the command
/// runs on (a cluster sets it on every node first, as it routes `CLIENT SETNAME`).
pub(crate) async fn named_call(
    mut conn: Connection,
    name: &str,
    command: Cmd,
) -> redis::RedisResult<Value> {
    let mut setname = redis::cmd("CLIENT");
    setname.arg("SETNAME").arg(name);
    if let Connection::Cluster(_) = conn {
        setname.exec_async(&mut conn).await?;
        return command.query_async(&mut conn).await;
    }
    let mut pipe = redis::pipe();
    pipe.add_command(setname).ignore().add_command(command);
    let mut replies: Vec<Value> = pipe.query_async(&mut conn).await?;
    Ok(replies.pop().unwrap_or(Value::Nil))
}

/// The URLs of a comma-separated list (cluster seeds, sentinels), never empty.
fn split_urls(urls: &str) -> Result<Vec<&str>> {
    let list: Vec<&str> = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect();
    if list.is_empty() {
        return Err(Error::InvalidUrl("no URL given".to_owned()));
    }
    Ok(list)
}

fn open_client(url: &str) -> Result<(redis::Client, String)> {
    let client = redis::Client::open(url).map_err(|err| Error::InvalidUrl(err.to_string()))?;
    let address = client.get_connection_info().addr().to_string();
    Ok((client, address))
}

fn manager_config(settings: ConnectionSettings) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(settings.response_timeout)
        .set_number_of_retries(settings.retries)
        .set_max_delay(Duration::from_secs(1))
}
