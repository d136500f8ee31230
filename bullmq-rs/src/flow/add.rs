//! `FlowProducer::add` and `add_bulk`: flows laid out parents first, level by level, as
//! BullMQ's FlowProducer queues them, then written in one script call.

use std::collections::VecDeque;

use super::{AddedFlow, FlowJob, FlowProducer};
use crate::codec;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::options::ParentRef;
use crate::options::validate::validate;
use crate::scripts::{FlowNodeArgs, SCRIPTS};
use crate::{Error, Result};

/// One node, checked and encoded, with the positions of its children.
struct Encoded {
    base: String,
    queue_name: String,
    id: JobId,
    name: String,
    timestamp: u64,
    data_json: String,
    opts_json: String,
    children: Vec<usize>,
}

impl FlowProducer {
    /// Adds one flow in one atomic script call and returns its ids. Every node without a
    /// `jobId` gets a random UUID v4; a parent waits in `waiting-children` until its
    /// children are done; the children may go to other queues (on a cluster, queues that
    /// share the hash tag of the producer's prefix).
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{FlowJob, FlowProducer};
    ///
    /// let producer = FlowProducer::connect("redis://127.0.0.1:6379").await?;
    /// let flow: FlowJob = serde_json::from_value(serde_json::json!({
    ///     "name": "invoice", "queueName": "invoices", "data": {"id": 7},
    ///     "children": [{"name": "pdf", "queueName": "renders", "data": {"id": 7}}]
    /// }))?;
    /// let added = producer.add(&flow).await?;
    /// println!("invoice {} waits for pdf {}", added.id, added.children[0].id);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidQueue`] for a bad queue name or prefix, [`Error::InvalidOption`]
    /// when BullMQ would refuse a node's options, [`Error::InvalidFlow`] for a node with
    /// `deduplication` or, on a cluster, queues without one shared hash tag,
    /// [`Error::Script`] with [`crate::ScriptError::ParentMissing`] when the root's
    /// `parent` does not exist or [`crate::ScriptError::ParentCannotBeReplaced`] when a
    /// node's `jobId` belongs to another parent (nothing is written then),
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn add(&self, flow: &FlowJob) -> Result<AddedFlow> {
        let added = self.add_bulk(std::slice::from_ref(flow)).await?;
        added.into_iter().next().ok_or(Error::UnexpectedReply {
            command: "add_flow",
            detail: "no flow added".to_owned(),
        })
    }

    /// Adds several flows in one atomic script call (all or none); returns their ids in
    /// order.
    ///
    /// # Errors
    /// As [`FlowProducer::add`].
    pub async fn add_bulk(&self, flows: &[FlowJob]) -> Result<Vec<AddedFlow>> {
        if flows.is_empty() {
            return Ok(Vec::new());
        }
        let now = codec::now_millis();
        let nodes = lay_out(flows, &self.shared.prefix, self.shared.major, now)?;
        if self.shared.topology.is_cluster() {
            check_one_slot(&nodes)?;
        }
        let args: Vec<FlowNodeArgs<'_>> = nodes
            .iter()
            .map(|node| FlowNodeArgs {
                base: &node.base,
                id: node.id.as_str(),
                name: &node.name,
                timestamp: node.timestamp,
                data_json: &node.data_json,
                opts_json: &node.opts_json,
                has_children: !node.children.is_empty(),
            })
            .collect();
        let ids = SCRIPTS
            .add_flow
            .call(&mut self.conn.clone(), self.shared.major, now, &args)
            .await?;
        Ok((0..flows.len())
            .map(|root| tree(&nodes, &ids, root))
            .collect())
    }
}

impl FlowJob {
    /// Checks the flow as [`FlowProducer::add`] would before writing it (queue names and
    /// prefixes, each node's options for BullMQ of `major`), with `prefix` for the nodes
    /// that name none; call it to refuse a flow before any connection exists.
    ///
    /// # Errors
    /// As [`FlowProducer::add`] for [`Error::InvalidQueue`], [`Error::InvalidOption`] and
    /// [`Error::InvalidFlow`] (the cluster check needs the producer).
    pub fn validate(&self, prefix: &str, major: BullmqMajor) -> Result<()> {
        lay_out(std::slice::from_ref(self), prefix, major, 0).map(drop)
    }
}

/// The nodes of `flows` level by level (every root, then every child of a root, ...), the
/// order in which BullMQ's FlowProducer queues its adds; each child names its parent.
fn lay_out(flows: &[FlowJob], prefix: &str, major: BullmqMajor, now: u64) -> Result<Vec<Encoded>> {
    let mut nodes: Vec<Encoded> = Vec::new();
    let mut pending: VecDeque<(&FlowJob, Option<ParentRef>, Option<usize>)> = flows
        .iter()
        .map(|flow| (flow, flow.opts.parent.clone(), None))
        .collect();
    while let Some((node, parent, parent_index)) = pending.pop_front() {
        let prefix = node.prefix.as_deref().unwrap_or(prefix);
        let keys = QueueKeys::new(prefix, &node.queue_name)?;
        if node.opts.deduplication.is_some() {
            return Err(Error::InvalidFlow(format!(
                "node {:?} of queue {:?} has deduplication, which flow nodes cannot use",
                node.name, node.queue_name
            )));
        }
        let id = node
            .opts
            .job_id
            .clone()
            .unwrap_or_else(|| JobId::from(uuid::Uuid::new_v4().to_string()));
        let opts = crate::options::JobOptions {
            parent,
            ..node.opts.clone()
        };
        let data_json = match &node.data {
            Some(data) => serde_json::to_string(data)?,
            None => "{}".to_owned(),
        };
        validate(&opts, major, &data_json)?;
        let index = nodes.len();
        if let Some(parent_index) = parent_index {
            nodes[parent_index].children.push(index);
        }
        for child in &node.children {
            let parent = ParentRef::new(prefix, &node.queue_name, id.clone());
            pending.push_back((child, Some(parent), Some(index)));
        }
        nodes.push(Encoded {
            base: keys.base().to_owned(),
            queue_name: node.queue_name.clone(),
            timestamp: opts.timestamp.unwrap_or(now),
            opts_json: codec::options_to_stored(&opts)?,
            id,
            name: node.name.clone(),
            data_json,
            children: Vec::new(),
        });
    }
    Ok(nodes)
}

fn tree(nodes: &[Encoded], ids: &[JobId], index: usize) -> AddedFlow {
    AddedFlow {
        id: ids[index].clone(),
        queue_name: nodes[index].queue_name.clone(),
        children: nodes[index]
            .children
            .iter()
            .map(|&child| tree(nodes, ids, child))
            .collect(),
    }
}

/// On a cluster one script call reaches one slot: every queue of the flows needs the same
/// hash tag (Redis hashes only the first non-empty `{...}` of a key).
fn check_one_slot(nodes: &[Encoded]) -> Result<()> {
    let first = &nodes[0].base;
    let tag = hash_tag(first);
    for node in nodes {
        if tag.is_none() || hash_tag(&node.base) != tag {
            return Err(Error::InvalidFlow(format!(
                "queues {first:?} and {:?} do not share a hash tag, so the flow would span cluster slots; give every queue of a flow the same tagged prefix, such as {{sellsy}}",
                node.base
            )));
        }
    }
    Ok(())
}

fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let len = key[open + 1..].find('}')?;
    (len > 0).then(|| &key[open + 1..open + 1 + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(json: serde_json::Value) -> FlowJob {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn nodes_go_level_by_level_and_children_name_their_parent() {
        let root = flow(serde_json::json!({
            "name": "root", "queueName": "p", "opts": {"jobId": "r"},
            "children": [
                {"name": "a", "queueName": "c", "opts": {"jobId": "a"},
                 "children": [{"name": "a1", "queueName": "c", "opts": {"jobId": "a1"}}]},
                {"name": "b", "queueName": "c", "prefix": "other", "opts": {"jobId": "b", "failParentOnFailure": true}}
            ]
        }));
        let nodes = lay_out(&[root], "bull", BullmqMajor::V6, 1).unwrap();
        let names: Vec<&str> = nodes.iter().map(|node| node.name.as_str()).collect();
        assert_eq!(names, ["root", "a", "b", "a1"]);
        assert_eq!(nodes[0].children, [1, 2]);
        assert_eq!(nodes[2].base, "other:c:");
        assert_eq!(
            nodes[2].opts_json,
            r#"{"attempts":0,"jobId":"b","fpof":true,"parent":{"id":"r","queue":"bull:p"}}"#
        );
        assert_eq!(
            nodes[3].opts_json,
            r#"{"attempts":0,"jobId":"a1","parent":{"id":"a","queue":"bull:c"}}"#
        );
    }

    #[test]
    fn nodes_without_an_id_get_a_uuid() {
        let nodes = lay_out(
            &[flow(serde_json::json!({"name": "x", "queueName": "q"}))],
            "bull",
            BullmqMajor::V5,
            1,
        )
        .unwrap();
        assert!(uuid::Uuid::parse_str(nodes[0].id.as_str()).is_ok());
        assert_eq!(nodes[0].data_json, "{}");
    }

    #[test]
    fn flows_refuse_unknown_keys_and_deduplication() {
        assert!(
            serde_json::from_value::<FlowJob>(
                serde_json::json!({"name": "x", "queueName": "q", "child": []})
            )
            .is_err()
        );
        let dedup = flow(
            serde_json::json!({"name": "x", "queueName": "q", "opts": {"deduplication": {"id": "d"}}}),
        );
        assert!(matches!(
            lay_out(&[dedup], "bull", BullmqMajor::V6, 1),
            Err(Error::InvalidFlow(_))
        ));
    }

    #[test]
    fn a_cluster_flow_needs_one_hash_tag() {
        let tagged = flow(serde_json::json!({
            "name": "p", "queueName": "p", "children": [{"name": "c", "queueName": "c"}]
        }));
        let nodes = lay_out(std::slice::from_ref(&tagged), "{t}", BullmqMajor::V6, 1).unwrap();
        assert!(check_one_slot(&nodes).is_ok());
        let nodes = lay_out(&[tagged], "bull", BullmqMajor::V6, 1).unwrap();
        assert!(check_one_slot(&nodes).is_err());
    }
}
