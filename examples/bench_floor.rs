//! The floor under any add: `floor_add.lua` (only the writes our add script makes for
//! the same jobs, arguments ready-made) sent through a connection like our `Queue`'s.
//! Included with `#[path]` by bench_add, whose workloads it adds.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bullmq_rs::{NewJob, Queue};
use examples::bench_data::dedup_id;
use examples::fail;

use super::{DEDUP_TTL, Workload};

const FLOOR_SCRIPT: &str = include_str!("floor_add.lua");
/// BullMQ's default cap of the events stream (`maxLenEvents`), which our add reads from
/// the queue's meta and the floor is given.
const MAX_EVENTS: &str = "10000";

/// `floor_add.lua` on one queue, through a connection like the one our `Queue` uses.
#[derive(Clone)]
pub(crate) struct Floor {
    conn: redis::aio::ConnectionManager,
    script: Arc<redis::Script>,
    prefix: String,
    keys: [String; 4],
    /// The `opts` field our add stores for this workload's jobs, with the dedup id of
    /// [`Floor::PROBE`] where each job's own goes.
    opts: String,
}

impl Floor {
    /// The job number whose stored options serve as the template.
    const PROBE: u64 = u64::MAX;

    pub(crate) async fn connect(url: &str, queue: &str, workload: Workload) -> Self {
        let client = redis::Client::open(url).unwrap_or_else(|err| fail(&err.to_string()));
        let mut conn = redis::aio::ConnectionManager::new(client)
            .await
            .unwrap_or_else(|err| fail(&format!("redis: {err}")));
        // The floor stores the very `opts` text our add stores: read back from a probe job.
        let probe = Queue::connect(url, "floor-probe")
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
        let id = probe
            .add_bulk(&[NewJob::from_json(
                workload.job_name(),
                "{}".to_owned(),
                workload.options(Self::PROBE),
            )])
            .await
            .unwrap_or_else(|err| fail(&err.to_string()))
            .remove(0);
        let opts: String = redis::cmd("HGET")
            .arg(format!("bull:floor-probe:{id}"))
            .arg("opts")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|err| fail(&format!("probe job: {err}")));
        let prefix = format!("bull:{queue}:");
        let keys = ["id", "wait", "events", "marker"].map(|key| format!("{prefix}{key}"));
        Self {
            conn,
            script: Arc::new(redis::Script::new(FLOOR_SCRIPT)),
            prefix,
            keys,
            opts,
        }
    }

    pub(crate) async fn add(&self, workload: Workload, numbers: std::ops::Range<u64>) {
        let ttl = DEDUP_TTL.as_millis().to_string();
        let probe = dedup_id(Self::PROBE);
        let mut invocation = self.script.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        invocation.arg(&self.prefix).arg(MAX_EVENTS);
        for n in numbers {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |t| t.as_millis() as u64);
            match workload.dedup(n) {
                None => invocation
                    .arg("")
                    .arg(workload.job_name())
                    .arg(workload.data(n))
                    .arg(&self.opts)
                    .arg(timestamp)
                    .arg("")
                    .arg(""),
                Some(dedup) => invocation
                    .arg(format!("sellsy-{dedup}"))
                    .arg(workload.job_name())
                    .arg(workload.data(n))
                    .arg(self.opts.replace(&probe, &dedup))
                    .arg(timestamp)
                    .arg(dedup)
                    .arg(&ttl),
            };
        }
        let _: Vec<String> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .unwrap_or_else(|err| fail(&format!("floor_add: {err}")));
    }
}
