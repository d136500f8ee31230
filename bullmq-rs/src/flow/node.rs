//! The shapes of a flow: what is added (`FlowJob`), what adding returns (`AddedFlow`), what
//! reading one back returns (`JobNode`) and a parent's view of its children (`Dependencies`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::job::{Job, JobId};
use crate::options::JobOptions;

/// One node of a flow, as BullMQ's `FlowJob` (camelCase JSON, unknown keys refused): a job
/// of queue `queue_name` whose `children` must all finish before it runs.
///
/// ```
/// let flow: bullmq_rs::FlowJob = serde_json::from_str(r#"{
///     "name": "invoice", "queueName": "invoices", "data": {"id": 7},
///     "children": [
///         {"name": "pdf", "queueName": "renders", "opts": {"failParentOnFailure": true}},
///         {"name": "total", "queueName": "renders", "data": {"id": 7}}
///     ]
/// }"#).unwrap();
/// assert_eq!(flow.children.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowJob {
    /// The job's name.
    pub name: String,
    /// The queue the job goes to.
    pub queue_name: String,
    /// The job's data (`{}` when absent, as in BullMQ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// The job's options. `jobId` absent means a random UUID v4, as BullMQ's FlowProducer
    /// gives; a child's `parent` is set by the flow.
    #[serde(default)]
    pub opts: JobOptions,
    /// Jobs that must finish before this one runs; they may go to other queues.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<FlowJob>,
    /// Key prefix of this node's queue, instead of the producer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// The ids a flow was added with, in the shape of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddedFlow {
    /// The job's id (an existing job's id when the node's `jobId` existed already).
    pub id: JobId,
    /// The job's queue.
    pub queue_name: String,
    /// The children, in the order of the flow.
    pub children: Vec<AddedFlow>,
}

/// A job of a flow read back with its children (BullMQ's `JobNode`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobNode {
    /// The job.
    pub job: Job,
    /// Its children, as deep as asked.
    pub children: Vec<JobNode>,
}

/// A parent's children by outcome (BullMQ's `getDependencies`), each named by its full
/// job key (`bull:renders:<id>`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Dependencies {
    /// Completed children and their return values (`<job>:processed`).
    pub processed: BTreeMap<String, serde_json::Value>,
    /// Children still pending (`<job>:dependencies`), sorted.
    pub unprocessed: Vec<String>,
    /// Failed children the parent went on without, with their failure reason
    /// (`<job>:failed`: `continueParentOnFailure`, `ignoreDependencyOnFailure`).
    pub ignored: BTreeMap<String, String>,
    /// Failed children that fail the parent (`<job>:unsuccessful`: `failParentOnFailure`),
    /// in the order they failed.
    pub failed: Vec<String>,
}
