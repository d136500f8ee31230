//! A canonical text dump of every key matching a pattern, with what must differ between
//! two producers (clock readings, stream ids) masked, for whole-keyspace comparisons.

use std::collections::BTreeMap;

/// Dumps every key matching `pattern`: key → `TYPE [ttl]` followed by its content
/// (hash fields sorted, list order kept, zset members with scores, stream entries without
/// ids). Masks 13-digit numbers (ms timestamps), the due time of delayed scores (keeping the
/// same-ms sequence `score mod 4096`) and the score of the delay marker.
pub fn dump_keyspace(conn: &mut redis::Connection, pattern: &str) -> BTreeMap<String, String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(conn).expect("KEYS");
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let dump = dump_key(conn, &key);
            (key, dump)
        })
        .collect()
}

fn dump_key(conn: &mut redis::Connection, key: &str) -> String {
    let kind: String = redis::cmd("TYPE").arg(key).query(conn).expect("TYPE");
    let pttl: i64 = redis::cmd("PTTL").arg(key).query(conn).expect("PTTL");
    let mut out = if pttl >= 0 {
        format!("{kind} ttl")
    } else {
        kind.clone()
    };
    let lines: Vec<String> = match kind.as_str() {
        "string" => vec![
            redis::cmd("GET")
                .arg(key)
                .query::<String>(conn)
                .expect("GET"),
        ],
        "hash" => {
            let fields: BTreeMap<String, String> =
                redis::cmd("HGETALL").arg(key).query(conn).expect("HGETALL");
            fields
                .into_iter()
                .map(|(field, value)| format!("{field} = {value}"))
                .collect()
        }
        "list" => redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(conn)
            .expect("LRANGE"),
        "set" => {
            let mut members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(key)
                .query(conn)
                .expect("SMEMBERS");
            members.sort();
            members
        }
        "zset" => {
            let entries: Vec<(String, String)> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(conn)
                .expect("ZRANGE");
            entries
                .into_iter()
                .map(|(member, score)| format!("{member} @ {}", zset_score(key, &member, &score)))
                .collect()
        }
        "stream" => {
            let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query(conn)
                .expect("XRANGE");
            entries
                .into_iter()
                .map(|(_id, fields)| fields.join(" "))
                .collect()
        }
        other => vec![format!("(unsupported type {other})")],
    };
    for line in lines {
        out.push_str("\n  ");
        out.push_str(&mask_timestamps(&line));
    }
    out
}

fn zset_score(key: &str, member: &str, score: &str) -> String {
    if key.ends_with(":delayed") {
        let score: u64 = score.parse().expect("delayed scores are integers");
        format!("<TS>*4096+{}", score % 4096)
    } else if key.ends_with(":marker") && member == "1" {
        "<TS>".to_owned()
    } else {
        score.to_owned()
    }
}

/// Replaces every run of exactly 13 digits (a ms timestamp of this era) with `<TS>`.
pub fn mask_timestamps(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let run_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - run_start == 13 {
                out.push_str(&text[start..run_start]);
                out.push_str("<TS>");
                start = i;
            }
        } else {
            i += 1;
        }
    }
    out.push_str(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_thirteen_digit_runs_are_masked() {
        assert_eq!(mask_timestamps("ts 1732400123456 id 42"), "ts <TS> id 42");
        assert_eq!(mask_timestamps("17324001234567"), "17324001234567");
        assert_eq!(mask_timestamps(r#"{"t":1732400123456}"#), r#"{"t":<TS>}"#);
    }
}
