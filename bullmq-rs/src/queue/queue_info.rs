//! `Queue::get_meta`, `get_version`, `get_global_concurrency`, `get_global_rate_limit`,
//! `get_rate_limit_ttl`, `is_maxed`, `get_deduplication_job_id` and `get_workers`: what
//! Node BullMQ's `Queue` tells about a queue besides its jobs.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::FromRedisValue;

use super::Queue;
use crate::job::JobId;
use crate::scripts::SCRIPTS;
use crate::{Error, Result};

/// A queue's `meta` hash as BullMQ's `Queue.getMeta()` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueMeta {
    /// Whether the queue is paused (`paused` is `"1"`).
    pub paused: bool,
    /// The global concurrency (`concurrency`), when set.
    pub concurrency: Option<u64>,
    /// The global rate limit's jobs per window (`max`), when set.
    pub max: Option<u64>,
    /// The global rate limit's window (`duration`, ms), when set.
    pub duration: Option<Duration>,
    /// The approximate cap of the events stream (`opts.maxLenEvents`), when set.
    pub max_len_events: Option<u64>,
    /// Who created the queue (`version`, e.g. `bullmq:6.7.0`), when set.
    pub version: Option<String>,
    /// Every other field, as stored.
    pub other: BTreeMap<String, String>,
}

/// A queue's global rate limit: at most `max` jobs per `duration`, all workers together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalRateLimit {
    /// Jobs per window.
    pub max: u64,
    /// The window.
    pub duration: Duration,
}

/// One worker connection of a queue, as BullMQ's `Queue.getWorkers()` lists it: the
/// fields of its `CLIENT LIST` line, each as a string, with `name` the queue's name and
/// `rawname` the connection's own name (`<prefix>:<base64 queue name>[:w:<worker name>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerClient {
    /// Field name → value (`id`, `addr`, `age`, `idle`, `db`, `cmd`, `name`, `rawname`, …).
    pub fields: BTreeMap<String, String>,
}

impl WorkerClient {
    /// A field's value.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// The connection's own name (`rawname`), e.g. `bull:ZW1haWxz:w:mailer`.
    pub fn raw_name(&self) -> &str {
        self.get("rawname").unwrap_or_default()
    }

    /// The client's address (`addr`), e.g. `127.0.0.1:50210`.
    pub fn addr(&self) -> &str {
        self.get("addr").unwrap_or_default()
    }
}

impl Queue {
    /// The queue's `meta` hash: BullMQ's `Queue.getMeta()`.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// let meta = queue.get_meta().await?;
    /// println!("paused: {}, created by {:?}", meta.paused, meta.version);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnexpectedReply`] when a numeric field holds something else,
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_meta(&self) -> Result<QueueMeta> {
        let mut fields: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.keys().meta)
            .query_async(&mut self.connection())
            .await?;
        let mut number = |field: &'static str| meta_number(field, fields.remove(field));
        let concurrency = number("concurrency")?;
        let max = number("max")?;
        let duration = number("duration")?.map(Duration::from_millis);
        let max_len_events = number("opts.maxLenEvents")?;
        Ok(QueueMeta {
            paused: fields.remove("paused").as_deref() == Some("1"),
            concurrency,
            max,
            duration,
            max_len_events,
            version: fields.remove("version"),
            other: fields,
        })
    }

    /// Which BullMQ created the queue (meta `version`, e.g. `bullmq:6.7.0`):
    /// BullMQ's `Queue.getVersion()`.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// assert_eq!(queue.get_version().await?.as_deref(), Some("bullmq:6.7.0"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_version(&self) -> Result<Option<String>> {
        Ok(self.meta_field("version").await?)
    }

    /// The global concurrency (meta `concurrency`), `None` when not set: BullMQ's
    /// `Queue.getGlobalConcurrency()`.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// if let Some(limit) = queue.get_global_concurrency().await? {
    ///     println!("at most {limit} jobs at once");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnexpectedReply`] when the field is not a number,
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_global_concurrency(&self) -> Result<Option<u64>> {
        meta_number("concurrency", self.meta_field("concurrency").await?)
    }

    /// The global rate limit (meta `max` and `duration`), `None` unless both are set:
    /// BullMQ's `Queue.getGlobalRateLimit()`.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// if let Some(limit) = queue.get_global_rate_limit().await? {
    ///     println!("at most {} jobs per {:?}", limit.max, limit.duration);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnexpectedReply`] when a field is not a number,
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_global_rate_limit(&self) -> Result<Option<GlobalRateLimit>> {
        let (max, duration): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&self.keys().meta)
            .arg("max")
            .arg("duration")
            .query_async(&mut self.connection())
            .await?;
        let (max, duration) = (meta_number("max", max)?, meta_number("duration", duration)?);
        Ok(max.zip(duration).map(|(max, duration)| GlobalRateLimit {
            max,
            duration: Duration::from_millis(duration),
        }))
    }

    /// How long the rate limit still holds, in ms: BullMQ's
    /// `Queue.getRateLimitTtl(maxJobs)`. With `max_jobs` (or else the global rate limit's
    /// `max`): the time left in the limiter's window once that many jobs were taken in
    /// it, `0` while fewer were. With neither: the limiter's `PTTL` as Redis gives it
    /// (`-2` no window open, `-1` a window without expiry). `Some(0)` is `None`, as in
    /// BullMQ.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// let ttl = queue.get_rate_limit_ttl(Some(100)).await?;
    /// if ttl > 0 {
    ///     println!("rate limited for {ttl} ms more");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis cannot be reached or the limiter holds no number.
    pub async fn get_rate_limit_ttl(&self, max_jobs: Option<u64>) -> Result<i64> {
        SCRIPTS
            .get_rate_limit_ttl
            .call(&mut self.connection(), self.keys(), max_jobs.unwrap_or(0))
            .await
    }

    /// Whether the queue has as many active jobs as its global concurrency allows, so
    /// that workers take no more: BullMQ's `Queue.isMaxed()`.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// if queue.is_maxed().await? {
    ///     println!("every slot is busy");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnexpectedReply`] when meta `concurrency` is not a number,
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn is_maxed(&self) -> Result<bool> {
        let keys = self.keys();
        let (concurrency, active): (Option<String>, u64) = redis::pipe()
            .atomic()
            .hget(&keys.meta, "concurrency")
            .llen(&keys.active)
            .query_async(&mut self.connection())
            .await?;
        Ok(meta_number("concurrency", concurrency)?.is_some_and(|limit| active >= limit))
    }

    /// The id of the job holding deduplication id `dedup_id` (its `de:<id>` slot), `None`
    /// when no job does: BullMQ's `Queue.getDeduplicationJobId(id)`.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// if let Some(id) = queue.get_deduplication_job_id("welcome-ada").await? {
    ///     println!("job {id} already covers it");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_deduplication_job_id(&self, dedup_id: &str) -> Result<Option<JobId>> {
        let id: Option<String> = redis::cmd("GET")
            .arg(self.keys().deduplication(dedup_id))
            .query_async(&mut self.connection())
            .await?;
        Ok(id.map(JobId::from))
    }

    /// The workers serving the queue, from `CLIENT LIST`: every connection named as
    /// BullMQ names a worker's, `<prefix>:<base64 queue name>` or that followed by
    /// `:w:<worker name>`. BullMQ's `Queue.getWorkers()`. On a Redis Cluster, as in
    /// BullMQ, every node is asked and the longest list wins; among lists of equal length
    /// the last in the cluster client's order of nodes, which need not be Node's.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// for worker in queue.get_workers().await? {
    ///     println!("{} from {}", worker.raw_name(), worker.addr());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis cannot be reached or refuses `CLIENT LIST` (Node BullMQ
    /// then answers one made-up entry instead).
    pub async fn get_workers(&self) -> Result<Vec<WorkerClient>> {
        let lists = self
            .connection()
            .on_every_node(redis::cmd("CLIENT").arg("LIST"))
            .await?;
        let unnamed = crate::worker::client_name(self.keys().prefix(), self.name(), None);
        let mut longest = Vec::new();
        for list in lists {
            let list = String::from_redis_value(list).map_err(|err| Error::UnexpectedReply {
                command: "CLIENT LIST",
                detail: err.to_string(),
            })?;
            let workers = self.workers_in(&list, &unnamed);
            if workers.len() >= longest.len() {
                longest = workers;
            }
        }
        Ok(longest)
    }

    /// The lines of one node's `CLIENT LIST` whose connection name is `unnamed` or starts
    /// with `<unnamed>:w:`, as BullMQ's `parseClientList` reads them.
    fn workers_in(&self, list: &str, unnamed: &str) -> Vec<WorkerClient> {
        let named = format!("{unnamed}:w:");
        list.lines()
            .filter_map(|line| {
                let mut fields: BTreeMap<String, String> = line
                    .split(' ')
                    .map(|pair| match pair.split_once('=') {
                        Some((field, value)) => (field.to_owned(), value.to_owned()),
                        None => (String::new(), pair.to_owned()),
                    })
                    .collect();
                let raw = fields.remove("name")?;
                (raw == unnamed || raw.starts_with(&named)).then(|| {
                    fields.insert("name".to_owned(), self.name().to_owned());
                    fields.insert("rawname".to_owned(), raw);
                    WorkerClient { fields }
                })
            })
            .collect()
    }

    async fn meta_field(&self, field: &str) -> redis::RedisResult<Option<String>> {
        redis::cmd("HGET")
            .arg(&self.keys().meta)
            .arg(field)
            .query_async(&mut self.connection())
            .await
    }
}

/// A numeric meta field; unset or empty reads as `None`, as BullMQ's truthiness test does.
fn meta_number(field: &'static str, value: Option<String>) -> Result<Option<u64>> {
    match value.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| Error::UnexpectedReply {
            command: "HGET meta",
            detail: format!("meta field `{field}` is {text:?}, not a whole number"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_numbers_are_whole_or_unset() {
        assert_eq!(meta_number("max", None).unwrap(), None);
        assert_eq!(meta_number("max", Some(String::new())).unwrap(), None);
        assert_eq!(meta_number("max", Some("0".into())).unwrap(), Some(0));
        assert!(meta_number("max", Some("x".into())).is_err());
    }
}
