//! `FlowProducer::get_flow`: a flow read back from its root, as deep as asked.

use std::future::Future;
use std::pin::Pin;

use super::{FlowProducer, JobNode, read_dependencies};
use crate::Result;
use crate::connection::Connection;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::queue::inspect::read_job;

type NodeFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<JobNode>>> + Send + 'a>>;

impl FlowProducer {
    /// Reads the job `id` of queue `queue_name` (under the producer's prefix) and its
    /// children, `depth` levels deep in all (1: the root alone; BullMQ's default is 10),
    /// at most `max_children` children of each kind per job (BullMQ's default is 20):
    /// processed, pending, failed, then ignored. `None` when the root does not exist.
    ///
    /// ```no_run
    /// # async fn demo(producer: bullmq_rs::FlowProducer) -> bullmq_rs::Result<()> {
    /// if let Some(flow) = producer.get_flow("invoices", &"inv-7".into(), 10, 20).await? {
    ///     for child in &flow.children {
    ///         println!("{} is {}", child.job.id, child.job.state);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::InvalidQueue`] for a bad queue name, [`crate::Error::Redis`] when
    /// Redis cannot be reached, [`crate::Error::UnexpectedReply`] for a job this crate
    /// cannot read.
    pub async fn get_flow(
        &self,
        queue_name: &str,
        id: &JobId,
        depth: usize,
        max_children: usize,
    ) -> Result<Option<JobNode>> {
        let keys = QueueKeys::new(&self.shared.prefix, queue_name)?;
        read_node(self.conn.clone(), keys, id.clone(), depth, max_children).await
    }
}

fn read_node<'a>(
    mut conn: Connection,
    keys: QueueKeys,
    id: JobId,
    depth: usize,
    max_children: usize,
) -> NodeFuture<'a> {
    Box::pin(async move {
        let Some(job) = read_job(&mut conn, &keys, &id).await? else {
            return Ok(None);
        };
        let mut children = Vec::new();
        if depth > 1 {
            let mut deps = read_dependencies(&mut conn, &keys.job(&id)).await?;
            deps.unprocessed.truncate(max_children);
            deps.failed.truncate(max_children);
            let processed = deps.processed.keys().take(max_children);
            let ignored = deps.ignored.keys().take(max_children);
            let child_keys: Vec<String> = processed
                .chain(&deps.unprocessed)
                .chain(&deps.failed)
                .chain(ignored)
                .cloned()
                .collect();
            for child_key in child_keys {
                let Some((child_keys, child_id)) = split_job_key(&child_key) else {
                    continue;
                };
                let child = read_node(conn.clone(), child_keys, child_id, depth - 1, max_children);
                if let Some(node) = child.await? {
                    children.push(node);
                }
            }
        }
        Ok(Some(JobNode { job, children }))
    })
}

/// `<prefix>:<queue>:<id>` into the queue's keys and the id (a prefix may hold `:`).
fn split_job_key(key: &str) -> Option<(QueueKeys, JobId)> {
    let (rest, id) = key.rsplit_once(':')?;
    let (prefix, queue) = rest.rsplit_once(':')?;
    Some((QueueKeys::new(prefix, queue).ok()?, JobId::from(id)))
}
