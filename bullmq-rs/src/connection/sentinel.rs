//! The primary of a Sentinel-managed replica set, found through the sentinels and found
//! again whenever the connection to it is lost or it answers as a replica (failover).

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    RedisError, RedisResult, ServerErrorKind, TlsMode, Value,
};

use super::{ConnectionOptions, split_urls};
use crate::{Error, Result};

/// The primary the sentinels name for one master name, behind one multiplexed connection.
pub(crate) struct SentinelPrimary {
    /// Asks the sentinels; behind an async lock so that one resolution runs at a time.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<Current>>,
    /// Numbers the connections, never reused.
    generations: AtomicU64,
    config: AsyncConnectionConfig,
    retries: usize,
    address: String,
}

/// The connection in use, with a number that tells a stale failure from a fresh one.
#[derive(Clone)]
pub(crate) struct Current {
    generation: u64,
    conn: MultiplexedConnection,
}

impl SentinelPrimary {
    /// Reads the sentinels' URLs (comma-separated); nothing is sent yet.
    pub(super) fn new(urls: &str, master: &str, options: &ConnectionOptions) -> Result<Self> {
        let infos = split_urls(urls)?
            .into_iter()
            .map(|url| {
                url.into_connection_info()
                    .map_err(|err| Error::InvalidUrl(err.to_string()))
            })
            .collect::<Result<Vec<ConnectionInfo>>>()?;
        let first = &infos[0];
        let address = format!("sentinel {} (master {master})", first.addr());
        let mut primary = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(first.redis_settings().clone());
        if let ConnectionAddr::TcpTls { insecure, .. } = first.addr() {
            primary = primary.set_tls_mode(if *insecure {
                TlsMode::Insecure
            } else {
                TlsMode::Secure
            });
        }
        // Sentinels have no databases: a `/db` in the URL is for the primary only.
        let sentinels: Vec<ConnectionInfo> = infos
            .iter()
            .map(|info| {
                let settings = info.redis_settings().clone().set_db(0);
                info.clone().set_redis_settings(settings)
            })
            .collect();
        let client =
            SentinelClient::build(sentinels, master, Some(primary), SentinelServerType::Master)
                .map_err(|err| Error::InvalidUrl(err.to_string()))?;
        Ok(Self {
            sentinels: tokio::sync::Mutex::new(client),
            current: Mutex::new(None),
            generations: AtomicU64::new(0),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(options.connect_timeout))
                .set_response_timeout(options.response_timeout),
            retries: options.retries,
            address,
        })
    }

    /// The connection to the current primary, asking the sentinels when there is none.
    pub(super) async fn current(&self) -> RedisResult<Current> {
        if let Some(current) = self.cached() {
            return Ok(current);
        }
        let mut sentinels = self.sentinels.lock().await;
        // Another request may have resolved the primary while this one waited.
        if let Some(current) = self.cached() {
            return Ok(current);
        }
        let conn = sentinels
            .get_async_connection_with_config(&self.config)
            .await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let mut slot = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let current = Current { generation, conn };
        *slot = Some(current.clone());
        Ok(current)
    }

    fn cached(&self) -> Option<Current> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Drops the connection of `generation` (not a newer one another request made).
    fn forget(&self, generation: u64) {
        let mut slot = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|c| c.generation == generation) {
            *slot = None;
        }
    }

    /// Sends through the current primary. A failure that means the primary is gone or
    /// demoted drops the connection, so the next request asks the sentinels again; the
    /// request itself is sent again only when Redis surely did not run it (no connection
    /// yet, or every reply refused as read-only, master-down or loading), since a script
    /// may have run before a connection broke.
    pub(super) async fn request<T, F, Fut>(&self, send: F) -> RedisResult<T>
    where
        T: Replies,
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut attempt = 0;
        loop {
            let failure = match self.current().await {
                // Redis' error replies arrive as values; they are read here to see a
                // demoted primary (READONLY) or one still loading its data.
                Ok(current) => match send(current.conn).await {
                    Ok(reply) => match reply.refusal() {
                        Refusal::None => return Ok(reply),
                        Refusal::Some => {
                            self.forget(current.generation);
                            return Ok(reply);
                        }
                        Refusal::All(err) => {
                            self.forget(current.generation);
                            err
                        }
                    },
                    Err(err) => {
                        if primary_lost(&err) {
                            self.forget(current.generation);
                        }
                        return Err(err);
                    }
                },
                // A wrong password or configuration will not get better by waiting.
                Err(err) if permanent(&err) => return Err(err),
                Err(err) => err,
            };
            if attempt >= self.retries {
                return Err(failure);
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200) * attempt as u32).await;
        }
    }

    pub(super) fn connect_error(&self, source: RedisError) -> Error {
        Error::Connect {
            address: self.address.clone(),
            source,
        }
    }
}

/// Resolution failed for a reason a retry cannot fix.
fn permanent(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig
    )
}

/// The primary died or is unreachable.
fn primary_lost(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
}

/// Whether a reply says the server is no usable primary.
pub(crate) enum Refusal {
    /// No reply refused the request for that reason.
    None,
    /// Some replies did (a pipeline partly run): the connection is dropped, the replies kept.
    Some,
    /// Every reply did, so nothing ran and the request may be sent again.
    All(RedisError),
}

/// Replies (one value, or a pipeline's values) that may hold error replies.
pub(crate) trait Replies {
    fn refusal(&self) -> Refusal;
}

impl Replies for Value {
    fn refusal(&self) -> Refusal {
        match not_a_primary(self) {
            Some(err) => Refusal::All(err),
            None => Refusal::None,
        }
    }
}

impl Replies for Vec<Value> {
    fn refusal(&self) -> Refusal {
        let refused: Vec<RedisError> = self.iter().filter_map(not_a_primary).collect();
        match refused.len() {
            0 => Refusal::None,
            n if n == self.len() => refused
                .into_iter()
                .next()
                .map_or(Refusal::None, Refusal::All),
            _ => Refusal::Some,
        }
    }
}

/// The error of a reply that refused the request without running it because the server
/// is a replica now, has lost its primary, or is loading its data.
fn not_a_primary(value: &Value) -> Option<RedisError> {
    let Value::ServerError(err) = value else {
        return None;
    };
    matches!(
        err.kind(),
        Some(
            ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading
        )
    )
    .then(|| RedisError::from(err.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(raw: &str) -> Value {
        redis::parse_redis_value(raw.as_bytes()).unwrap()
    }

    #[test]
    fn a_demoted_or_loading_primary_refuses_and_nothing_ran() {
        for raw in [
            "-READONLY You can't write against a read only replica.\r\n",
            "-LOADING Redis is loading the dataset in memory\r\n",
            "-MASTERDOWN Link with MASTER is down\r\n",
        ] {
            assert!(matches!(reply(raw).refusal(), Refusal::All(_)), "{raw}");
            assert!(
                matches!(vec![reply(raw), reply(raw)].refusal(), Refusal::All(_)),
                "{raw}"
            );
        }
    }

    #[test]
    fn other_replies_and_partly_refused_pipelines_are_not_resent() {
        assert!(matches!(reply("+OK\r\n").refusal(), Refusal::None));
        assert!(matches!(reply("-ERR wrong\r\n").refusal(), Refusal::None));
        let partly = vec![
            reply("-READONLY You can't write against a read only replica.\r\n"),
            reply(":0\r\n"),
        ];
        assert!(matches!(partly.refusal(), Refusal::Some));
    }
}
