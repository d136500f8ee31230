//! `Queue::upsert_job_scheduler`, `remove_job_scheduler`, `get_job_scheduler` and
//! `get_job_schedulers`: job schedulers as BullMQ's `Queue` defines and reads them.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Queue;
use crate::Result;
use crate::codec;
use crate::job::JobId;
use crate::options::validate::validate;
use crate::options::{JobTemplate, RepeatOptions};
use crate::scheduler::JobScheduler;
use crate::scheduler::cron::Schedule;
use crate::scheduler::run_opts::RunOpts;
use crate::scripts::{RunArgs, SCRIPTS, SchedulerArgs};

impl Queue {
    /// Creates the job scheduler `id`, or replaces it, and adds its next run; returns the
    /// run's id (`repeat:<id>:<ms>`), or `None` when the scheduler has no run left (a
    /// `limit` of 0, a pattern with no time before `endDate`): then nothing is stored.
    ///
    /// Workers create each following run when they take the current one, Node workers
    /// and [`crate::Worker`] alike. Replacing a scheduler replaces its run that has not
    /// started and, with an unchanged `every`, keeps that run's time.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{JobTemplate, Queue, RepeatOptions};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "reports").await?;
    /// let nightly = RepeatOptions {
    ///     pattern: Some("0 3 * * *".into()),
    ///     tz: Some("Europe/Paris".into()),
    ///     ..Default::default()
    /// };
    /// let template = JobTemplate {
    ///     name: Some("nightly-report".into()),
    ///     data: Some(serde_json::json!({ "format": "pdf" })),
    ///     ..Default::default()
    /// };
    /// let run = queue.upsert_job_scheduler("nightly", &nightly, &template).await?;
    /// println!("next run: {run:?}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::InvalidOption`] when BullMQ would refuse the options (both or neither of
    /// `pattern` and `every`, a bad pattern or time zone, a past `endDate`, a template
    /// setting `jobId`, `delay` or `deduplication`), [`crate::Error::Script`] when other jobs hold
    /// the run's id, [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn upsert_job_scheduler(
        &self,
        id: &str,
        repeat: &RepeatOptions,
        template: &JobTemplate,
    ) -> Result<Option<JobId>> {
        let now = codec::now_millis();
        repeat.validate_at(now)?;
        template.validate()?;
        let data_json =
            serde_json::to_string(template.data.as_ref().unwrap_or(&Value::Object(Map::new())))?;
        validate(&template.opts, self.major(), &data_json)?;
        if repeat.limit == Some(0) {
            return Ok(None);
        }
        let next_millis = match &repeat.pattern {
            Some(_) => {
                let next = if repeat.immediately == Some(true) {
                    Schedule::parse_checked(repeat)?;
                    Some(codec::now_millis())
                } else {
                    repeat.next_run_after(now)?
                };
                match next {
                    Some(next) => Some(next.max(now)),
                    None => return Ok(None),
                }
            }
            None => None,
        };
        let offset = repeat
            .every
            .and(repeat.offset)
            .map(codec::as_millis)
            .filter(|ms| *ms > 0);
        let name = template.name.as_deref().unwrap_or(id);
        let fields = serde_json::json!({
            "name": name, "startDate": repeat.start_date, "endDate": repeat.end_date,
            "tz": repeat.tz, "pattern": repeat.pattern,
            "every": repeat.every.map(codec::as_millis), "limit": repeat.limit, "offset": offset,
        });
        let fields = without_nulls(fields);
        let template_opts = codec::template_options_to_stored(&template.opts)?;
        let repeat_map = match serde_json::to_value(repeat)? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let (opts_json, repeat_pairs_json) = RunOpts {
            base: template_opts.clone(),
            repeat: repeat_map,
            scheduler_id: id,
            next_millis,
            offset,
            count: 1,
            now: codec::now_millis(),
        }
        .encode();
        let run = RunArgs {
            scheduler_id: id,
            now: codec::now_millis(),
            next_millis,
            opts_json: &opts_json,
            repeat_pairs_json: &repeat_pairs_json,
        };
        let scheduler = SchedulerArgs {
            fields_json: &fields,
            data_json: &data_json,
            template_opts_json: &Value::Object(template_opts).to_string(),
        };
        let (run_id, _delay) = SCRIPTS
            .upsert_job_scheduler
            .call(
                &mut self.connection(),
                self.keys(),
                self.major(),
                &run,
                &scheduler,
            )
            .await?;
        Ok(Some(run_id))
    }

    /// Removes the job scheduler `id` and its run still waiting in `delayed` (a run
    /// already ready or running stays); `true` when the scheduler existed.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// let removed = queue.remove_job_scheduler("nightly").await?;
    /// # let _ = removed; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn remove_job_scheduler(&self, id: &str) -> Result<bool> {
        SCRIPTS
            .remove_job_scheduler
            .call(&mut self.connection(), self.keys(), id)
            .await
    }

    /// Reads the job scheduler `id` (with the time of its next run); `None` when there is
    /// none.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// if let Some(scheduler) = queue.get_job_scheduler("nightly").await? {
    ///     println!("next run at {:?}", scheduler.next);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached, [`crate::Error::UnexpectedReply`] when its
    /// stored template options are not BullMQ's.
    pub async fn get_job_scheduler(&self, id: &str) -> Result<Option<JobScheduler>> {
        let (next, hash): (Option<f64>, HashMap<String, String>) = redis::pipe()
            .atomic()
            .cmd("ZSCORE")
            .arg(&self.keys().repeat)
            .arg(id)
            .cmd("HGETALL")
            .arg(self.keys().scheduler(id))
            .query_async(&mut self.connection())
            .await?;
        match next {
            Some(next) => JobScheduler::from_hash(id.to_owned(), Some(score_ms(next)), hash),
            None => Ok(None),
        }
    }

    /// The job schedulers ranked `start` to `end` (inclusive; negative counts from the
    /// end, as in Redis) by next run time, earliest first with `asc`, latest first
    /// without. Ids in `repeat` without a stored scheduler are skipped (Node's getter also
    /// removes them; this one only reads).
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// for scheduler in queue.get_job_schedulers(0, -1, true).await? {
    ///     println!("{} next at {:?}", scheduler.key, scheduler.next);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Queue::get_job_scheduler`].
    pub async fn get_job_schedulers(
        &self,
        start: isize,
        end: isize,
        asc: bool,
    ) -> Result<Vec<JobScheduler>> {
        let range = if asc { "ZRANGE" } else { "ZREVRANGE" };
        let ranked: Vec<(String, f64)> = redis::cmd(range)
            .arg(&self.keys().repeat)
            .arg(start)
            .arg(end)
            .arg("WITHSCORES")
            .query_async(&mut self.connection())
            .await?;
        let mut pipe = redis::pipe();
        for (id, _) in &ranked {
            pipe.cmd("HGETALL").arg(self.keys().scheduler(id));
        }
        let hashes: Vec<HashMap<String, String>> = if ranked.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut self.connection()).await?
        };
        let mut schedulers = Vec::with_capacity(ranked.len());
        for ((id, next), hash) in ranked.into_iter().zip(hashes) {
            if let Some(scheduler) = JobScheduler::from_hash(id, Some(score_ms(next)), hash)? {
                schedulers.push(scheduler);
            }
        }
        Ok(schedulers)
    }
}

fn score_ms(score: f64) -> u64 {
    // Scores are whole ms, far below 2^53: exact in an f64.
    score as u64
}

fn without_nulls(value: Value) -> String {
    match value {
        Value::Object(map) => {
            let kept: Map<String, Value> = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
            Value::Object(kept).to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_fields_leave_out_what_is_not_given() {
        assert_eq!(
            without_nulls(serde_json::json!({"name": "n", "tz": null, "every": 5})),
            r#"{"name":"n","every":5}"#
        );
    }
}
