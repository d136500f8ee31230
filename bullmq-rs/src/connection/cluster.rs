//! A Redis Cluster connection made on first use.

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use tokio::sync::OnceCell;

use super::{ConnectionOptions, open_client, split_urls};
use crate::{Error, Result};

/// A cluster connection made on first use, so that a queue can be opened while the
/// cluster is down (as `ConnectionManager::new_lazy_with_config` allows for one server).
/// The cluster client follows MOVED/ASK and refreshes its slot map by itself.
pub(crate) struct LazyCluster {
    client: ClusterClient,
    address: String,
    connection: OnceCell<ClusterConnection>,
}

impl LazyCluster {
    /// A client for the cluster that `urls` (one node or several, comma-separated)
    /// belong to; nothing is sent yet.
    pub(super) fn new(urls: &str, options: &ConnectionOptions) -> Result<Self> {
        let seeds = split_urls(urls)?;
        let (_, address) = open_client(seeds[0])?;
        let mut builder = ClusterClient::builder(seeds).connection_timeout(options.connect_timeout);
        if let Some(timeout) = options.response_timeout {
            builder = builder.response_timeout(timeout);
        }
        let client = builder
            .build()
            .map_err(|err| Error::InvalidUrl(err.to_string()))?;
        Ok(Self {
            client,
            address,
            connection: OnceCell::new(),
        })
    }

    pub(super) async fn connection(&self) -> redis::RedisResult<ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }

    pub(super) fn connect_error(&self, source: redis::RedisError) -> Error {
        Error::Connect {
            address: self.address.clone(),
            source,
        }
    }
}
