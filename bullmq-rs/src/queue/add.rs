//! `Queue::add` and `Queue::add_bulk`.

use serde::Serialize;

use super::Queue;
use crate::Result;
use crate::codec;
use crate::job::JobId;
use crate::layout::BullmqMajor;
use crate::options::JobOptions;
use crate::options::validate::validate;
use crate::scripts::{JobArgs, PlainDedup, PlainFacts, ReplicaWait, SCRIPTS};

use std::time::Duration;

/// A job ready to be added: name, data already encoded as JSON, options.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    name: String,
    data_json: String,
    opts: JobOptions,
}

impl NewJob {
    /// Encodes `data` as JSON, as Node's `JSON.stringify` would (keys in their order).
    ///
    /// # Errors
    /// [`crate::Error::Serialize`] when `data` cannot be encoded as JSON.
    pub fn new<T: Serialize + ?Sized>(name: &str, data: &T, opts: JobOptions) -> Result<Self> {
        Ok(Self::from_json(name, serde_json::to_string(data)?, opts))
    }

    /// Takes data that is already JSON text, stored as given (no re-encoding).
    pub fn from_json(name: &str, data_json: String, opts: JobOptions) -> Self {
        Self {
            name: name.to_owned(),
            data_json,
            opts,
        }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The job's data, as JSON text.
    pub fn data_json(&self) -> &str {
        &self.data_json
    }

    /// The job's options.
    pub fn opts(&self) -> &JobOptions {
        &self.opts
    }

    /// Checks the job as BullMQ of `major` would before writing it (custom id rules,
    /// priority range, size limit, ...). [`Queue::add_bulk`] does this too; call it to
    /// refuse a job before any connection exists.
    ///
    /// # Errors
    /// [`crate::Error::InvalidOption`] naming the option and what is wrong with it.
    pub fn validate(&self, major: BullmqMajor) -> Result<()> {
        validate(&self.opts, major, &self.data_json)
    }
}

/// A job checked against the queue's major and encoded for the scripts.
struct Encoded<'a> {
    job: &'a NewJob,
    /// The options as BullMQ stores them.
    stored: serde_json::Value,
    /// The options in cjson's bytes, for a job the plain add script can take.
    opts_cjson: Option<String>,
    /// The options as JSON text for the general script: written only when the batch goes
    /// to it (see [`Encoded::for_general_script`]).
    opts_json: String,
    timestamp: u64,
}

impl<'a> Encoded<'a> {
    fn new(job: &'a NewJob, major: BullmqMajor) -> Result<Self> {
        job.validate(major)?;
        let stored = codec::options_to_stored_value(&job.opts)?;
        let opts_cjson = takes_plain_add(&job.opts)
            .then(|| crate::cjson::encode(&stored))
            .flatten();
        Ok(Self {
            job,
            stored,
            opts_cjson,
            opts_json: String::new(),
            timestamp: job.opts.timestamp.unwrap_or_else(codec::now_millis),
        })
    }

    /// Writes the options' JSON text, which the general script takes (a batch goes to it
    /// when any of its jobs cannot take the plain one).
    fn for_general_script(&mut self) {
        self.opts_json = self.stored.to_string();
    }

    fn args(&self) -> JobArgs<'_> {
        let opts = &self.job.opts;
        JobArgs {
            custom_id: opts.job_id.as_ref().map_or("", JobId::as_str),
            name: &self.job.name,
            timestamp: self.timestamp,
            data_json: &self.job.data_json,
            opts_json: &self.opts_json,
            plain: self.opts_cjson.as_deref().map(|opts_cjson| PlainFacts {
                opts_cjson,
                lifo: opts.lifo == Some(true),
                dedup: opts.deduplication.as_ref().map(|de| PlainDedup {
                    id: &de.id,
                    ttl_ms: de.ttl.map(codec::as_millis),
                }),
            }),
        }
    }
}

/// Whether the plain add script stores this job as the general one would: ready at once
/// (no delay, no priority), no parent, and a deduplication (if any) in the plain or ttl
/// mode.
fn takes_plain_add(opts: &JobOptions) -> bool {
    let special_dedup = opts.deduplication.as_ref().is_some_and(|de| {
        [de.extend, de.replace, de.keep_last_if_active, de.reschedule].contains(&Some(true))
    });
    let ready = opts.delay.is_none_or(|delay| delay.is_zero()) && opts.priority.unwrap_or(0) == 0;
    ready && opts.parent.is_none() && !special_dedup
}

impl Queue {
    /// Adds one job and returns its id.
    ///
    /// A custom id that already exists adds nothing and returns that id (BullMQ emits a
    /// `duplicated` event); so does an add swallowed by deduplication, which returns the id
    /// of the job holding the deduplication slot.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// let data = serde_json::json!({ "to": "ada@example.com" });
    /// let id = queue.add("welcome", &data, Default::default()).await?;
    /// println!("queued job {id}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::InvalidOption`] when BullMQ would refuse the options,
    /// [`crate::Error::Serialize`] when `data` is not JSON-encodable,
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn add<T: Serialize + ?Sized>(
        &self,
        name: &str,
        data: &T,
        opts: JobOptions,
    ) -> Result<JobId> {
        let job = NewJob::new(name, data, opts)?;
        let mut ids = self.add_bulk(std::slice::from_ref(&job)).await?;
        Ok(ids.remove(0))
    }

    /// Adds many jobs in one round trip and one script call, atomically: either every job
    /// of the batch is written or, when a job is invalid, none is sent. Returns one id per
    /// job, in order (see [`Queue::add`] for duplicates).
    ///
    /// Redis runs the whole batch at once; keep batches to a size that Redis may block for
    /// (thousands of small jobs, not millions).
    ///
    /// # Errors
    /// As [`Queue::add`].
    pub async fn add_bulk(&self, jobs: &[NewJob]) -> Result<Vec<JobId>> {
        Ok(self.add_encoded(jobs, None).await?.0)
    }

    /// [`Queue::add_bulk`], then waits until `replicas` replicas have acknowledged the
    /// batch, at most `timeout` (Redis `WAIT`, sent in the same pipeline on the same
    /// connection, so one round trip); returns the ids and how many replicas acknowledged.
    /// Fewer than `replicas` means the batch is on the primary but may not survive its
    /// loss: keep it elsewhere too, or add it again later with the same custom ids.
    ///
    /// On a cluster the count is that of the replicas of the primary holding the queue.
    /// Redis serves nothing else on a connection while `WAIT` waits: give replicated adds a
    /// `Queue` of their own (another `connect`) when other calls share this one.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue, jobs: Vec<bullmq_rs::NewJob>) -> bullmq_rs::Result<()> {
    /// use std::time::Duration;
    /// let (ids, acked) = queue.add_bulk_replicated(&jobs, 1, Duration::from_millis(50)).await?;
    /// if acked < 1 {
    ///     // not yet on a replica: keep the jobs and add them again (same custom ids)
    /// }
    /// # let _ = ids; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Queue::add`].
    pub async fn add_bulk_replicated(
        &self,
        jobs: &[NewJob],
        replicas: u32,
        timeout: Duration,
    ) -> Result<(Vec<JobId>, u32)> {
        self.add_encoded(jobs, Some(ReplicaWait { replicas, timeout }))
            .await
    }

    /// Loads the add scripts into Redis now (`SCRIPT LOAD`), so that the first add does not
    /// meet `NOSCRIPT` and pay a second round trip; with
    /// [`Queue::add_bulk_replicated`] that second trip would also wait for the replicas a
    /// second time. Adds load them by themselves when needed: this only moves the cost to
    /// a moment of the caller's choosing, such as start-up.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn load_add_scripts(&self) -> Result<()> {
        SCRIPTS.add_jobs.load(&mut self.connection()).await
    }

    async fn add_encoded(
        &self,
        jobs: &[NewJob],
        wait: Option<ReplicaWait>,
    ) -> Result<(Vec<JobId>, u32)> {
        if jobs.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let major = self.major();
        let mut encoded = jobs
            .iter()
            .map(|job| Encoded::new(job, major))
            .collect::<Result<Vec<_>>>()?;
        if encoded.iter().any(|job| job.opts_cjson.is_none()) {
            encoded.iter_mut().for_each(Encoded::for_general_script);
        }
        let args: Vec<JobArgs<'_>> = encoded.iter().map(Encoded::args).collect();
        SCRIPTS
            .add_jobs
            .call(&mut self.connection(), self.keys(), major, &args, wait)
            .await
    }
}
