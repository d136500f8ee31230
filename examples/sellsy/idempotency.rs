//! The Redis keys that make "one invoice per estimate" hold across workers, Rust and
//! Node alike: same names, same commands, same Lua as
//! node-worker-compat/lib/invoice-processor.js. Change nothing here without changing it
//! there.
//!
//! - `<prefix>:sellsy:invoice-lock:<corpid>:<estimateId>`: `SET NX PX 60000` with a
//!   random token, so concurrent jobs on one estimate take turns; deleted only by its
//!   owner (the TTL may have handed it to someone else).
//! - `<prefix>:sellsy:invoice-for-estimate:<corpid>:<estimateId>`: the invoice id,
//!   written after a successful `POST /invoices`, never expiring.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::event::EstimateRef;

/// How long a lock outlives a worker that died holding it.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// Deletes the lock only if it still holds our token (byte for byte Node's script).
const RELEASE_LOCK_LUA: &str = "
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// The two keys of one estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EstimateKeys {
    lock: String,
    record: String,
}

/// A lock we hold: released by [`EstimateKeys::release`].
#[derive(Debug)]
pub(crate) struct HeldLock {
    token: String,
}

impl EstimateKeys {
    pub(crate) fn new(prefix: &str, estimate: &EstimateRef) -> Self {
        let EstimateRef {
            corpid,
            estimate_id,
            ..
        } = estimate;
        Self {
            lock: format!("{prefix}:sellsy:invoice-lock:{corpid}:{estimate_id}"),
            record: format!("{prefix}:sellsy:invoice-for-estimate:{corpid}:{estimate_id}"),
        }
    }

    /// The lock's key, for messages.
    pub(crate) fn lock_key(&self) -> &str {
        &self.lock
    }

    /// The invoice id recorded for the estimate, if any.
    pub(crate) async fn recorded(
        &self,
        redis: &mut ConnectionManager,
    ) -> redis::RedisResult<Option<String>> {
        redis.get(&self.record).await
    }

    /// Remembers the invoice made for the estimate, for good.
    pub(crate) async fn record(
        &self,
        redis: &mut ConnectionManager,
        invoice_id: &str,
    ) -> redis::RedisResult<()> {
        redis.set(&self.record, invoice_id).await
    }

    /// Takes the lock, or `None` when another job holds it.
    pub(crate) async fn lock(
        &self,
        redis: &mut ConnectionManager,
    ) -> redis::RedisResult<Option<HeldLock>> {
        let token = uuid::Uuid::new_v4().to_string();
        let reply: Option<String> = redis::cmd("SET")
            .arg(&self.lock)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(redis)
            .await?;
        Ok(reply.map(|_ok| HeldLock { token }))
    }

    /// Gives the lock back if it is still ours.
    pub(crate) async fn release(
        &self,
        redis: &mut ConnectionManager,
        held: HeldLock,
    ) -> redis::RedisResult<()> {
        let _deleted: i64 = redis::Script::new(RELEASE_LOCK_LUA)
            .key(&self.lock)
            .arg(&held.token)
            .invoke_async(redis)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_node_workers() {
        let estimate = EstimateRef {
            corpid: "90812".into(),
            estimate_id: "48213377".into(),
            parent_id: 48213377,
        };
        let keys = EstimateKeys::new("bull", &estimate);
        assert_eq!(keys.lock, "bull:sellsy:invoice-lock:90812:48213377");
        assert_eq!(
            keys.record,
            "bull:sellsy:invoice-for-estimate:90812:48213377"
        );
    }
}
