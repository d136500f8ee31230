//! Every Redis key of one queue, built once.

use crate::connection::Topology;
use crate::job::JobId;
use crate::{Error, Result};

/// The keys of one queue: `<prefix>:<name>:<suffix>`, as BullMQ names them.
///
/// Built once per queue so that the hot path formats no key strings. A hash tag in the
/// prefix (`{sellsy}`) keeps all of a queue's keys in one Redis Cluster slot, which
/// BullMQ's multi-key scripts need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKeys {
    name: String,
    prefix: String,
    base: String,
    pub(crate) wait: String,
    pub(crate) paused: String,
    pub(crate) meta: String,
    pub(crate) id: String,
    pub(crate) delayed: String,
    pub(crate) prioritized: String,
    pub(crate) pc: String,
    pub(crate) marker: String,
    pub(crate) events: String,
    pub(crate) active: String,
    pub(crate) completed: String,
    pub(crate) failed: String,
    pub(crate) waiting_children: String,
    pub(crate) stalled: String,
    pub(crate) stalled_check: String,
    pub(crate) limiter: String,
    pub(crate) repeat: String,
    pub(crate) metrics_completed: String,
    pub(crate) metrics_completed_data: String,
    pub(crate) metrics_failed: String,
    pub(crate) metrics_failed_data: String,
}

impl QueueKeys {
    /// Keys for queue `name` under `prefix` (BullMQ's default prefix is `bull`).
    ///
    /// # Errors
    /// [`Error::InvalidQueue`] when the name is empty or holds `:` (BullMQ refuses it too),
    /// or when the prefix is empty.
    pub fn new(prefix: &str, name: &str) -> Result<Self> {
        if name.is_empty() {
            return Err(invalid("name", name, "must not be empty"));
        }
        if name.contains(':') {
            return Err(invalid("name", name, "must not contain ':'"));
        }
        if prefix.is_empty() {
            return Err(invalid("prefix", prefix, "must not be empty"));
        }
        let base = format!("{prefix}:{name}:");
        let key = |suffix: &str| format!("{base}{suffix}");
        Ok(Self {
            wait: key("wait"),
            paused: key("paused"),
            meta: key("meta"),
            id: key("id"),
            delayed: key("delayed"),
            prioritized: key("prioritized"),
            pc: key("pc"),
            marker: key("marker"),
            events: key("events"),
            active: key("active"),
            completed: key("completed"),
            failed: key("failed"),
            waiting_children: key("waiting-children"),
            stalled: key("stalled"),
            stalled_check: key("stalled-check"),
            limiter: key("limiter"),
            repeat: key("repeat"),
            metrics_completed: key("metrics:completed"),
            metrics_completed_data: key("metrics:completed:data"),
            metrics_failed: key("metrics:failed"),
            metrics_failed_data: key("metrics:failed:data"),
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            base,
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key prefix, e.g. `bull`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:<name>:`, the start of every key of the queue (BullMQ's "key prefix").
    pub fn base(&self) -> &str {
        &self.base
    }

    /// [`QueueKeys::new`], and on a cluster also [`QueueKeys::check_cluster_slot`].
    pub(crate) fn for_connection(prefix: &str, name: &str, topology: &Topology) -> Result<Self> {
        let keys = Self::new(prefix, name)?;
        if topology.is_cluster() {
            keys.check_cluster_slot()?;
        }
        Ok(keys)
    }

    /// Redis Cluster needs every key of a queue in one slot, which BullMQ's multi-key
    /// scripts rely on: the key base must hold a hash tag (`{sellsy}:webhooks:` or
    /// `bull:{webhooks}:`), since Redis hashes only the first `{...}` of a key.
    ///
    /// # Errors
    /// [`Error::InvalidQueue`] saying how to add one.
    pub fn check_cluster_slot(&self) -> Result<()> {
        let tagged = self
            .base
            .find('{')
            .is_some_and(|open| self.base[open + 1..].find('}').is_some_and(|len| len > 0));
        if tagged {
            return Ok(());
        }
        Err(invalid(
            "prefix",
            &self.prefix,
            "has no hash tag, so the queue's keys would spread over cluster slots; use a prefix such as {sellsy}",
        ))
    }

    /// The hash of one job: `<prefix>:<name>:<id>`.
    pub fn job(&self, id: &JobId) -> String {
        format!("{}{}", self.base, id.as_str())
    }

    /// The hash of a job scheduler: `<prefix>:<name>:repeat:<id>`.
    pub fn scheduler(&self, scheduler_id: &str) -> String {
        format!("{}:{scheduler_id}", self.repeat)
    }

    /// The deduplication slot of a deduplication id: `<prefix>:<name>:de:<id>`.
    pub fn deduplication(&self, dedup_id: &str) -> String {
        format!("{}de:{dedup_id}", self.base)
    }
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> Error {
    Error::InvalidQueue {
        what,
        value: value.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_bullmq_naming() {
        let keys = QueueKeys::new("bull", "emails").unwrap();
        assert_eq!(keys.base(), "bull:emails:");
        assert_eq!(keys.wait, "bull:emails:wait");
        assert_eq!(keys.waiting_children, "bull:emails:waiting-children");
        assert_eq!(keys.job(&JobId::from("42")), "bull:emails:42");
        assert_eq!(keys.deduplication("d1"), "bull:emails:de:d1");
    }

    #[test]
    fn hash_tagged_prefix_is_kept_verbatim() {
        let keys = QueueKeys::new("{sellsy}", "sellsy-webhooks").unwrap();
        assert_eq!(keys.marker, "{sellsy}:sellsy-webhooks:marker");
    }

    #[test]
    fn cluster_mode_needs_a_hash_tag() {
        assert!(
            QueueKeys::new("{sellsy}", "q")
                .unwrap()
                .check_cluster_slot()
                .is_ok()
        );
        assert!(
            QueueKeys::new("bull", "{q}")
                .unwrap()
                .check_cluster_slot()
                .is_ok()
        );
        let err = QueueKeys::new("bull", "q")
            .unwrap()
            .check_cluster_slot()
            .unwrap_err();
        assert!(
            err.to_string().contains("use a prefix such as {sellsy}"),
            "{err}"
        );
        assert!(
            QueueKeys::new("{}", "q")
                .unwrap()
                .check_cluster_slot()
                .is_err()
        );
    }

    #[test]
    fn names_with_colons_or_empty_parts_are_refused() {
        assert!(QueueKeys::new("bull", "a:b").is_err());
        assert!(QueueKeys::new("bull", "").is_err());
        assert!(QueueKeys::new("", "q").is_err());
    }
}
