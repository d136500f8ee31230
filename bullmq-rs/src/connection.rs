//! Redis URL to one multiplexed connection that reconnects by itself.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

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
