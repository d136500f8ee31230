//! `lua/add_flow.lua`: whole flows (trees of jobs across queues) in one call.

use redis::Value;

use super::Script;
use crate::connection::Connection;
use crate::error::ScriptError;
use crate::job::JobId;
use crate::layout::BullmqMajor;
use crate::{Error, Result};

/// One node of a flow, already encoded; nodes go parents first.
pub(crate) struct FlowNodeArgs<'a> {
    /// `<prefix>:<queue>:`.
    pub(crate) base: &'a str,
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) timestamp: u64,
    pub(crate) data_json: &'a str,
    /// Stored options, `parent` included for a child.
    pub(crate) opts_json: &'a str,
    pub(crate) has_children: bool,
}

/// The flow script (`KEYS` the first root's job key, for routing).
pub(crate) struct AddFlow(pub(super) Script<1>);

impl AddFlow {
    /// Adds the nodes; returns one id per node, in order.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        major: BullmqMajor,
        now: u64,
        nodes: &[FlowNodeArgs<'_>],
    ) -> Result<Vec<JobId>> {
        let Some(first) = nodes.first() else {
            return Ok(Vec::new());
        };
        let route = format!("{}{}", first.base, first.id);
        let mut args: Vec<String> = Vec::with_capacity(2 + nodes.len() * 7);
        args.extend([major.as_arg().to_owned(), now.to_string()]);
        for node in nodes {
            args.extend([
                node.base.to_owned(),
                node.id.to_owned(),
                node.name.to_owned(),
                node.timestamp.to_string(),
                node.data_json.to_owned(),
                node.opts_json.to_owned(),
                if node.has_children { "1" } else { "0" }.to_owned(),
            ]);
        }
        let unexpected = |detail: String| Error::UnexpectedReply {
            command: self.0.name(),
            detail,
        };
        match self.0.call::<Value>(conn, [route.as_str()], args).await? {
            Value::Int(code) => Err(Error::Script {
                script: self.0.name(),
                code: ScriptError::from_job_code(code),
            }),
            reply @ Value::Array(_) => {
                let ids: Vec<String> =
                    redis::from_redis_value(reply).map_err(|err| unexpected(err.to_string()))?;
                if ids.len() != nodes.len() {
                    return Err(unexpected(format!(
                        "{} ids for {} nodes",
                        ids.len(),
                        nodes.len()
                    )));
                }
                Ok(ids.into_iter().map(JobId::from).collect())
            }
            other => Err(unexpected(format!("{other:?}"))),
        }
    }
}
