//! Reading a parent's bookkeeping of its children.

use std::collections::BTreeMap;

use super::Dependencies;
use crate::connection::Connection;
use crate::{Error, Result};

/// `processed`, `dependencies`, `failed` and `unsuccessful` as Redis returns them.
type RawDependencies = (
    BTreeMap<String, String>,
    Vec<String>,
    BTreeMap<String, String>,
    Vec<String>,
);

/// The four places a parent `job_key` records its children, in one pipeline.
pub(crate) async fn read_dependencies(
    conn: &mut Connection,
    job_key: &str,
) -> Result<Dependencies> {
    let (processed, mut unprocessed, ignored, failed): RawDependencies = redis::pipe()
        .hgetall(format!("{job_key}:processed"))
        .smembers(format!("{job_key}:dependencies"))
        .hgetall(format!("{job_key}:failed"))
        .zrange(format!("{job_key}:unsuccessful"), 0, -1)
        .query_async(conn)
        .await?;
    unprocessed.sort();
    Ok(Dependencies {
        processed: parse_values(processed)?,
        unprocessed,
        ignored,
        failed,
    })
}

/// A parent's `processed` hash: child key → return value (JSON).
pub(crate) async fn read_children_values(
    conn: &mut Connection,
    job_key: &str,
) -> Result<BTreeMap<String, serde_json::Value>> {
    let processed: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{job_key}:processed"))
        .query_async(conn)
        .await?;
    parse_values(processed)
}

fn parse_values(raw: BTreeMap<String, String>) -> Result<BTreeMap<String, serde_json::Value>> {
    raw.into_iter()
        .map(|(key, json)| {
            serde_json::from_str(&json)
                .map(|value| (key, value))
                .map_err(|err| Error::UnexpectedReply {
                    command: "HGETALL processed",
                    detail: format!("a child's return value is not JSON: {err}"),
                })
        })
        .collect()
}
