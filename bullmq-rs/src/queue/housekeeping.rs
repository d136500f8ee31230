//! `Queue::trim_events`, `remove_deduplication_key` and `remove_job_deduplication_key`:
//! keys an operator tidies by hand, written as Node BullMQ's `Queue.trimEvents`,
//! `Queue.removeDeduplicationKey` and `Job.removeDeduplicationKey` write them.

use super::Queue;
use crate::job::JobId;
use crate::scripts::SCRIPTS;
use crate::{Error, Result};

impl Queue {
    /// Trims the events stream to about `max_len` entries (`XTRIM MAXLEN ~`, as BullMQ's
    /// `Queue.trimEvents`); returns how many entries went. Redis trims whole blocks of
    /// entries only, so a short stream may keep more than `max_len`.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// let trimmed = queue.trim_events(1000).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn trim_events(&self, max_len: u64) -> Result<u64> {
        let trimmed: u64 = redis::cmd("XTRIM")
            .arg(&self.keys().events)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .query_async(&mut self.connection())
            .await?;
        Ok(trimmed)
    }

    /// Frees deduplication id `dedup_id` whatever job holds it, so that the next job added
    /// with it is kept (BullMQ's `Queue.removeDeduplicationKey`); returns whether a slot
    /// was held.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.remove_deduplication_key("invoice-7").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn remove_deduplication_key(&self, dedup_id: &str) -> Result<bool> {
        let removed: u64 = redis::cmd("DEL")
            .arg(self.keys().deduplication(dedup_id))
            .query_async(&mut self.connection())
            .await?;
        Ok(removed > 0)
    }

    /// Frees the deduplication slot of job `id`, only while the slot still points at
    /// it (BullMQ's `Job.removeDeduplicationKey`); returns whether a slot was freed.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// let freed = queue.remove_job_deduplication_key(&bullmq_rs::JobId::from("42")).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::Redis`] when Redis cannot be reached.
    pub async fn remove_job_deduplication_key(&self, id: &JobId) -> Result<bool> {
        SCRIPTS
            .remove_deduplication_key
            .call(&mut self.connection(), self.keys(), id)
            .await?
            .ok_or_else(|| Error::JobNotFound(id.clone()))
    }
}
