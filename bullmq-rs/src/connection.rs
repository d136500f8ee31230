//! Redis URL to one multiplexed connection that reconnects by itself: a single server
//! (`ConnectionManager`) or a Redis Cluster (the cluster client, which follows MOVED/ASK
//! redirections and topology changes).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::OnceCell;

use crate::{Error, Result};

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

/// Opens `url` (`redis://`, `rediss://` when built with TLS, `user:password@`, `/db`).
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL the redis crate refuses, [`Error::Connect`] when the
/// server cannot be reached.
pub(crate) async fn connect(url: &str, settings: ConnectionSettings) -> Result<ConnectionManager> {
    let (client, address) = open_client(url)?;
    ConnectionManager::new_with_config(client, manager_config(settings))
        .await
        .map_err(|source| Error::Connect { address, source })
}

/// Like [`connect`], but connects on first use: nothing is sent before then, so this
/// succeeds while Redis is down.
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL the redis crate refuses.
pub(crate) fn connect_lazy(url: &str, settings: ConnectionSettings) -> Result<ConnectionManager> {
    let (client, address) = open_client(url)?;
    ConnectionManager::new_lazy_with_config(client, manager_config(settings))
        .map_err(|source| Error::Connect { address, source })
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

/// The connection a queue or worker talks through.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server (or a replica set's primary).
    Single(ConnectionManager),
    /// A Redis Cluster; every key of a queue must share a slot (hash-tagged prefix).
    Cluster(Arc<LazyCluster>),
}

/// A cluster connection made on first use, so that a queue can be opened while the
/// cluster is down (as `ConnectionManager::new_lazy_with_config` allows for one server).
pub(crate) struct LazyCluster {
    client: ClusterClient,
    address: String,
    connection: OnceCell<ClusterConnection>,
}

impl LazyCluster {
    async fn connection(&self) -> redis::RedisResult<ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

impl From<ConnectionManager> for Connection {
    fn from(conn: ConnectionManager) -> Self {
        Self::Single(conn)
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(lazy) => {
                Box::pin(async move { lazy.connection().await?.req_packed_command(cmd).await })
            }
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
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// A cluster client for `url` (any node), connecting on first use.
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL the redis crate refuses.
pub(crate) fn cluster_lazy(url: &str, settings: ConnectionSettings) -> Result<Connection> {
    let (_, address) = open_client(url)?;
    let mut builder =
        ClusterClient::builder(vec![url]).connection_timeout(settings.connect_timeout);
    if let Some(timeout) = settings.response_timeout {
        builder = builder.response_timeout(timeout);
    }
    let client = builder
        .build()
        .map_err(|err| Error::InvalidUrl(err.to_string()))?;
    Ok(Connection::Cluster(Arc::new(LazyCluster {
        client,
        address,
        connection: OnceCell::new(),
    })))
}

/// Opens a connection to one server or, with `cluster`, to the cluster `url` belongs to,
/// and checks that it answers.
///
/// # Errors
/// [`Error::InvalidUrl`], or [`Error::Connect`] when Redis cannot be reached.
pub(crate) async fn open(
    url: &str,
    settings: ConnectionSettings,
    cluster: bool,
) -> Result<Connection> {
    if !cluster {
        return connect(url, settings).await.map(Connection::Single);
    }
    let connection = cluster_lazy(url, settings)?;
    if let Connection::Cluster(lazy) = &connection {
        lazy.connection().await.map_err(|source| Error::Connect {
            address: lazy.address.clone(),
            source,
        })?;
    }
    Ok(connection)
}
