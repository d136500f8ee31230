//! The name a worker gives its blocking connection (`CLIENT SETNAME`), so that Node's
//! `Queue.getWorkers()`, which reads `CLIENT LIST`, lists Rust workers next to Node ones:
//! `<prefix>:<base64(queue name)>`, plus `:w:<worker name>` for a named worker (BullMQ's
//! `clientName()` with the worker suffix).

use tokio::sync::OnceCell;

use crate::Result;
use crate::connection::{self, Connection};

/// The name of a worker's blocking connection, and whether the server takes names, which
/// is known once Redis has answered a first `CLIENT SETNAME` (at connect, or at the first
/// wait for jobs of a worker connected lazily).
pub(super) struct ClientName {
    name: String,
    /// `false` where the server has no `CLIENT` command (some hosted Redis); unset until
    /// Redis has answered.
    supported: OnceCell<bool>,
}

impl ClientName {
    pub(super) fn new(prefix: &str, queue: &str, worker_name: Option<&str>) -> Self {
        Self {
            name: client_name(prefix, queue, worker_name),
            supported: OnceCell::new(),
        }
    }

    /// The name to keep on `conn` (see [`connection::named_call`]), naming it now if Redis
    /// has not answered yet; `None` where the server takes no names.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached or refuses the name; the next
    /// call tries again.
    pub(super) async fn resolve(&self, conn: &Connection) -> Result<Option<&str>> {
        let supported = self
            .supported
            .get_or_try_init(|| async { connection::set_name(&mut conn.clone(), &self.name).await })
            .await?;
        Ok(supported.then_some(self.name.as_str()))
    }
}

/// The client name of a worker of queue `queue` under `prefix` (without a worker name, the
/// prefix of every worker connection of the queue, which `Queue::get_workers` looks for).
pub(crate) fn client_name(prefix: &str, queue: &str, worker_name: Option<&str>) -> String {
    let mut name = format!("{prefix}:{}", base64(queue.as_bytes()));
    if let Some(worker) = worker_name {
        name.push_str(":w:");
        name.push_str(worker);
    }
    name
}

/// Standard base64 with padding, as Node's `Buffer.toString('base64')`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_bullmq() {
        // BullMQ's own probe: queue "w", worker "wname" → `bull:dw==:w:wname`.
        assert_eq!(client_name("bull", "w", Some("wname")), "bull:dw==:w:wname");
        assert_eq!(client_name("bull", "emails", None), "bull:ZW1haWxz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64("é✓".as_bytes()), "w6ninJM=");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"q"), "cQ==");
        assert_eq!(base64(b"sellsy-webhooks"), "c2VsbHN5LXdlYmhvb2tz");
        assert_eq!(base64("ünï".as_bytes()), "w7xuw68=");
    }
}
