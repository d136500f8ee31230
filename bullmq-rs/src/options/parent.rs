//! BullMQ's `parent` option: the job a child belongs to.

use serde::{Deserialize, Serialize};

use crate::job::JobId;

/// The parent of a child job, as BullMQ's `parent` option names it: the parent's id and its
/// queue's qualified name `<prefix>:<queue>` (e.g. `bull:invoices`).
///
/// ```
/// use bullmq_rs::{JobOptions, ParentRef};
///
/// let opts = JobOptions {
///     parent: Some(ParentRef::new("bull", "invoices", "inv-7".into())),
///     ..Default::default()
/// };
/// assert_eq!(opts.parent.unwrap().key(), "bull:invoices:inv-7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParentRef {
    /// The parent's id.
    pub id: JobId,
    /// The parent's queue as `<prefix>:<queue>` (BullMQ's `queueQualifiedName`).
    pub queue: String,
}

impl ParentRef {
    /// The parent `id` in queue `queue` under `prefix`.
    pub fn new(prefix: &str, queue: &str, id: JobId) -> Self {
        Self {
            id,
            queue: format!("{prefix}:{queue}"),
        }
    }

    /// The parent's job key, `<prefix>:<queue>:<id>` (a child's `parentKey`).
    pub fn key(&self) -> String {
        format!("{}:{}", self.queue, self.id)
    }
}
