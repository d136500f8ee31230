//! Entries of a queue's `events` stream as stored: their ids ([`EventId`]), their fields
//! ([`EventEntry`]), and how `XREAD` and `XREVRANGE` replies become entries.

use std::fmt;
use std::str::FromStr;

use redis::Value;

use crate::{Error, Result};

/// The id of a stream entry, `<ms>-<seq>`: where it sits in the stream, and when Redis
/// wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    /// `0-0`, before every entry: reading after it reads the whole stream.
    pub fn zero() -> Self {
        Self("0-0".to_owned())
    }

    /// The id as Redis writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When Redis added the entry, in ms since the Unix epoch (the id's first part).
    pub fn timestamp_ms(&self) -> u64 {
        self.parts().0
    }

    fn parts(&self) -> (u64, u64) {
        // Construction checked the form, so both parts are numbers.
        let (ms, seq) = self.0.split_once('-').unwrap_or((&self.0, "0"));
        (
            ms.parse().unwrap_or_default(),
            seq.parse().unwrap_or_default(),
        )
    }

    /// An id read from Redis, trusted as is.
    fn from_redis(id: String) -> Self {
        Self(id)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EventId {
    type Err = Error;

    /// Reads `<ms>-<seq>`, or `<ms>` alone (sequence 0), as Redis does.
    fn from_str(s: &str) -> Result<Self> {
        let number = |part: &str| !part.is_empty() && part.parse::<u64>().is_ok();
        match s.split_once('-') {
            Some((ms, seq)) if number(ms) && number(seq) => Ok(Self(s.to_owned())),
            None if number(s) => Ok(Self(format!("{s}-0"))),
            _ => Err(Error::InvalidEventId(s.to_owned())),
        }
    }
}

impl PartialOrd for EventId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EventId {
    /// Stream order (by time, then sequence), not text order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

/// One entry of the `events` stream exactly as stored: its id and its field/value pairs in
/// order, `event` (the event's name) included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEntry {
    /// The entry's id.
    pub id: EventId,
    /// Field/value pairs as stored (Node's ioredis decodes them as UTF-8, replacing
    /// invalid bytes; so does this crate).
    pub fields: Vec<(String, String)>,
}

impl EventEntry {
    /// The value of `field`, if the entry has it.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    }

    /// The event's name (its `event` field); empty when the entry has none.
    pub fn name(&self) -> &str {
        self.field("event").unwrap_or_default()
    }
}

/// `XREAD` answers nil when the block time passed, else `[[key, entries]]` (RESP2) or
/// `{key: entries}` (RESP3).
pub(super) fn parse_xread(reply: Value) -> Result<Vec<EventEntry>> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.remove(1)),
                other => Err(unexpected("XREAD", format!("stream {other:?}"))),
            })
            .collect::<Result<Vec<Value>>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(unexpected("XREAD", format!("{other:?}"))),
    };
    let mut entries = Vec::new();
    for stream in streams {
        entries.extend(parse_entries(stream, "XREAD")?);
    }
    Ok(entries)
}

/// `[[id, [field, value, ...]], ...]`.
pub(super) fn parse_entries(reply: Value, command: &'static str) -> Result<Vec<EventEntry>> {
    let Value::Array(entries) = reply else {
        return Err(unexpected(command, format!("entries {reply:?}")));
    };
    entries
        .into_iter()
        .map(|entry| {
            let Value::Array(parts) = entry else {
                return Err(unexpected(command, format!("entry {entry:?}")));
            };
            let [id, fields]: [Value; 2] = parts
                .try_into()
                .map_err(|parts| unexpected(command, format!("entry {parts:?}")))?;
            let fields = match fields {
                Value::Array(values) => values,
                // RESP3 may answer a map.
                Value::Map(pairs) => pairs.into_iter().flat_map(|(f, v)| [f, v]).collect(),
                other => return Err(unexpected(command, format!("fields {other:?}"))),
            };
            let mut texts = fields.into_iter().map(text);
            let mut pairs = Vec::new();
            while let (Some(field), Some(value)) = (texts.next(), texts.next()) {
                pairs.push((field?, value?));
            }
            Ok(EventEntry {
                id: EventId::from_redis(text(id)?),
                fields: pairs,
            })
        })
        .collect()
}

fn text(value: Value) -> Result<String> {
    match value {
        Value::BulkString(bytes) => Ok(String::from_utf8(bytes)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())),
        Value::SimpleString(text) => Ok(text),
        Value::VerbatimString { text, .. } => Ok(text),
        other => Err(unexpected("XREAD", format!("field {other:?}"))),
    }
}

fn unexpected(command: &'static str, detail: String) -> Error {
    Error::UnexpectedReply { command, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn xread_replies_of_both_protocols_become_entries() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("event"), bulk("drained")]),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("bull:q:events"),
            Value::Array(vec![entry.clone()]),
        ])]);
        let resp3 = Value::Map(vec![(bulk("bull:q:events"), Value::Array(vec![entry]))]);
        for reply in [resp2, resp3] {
            let entries = parse_xread(reply).unwrap();
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].id.as_str(), "1-0");
            assert_eq!(entries[0].name(), "drained");
        }
        assert!(parse_xread(Value::Nil).unwrap().is_empty());
        assert!(parse_xread(Value::Int(3)).is_err());
    }

    #[test]
    fn invalid_utf8_is_replaced_as_node_does() {
        let entry = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("event"), Value::BulkString(vec![b'a', 0xff])]),
        ])]);
        let entries = parse_entries(entry, "XRANGE").unwrap();
        assert_eq!(entries[0].name(), "a\u{fffd}");
    }

    #[test]
    fn event_ids_parse_like_redis_and_order_by_time() {
        assert_eq!("5".parse::<EventId>().unwrap().as_str(), "5-0");
        assert!("5-x".parse::<EventId>().is_err());
        assert!("$".parse::<EventId>().is_err());
        assert!("".parse::<EventId>().is_err());
        let early: EventId = "99-5".parse().unwrap();
        let late: EventId = "100-0".parse().unwrap();
        assert!(early < late, "numeric, not text, order");
        assert!(EventId::zero() < early);
    }
}
