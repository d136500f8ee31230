//! Redis URL to one multiplexed connection that reconnects by itself: a single server
//! (`ConnectionManager`), a Redis Cluster (the cluster client, which follows MOVED/ASK
//! redirections and topology changes) or a Sentinel-managed primary (re-resolved through
//! the sentinels whenever it is lost or demoted).

mod cluster;
mod options;
mod sentinel;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::{Error, Result};

pub(crate) use cluster::LazyCluster;
pub use options::{ConnectionOptions, Topology};
pub(crate) use sentinel::SentinelPrimary;

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

/// Opens a connection as `options` say and checks that Redis answers.
///
/// # Errors
/// [`Error::InvalidUrl`], or [`Error::Connect`] when Redis cannot be reached.
pub(crate) async fn open(url: &str, options: &ConnectionOptions) -> Result<Connection> {
    match &options.topology {
        Topology::Single => {
            let (client, address) = open_client(url)?;
            ConnectionManager::new_with_config(client, manager_config(options))
                .await
                .map(Connection::Single)
                .map_err(|source| Error::Connect { address, source })
        }
        Topology::Cluster => {
            let lazy = LazyCluster::new(url, options)?;
            lazy.connection()
                .await
                .map_err(|source| lazy.connect_error(source))?;
            Ok(Connection::Cluster(Arc::new(lazy)))
        }
        Topology::Sentinel { master } => {
            let primary = SentinelPrimary::new(url, master, options)?;
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
pub(crate) fn open_lazy(url: &str, options: &ConnectionOptions) -> Result<Connection> {
    Ok(match &options.topology {
        Topology::Single => {
            let (client, address) = open_client(url)?;
            ConnectionManager::new_lazy_with_config(client, manager_config(options))
                .map(Connection::Single)
                .map_err(|source| Error::Connect { address, source })?
        }
        Topology::Cluster => Connection::Cluster(Arc::new(LazyCluster::new(url, options)?)),
        Topology::Sentinel { master } => {
            Connection::Sentinel(Arc::new(SentinelPrimary::new(url, master, options)?))
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

/// First wait after a failed request to Redis; it doubles with each further failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between failed requests (BullMQ waits 5 s after a connection error).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The wait before a request that follows `failures` failed ones in a row, for loops
/// that keep asking Redis (an events reader, a worker's fetch loop): none, then 100 ms
/// doubling up to 5 s.
pub(crate) fn retry_delay(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => FIRST_RETRY_DELAY
            .saturating_mul(1 << (n - 1).min(10))
            .min(MAX_RETRY_DELAY),
    }
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

fn manager_config(options: &ConnectionOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(options.response_timeout)
        .set_number_of_retries(options.retries)
        .set_max_delay(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_requests_back_off_from_100_ms_to_5_s() {
        let delays: Vec<u64> = [0, 1, 2, 3, 6, 7, 40, u32::MAX]
            .into_iter()
            .map(|failures| retry_delay(failures).as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 100, 200, 400, 3200, 5000, 5000, 5000]);
    }
}
