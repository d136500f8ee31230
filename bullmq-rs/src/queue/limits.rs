//! A queue's global limits, kept in its `meta` and `limiter` keys as Node BullMQ's
//! `Queue.setGlobalConcurrency`, `setGlobalRateLimit`, their `remove*` and `rateLimit`
//! keep them.

use std::time::Duration;

use super::Queue;
use crate::{Result, codec};

/// BullMQ's `rateLimit` fills the limiter with JavaScript's `Number.MAX_SAFE_INTEGER`, so
/// every worker finds the limit reached until the key expires.
const LIMITER_FULL: u64 = (1 << 53) - 1;

impl Queue {
    /// Lets at most `concurrency` jobs of the queue run at once, over all workers (meta
    /// `concurrency`, BullMQ's `setGlobalConcurrency`).
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.set_global_concurrency(4).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn set_global_concurrency(&self, concurrency: u32) -> Result<()> {
        self.meta_fields(&[("concurrency", u64::from(concurrency))])
            .await
    }

    /// Removes the global concurrency (BullMQ's `removeGlobalConcurrency`).
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn remove_global_concurrency(&self) -> Result<()> {
        self.drop_meta_fields(&["concurrency"]).await
    }

    /// Lets at most `max` jobs start per `duration`, over all workers (meta `max` and
    /// `duration` in ms, BullMQ's `setGlobalRateLimit`).
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// use std::time::Duration;
    /// queue.set_global_rate_limit(10, Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn set_global_rate_limit(&self, max: u32, duration: Duration) -> Result<()> {
        let fields = [
            ("max", u64::from(max)),
            ("duration", codec::as_millis(duration)),
        ];
        self.meta_fields(&fields).await
    }

    /// Removes the global rate limit (BullMQ's `removeGlobalRateLimit`).
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn remove_global_rate_limit(&self) -> Result<()> {
        self.drop_meta_fields(&["max", "duration"]).await
    }

    /// Stops workers that honour rate limits from taking jobs for `expire` (BullMQ's
    /// `Queue.rateLimit(expireTimeMs)`: the limiter is filled until it expires).
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.rate_limit(std::time::Duration::from_secs(30)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn rate_limit(&self, expire: Duration) -> Result<()> {
        redis::cmd("SET")
            .arg(&self.keys().limiter)
            .arg(LIMITER_FULL)
            .arg("PX")
            .arg(codec::as_millis(expire).max(1))
            .exec_async(&mut self.connection())
            .await?;
        Ok(())
    }

    async fn meta_fields(&self, fields: &[(&str, u64)]) -> Result<()> {
        redis::cmd("HSET")
            .arg(&self.keys().meta)
            .arg(fields)
            .exec_async(&mut self.connection())
            .await?;
        Ok(())
    }

    async fn drop_meta_fields(&self, fields: &[&str]) -> Result<()> {
        redis::cmd("HDEL")
            .arg(&self.keys().meta)
            .arg(fields)
            .exec_async(&mut self.connection())
            .await?;
        Ok(())
    }
}
