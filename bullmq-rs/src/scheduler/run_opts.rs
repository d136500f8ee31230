//! The `opts` of a scheduler's run, built key by key as BullMQ's JavaScript builds the
//! object it sends: stored `opts` JSON is compared byte for byte with Node's, and its key
//! order is that of the Lua table the script encodes, which depends on the order (and the
//! nil values) the keys were inserted with.
//!
//! A run's options are the base options (the template's, or the options of the run that
//! produced this one), then `repeat`, `jobId`, `delay`, `timestamp`, `prevMillis` and
//! `repeatJobKey`: a key already there keeps its place, a new one goes last, an undefined
//! one is left out. `repeat` is the base `repeat` (without `immediately`) followed by
//! `offset`, `count`, `startDate` and `endDate`, where BullMQ writes undefined ones as nil:
//! the script gets `repeat` as `[key, value]` pairs and inserts them in order, nulls too.

use serde_json::{Map, Value, json};

/// What a run's options are made of.
pub(crate) struct RunOpts<'a> {
    /// Template options, or the producing run's (already as a Node worker reads them).
    pub(crate) base: Map<String, Value>,
    /// The template's repeat options, or the producing run's `repeat`.
    pub(crate) repeat: Map<String, Value>,
    pub(crate) scheduler_id: &'a str,
    /// The run's time from a pattern; `None` for `every` (the script computes it).
    pub(crate) next_millis: Option<u64>,
    /// `offset` when `every` and a non-zero offset are given, else none.
    pub(crate) offset: Option<u64>,
    /// The run's iteration (1 for the first).
    pub(crate) count: u64,
    pub(crate) now: u64,
}

impl RunOpts<'_> {
    /// `(opts JSON with a placeholder for repeat, repeat as JSON [key, value] pairs)`.
    pub(crate) fn encode(self) -> (String, String) {
        let mut repeat = self.repeat;
        repeat.shift_remove("immediately");
        let mut pairs: Vec<(String, Value)> = repeat.into_iter().collect();
        for (key, value) in [
            ("offset", json!(self.offset)),
            ("count", json!(self.count)),
            ("startDate", pairs_value(&pairs, "startDate")),
            ("endDate", pairs_value(&pairs, "endDate")),
        ] {
            match pairs.iter_mut().find(|(name, _)| name == key) {
                Some(pair) => pair.1 = value,
                None => pairs.push((key.to_owned(), value)),
            }
        }

        let mut opts = self.base;
        // The value is the script's to set; only the key's place matters here.
        let placeholder = json!(0);
        let job_id = match self.next_millis {
            Some(next) => format!("repeat:{}:{next}", self.scheduler_id),
            None => format!("repeat:{}:undefined", self.scheduler_id),
        };
        for (key, value) in [
            ("repeat", Some(placeholder.clone())),
            ("jobId", Some(json!(job_id))),
            ("delay", Some(placeholder)),
            ("timestamp", Some(json!(self.now))),
            ("prevMillis", self.next_millis.map(|next| json!(next))),
            ("repeatJobKey", Some(json!(self.scheduler_id))),
        ] {
            match value {
                Some(value) => {
                    opts.insert(key.to_owned(), value);
                }
                None => {
                    opts.shift_remove(key);
                }
            }
        }
        let pairs: Vec<Value> = pairs.into_iter().map(|(k, v)| json!([k, v])).collect();
        (
            Value::Object(opts).to_string(),
            Value::Array(pairs).to_string(),
        )
    }
}

/// Dates stay as given when they are numbers (ms), as `new Date(ms).getTime()` leaves them.
fn pairs_value(pairs: &[(String, Value)], key: &str) -> Value {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.clone())
        .filter(|value| value.as_u64().is_some_and(|ms| ms > 0))
        .unwrap_or(Value::Null)
}

/// A run's stored options as a Node worker holds them before building the next run:
/// `attempts` first (0 when absent), `repeatJobKey` dropped (it is re-added last), a
/// numeric `backoff` as `{type: "fixed", delay}`.
pub(crate) fn as_worker_reads(stored: Map<String, Value>) -> Map<String, Value> {
    let mut opts = Map::new();
    opts.insert(
        "attempts".to_owned(),
        stored.get("attempts").cloned().unwrap_or(json!(0)),
    );
    for (key, value) in stored {
        match key.as_str() {
            "attempts" | "repeatJobKey" => {}
            "backoff" if value.is_number() => {
                opts.insert(key, json!({ "type": "fixed", "delay": value }));
            }
            _ => {
                opts.insert(key, value);
            }
        }
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn first_run_of_every_appends_the_scheduler_keys() {
        let (opts, pairs) = RunOpts {
            base: object(json!({"removeOnComplete": true, "attempts": 2})),
            repeat: object(json!({"every": 60000, "immediately": true})),
            scheduler_id: "s",
            next_millis: None,
            offset: None,
            count: 1,
            now: 5,
        }
        .encode();
        assert_eq!(
            opts,
            r#"{"removeOnComplete":true,"attempts":2,"repeat":0,"jobId":"repeat:s:undefined","delay":0,"timestamp":5,"repeatJobKey":"s"}"#
        );
        assert_eq!(
            pairs,
            r#"[["every",60000],["offset",null],["count",1],["startDate",null],["endDate",null]]"#
        );
    }

    #[test]
    fn next_run_keeps_the_places_of_existing_keys() {
        let stored = object(json!({
            "prevMillis": 9, "repeatJobKey": "c", "jobId": "repeat:c:9", "timestamp": 1,
            "delay": 3, "repeat": {"tz": "UTC", "count": 1, "pattern": "* * * * *"}
        }));
        let mut base = as_worker_reads(stored);
        let repeat = object(base["repeat"].clone());
        base.insert("repeat".into(), json!(0));
        let (opts, pairs) = RunOpts {
            base,
            repeat,
            scheduler_id: "c",
            next_millis: Some(12),
            offset: None,
            count: 2,
            now: 7,
        }
        .encode();
        assert_eq!(
            opts,
            r#"{"attempts":0,"prevMillis":12,"jobId":"repeat:c:12","timestamp":7,"delay":0,"repeat":0,"repeatJobKey":"c"}"#
        );
        assert_eq!(
            pairs,
            r#"[["tz","UTC"],["count",2],["pattern","* * * * *"],["offset",null],["startDate",null],["endDate",null]]"#
        );
    }
}
