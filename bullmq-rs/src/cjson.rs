//! The exact text Redis' Lua `cjson.encode(cjson.decode(json))` gives for a job's options,
//! computed here so that the add script can store options as they arrive instead of
//! decoding and re-encoding them per job (BullMQ's own scripts re-encode them, so the bytes
//! stored must be cjson's: key order, escapes, number format).
//!
//! Facts about Redis' embedded Lua 5.1 and its cjson that this relies on, each checked
//! against a real redis-server by this module's `encodings_match_redis_cjson` test:
//! - `cjson.decode` builds an object as an empty table and sets its keys in text order;
//!   `cjson.encode` writes the keys in the table's traversal order.
//! - A table keeps string keys in a node array of 2^k slots. A key's main slot is its
//!   string hash modulo the size; on a collision the key (or the colliding one, when that
//!   one is not in its own main slot) moves to the highest free slot below the last one
//!   handed out. When no slot is free the table grows to the next power of two holding
//!   every key plus the new one, and the old slots are inserted again from the last to the
//!   first. Traversal walks the slots from the first.
//! - The string hash starts from the length and folds in every byte from the last (for keys
//!   shorter than 32 bytes; longer ones are hashed differently across Redis versions and
//!   are left to Redis).
//! - Numbers are written as C's `%.14g`; strings escape `"`, `\`, `/`, DEL and the control
//!   characters (`\b \t \n \f \r`, others as `\u00XX` in lowercase hex); other bytes are
//!   written raw; an empty object is written `{}`.
//!
//! Only what job options contain is supported (objects, strings, integers, booleans);
//! anything else answers `None` and the caller lets Redis encode it.

use serde_json::{Map, Value};

/// `cjson.encode(cjson.decode(text))` of `value` as Redis' Lua writes it, or `None` for a
/// value this module does not model (arrays, fractional numbers, `null`).
pub(crate) fn encode(value: &Value) -> Option<String> {
    let mut out = String::with_capacity(128);
    write_value(value, &mut out)?;
    Some(out)
}

fn write_value(value: &Value, out: &mut String) -> Option<()> {
    match value {
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::String(text) => write_string(text, out),
        Value::Number(number) => write_integer(number, out)?,
        Value::Object(map) => write_object(map, out)?,
        Value::Null | Value::Array(_) => return None,
    }
    Some(())
}

/// Keys from this length on are hashed differently by Redis versions (Lua 5.1 samples
/// every `len / 32 + 1`-th byte, later Redis hashes them all): none of BullMQ's option
/// names comes near it, so such objects are left to Redis.
const LONGEST_KEY: usize = 32;

fn write_object(map: &Map<String, Value>, out: &mut String) -> Option<()> {
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    if keys.iter().any(|key| key.len() >= LONGEST_KEY) {
        return None;
    }
    out.push('{');
    for (position, key) in LuaTable::traversal_order(&keys).into_iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        write_string(keys[key], out);
        out.push(':');
        write_value(&map[keys[key]], out)?;
    }
    out.push('}');
    Some(())
}

/// An integer as `%.14g` writes the double it becomes in Lua: digits up to 14 significant
/// ones, an exponent beyond.
fn write_integer(number: &serde_json::Number, out: &mut String) -> Option<()> {
    let value = if let Some(n) = number.as_u64() {
        n as f64
    } else {
        number.as_i64()? as f64
    };
    if value.abs() < 1e14 {
        out.push_str(&format!("{value:.0}"));
        return Some(());
    }
    // 14 significant digits in scientific form, trailing zeros of the fraction dropped,
    // the exponent with a sign and at least two digits, as C prints it.
    let scientific = format!("{value:.13e}");
    let (mantissa, exponent) = scientific.split_once('e')?;
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    let exponent: i32 = exponent.parse().ok()?;
    let sign = if exponent < 0 { '-' } else { '+' };
    out.push_str(&format!("{mantissa}e{sign}{:02}", exponent.abs()));
    Some(())
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Lua 5.1's string hash of a key shorter than [`LONGEST_KEY`]: from the length, every
/// byte folded in from the last.
fn lua_hash(key: &[u8]) -> u32 {
    let len = key.len();
    let mut hash = len as u32;
    for &byte in key.iter().rev() {
        hash ^= (hash << 5)
            .wrapping_add(hash >> 2)
            .wrapping_add(u32::from(byte));
    }
    hash
}

/// The node part of a Lua table holding only string keys: which key sits in which slot.
struct LuaTable<'k> {
    keys: &'k [&'k str],
    hashes: Vec<u32>,
    /// Per slot: the index of the key there, and the slot its collision chain goes on to.
    slots: Vec<Slot>,
    /// Free slots are searched downwards from here.
    last_free: usize,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: Option<usize>,
    next: Option<usize>,
}

impl<'k> LuaTable<'k> {
    /// The order in which a table built by setting `keys` one by one is traversed, as
    /// indices into `keys`.
    fn traversal_order(keys: &'k [&'k str]) -> Vec<usize> {
        let mut table = LuaTable {
            keys,
            hashes: keys.iter().map(|key| lua_hash(key.as_bytes())).collect(),
            slots: Vec::new(),
            last_free: 0,
        };
        for key in 0..keys.len() {
            table.insert(key);
        }
        table.slots.iter().filter_map(|slot| slot.key).collect()
    }

    fn main_slot(&self, key: usize) -> usize {
        self.hashes[key] as usize & (self.slots.len() - 1)
    }

    fn contains(&self, key: usize) -> bool {
        self.slots
            .iter()
            .any(|slot| slot.key.is_some_and(|k| self.keys[k] == self.keys[key]))
    }

    fn insert(&mut self, key: usize) {
        // A repeated key keeps its slot (JSON text from serde never repeats one).
        if !self.slots.is_empty() && self.contains(key) {
            return;
        }
        if self.slots.is_empty() {
            self.grow();
            return self.insert(key);
        }
        let mut target = self.main_slot(key);
        if let Some(occupant) = self.slots[target].key {
            let Some(free) = self.free_slot() else {
                self.grow();
                return self.insert(key);
            };
            let occupant_main = self.main_slot(occupant);
            if occupant_main != target {
                // The occupant is a guest: it moves to the free slot, the key takes its place.
                let mut previous = occupant_main;
                while self.slots[previous].next != Some(target) {
                    previous = self.slots[previous].next.unwrap_or(target);
                }
                self.slots[previous].next = Some(free);
                self.slots[free] = self.slots[target];
                self.slots[target] = Slot::default();
            } else {
                // The occupant is at home: the key goes to the free slot, chained after it.
                self.slots[free].next = self.slots[target].next;
                self.slots[target].next = Some(free);
                target = free;
            }
        }
        self.slots[target].key = Some(key);
    }

    fn free_slot(&mut self) -> Option<usize> {
        while self.last_free > 0 {
            self.last_free -= 1;
            if self.slots[self.last_free].key.is_none() {
                return Some(self.last_free);
            }
        }
        None
    }

    /// Grows to the smallest power of two holding every key plus the one being added, then
    /// inserts the old keys again from the last slot to the first.
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        let count = old.iter().filter(|slot| slot.key.is_some()).count() + 1;
        let size = count.next_power_of_two();
        self.slots = vec![Slot::default(); size];
        self.last_free = size;
        for slot in old.iter().rev() {
            if let Some(key) = slot.key {
                self.insert(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_percent_14g() {
        let text = |n: u64| encode(&Value::from(n)).unwrap();
        assert_eq!(text(0), "0");
        assert_eq!(text(86_400_000), "86400000");
        assert_eq!(text(99_999_999_999_999), "99999999999999");
        assert_eq!(text(100_000_000_000_000), "1e+14");
        assert_eq!(text(123_456_789_012_345), "1.2345678901234e+14");
        assert_eq!(text(u64::MAX), "1.844674407371e+19");
    }

    #[test]
    fn strings_escape_as_cjson_does() {
        let text = encode(&Value::from("a/b\"c\\d\n\u{1}é")).unwrap();
        assert_eq!(text, r#""a\/b\"c\\d\n\u0001é""#);
    }

    #[test]
    fn arrays_null_and_long_keys_are_left_to_redis() {
        assert_eq!(encode(&serde_json::json!({"k".repeat(32): 1})), None);
        assert_eq!(encode(&serde_json::json!({"a": [1]})), None);
        assert_eq!(encode(&serde_json::json!({"a": null})), None);
        assert_eq!(encode(&serde_json::json!({"a": 0.5})), None);
    }

    /// A small deterministic generator (no dependency for a test).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % below
        }
    }

    const NAMES: [&str; 22] = [
        "attempts",
        "jobId",
        "delay",
        "priority",
        "lifo",
        "backoff",
        "type",
        "removeOnComplete",
        "removeOnFail",
        "age",
        "count",
        "kl",
        "stackTraceLimit",
        "sizeLimit",
        "timestamp",
        "de",
        "id",
        "ttl",
        "extend",
        "replace",
        "fpof",
        "parent",
    ];

    fn random_key(rng: &mut Lcg) -> String {
        if rng.next(3) > 0 {
            return NAMES[rng.next(NAMES.len() as u64) as usize].to_owned();
        }
        let len = 1 + rng.next(31) as usize;
        (0..len)
            .map(|_| char::from(b'a' + rng.next(26) as u8))
            .collect()
    }

    fn random_value(rng: &mut Lcg, depth: u32) -> Value {
        match rng.next(if depth < 2 { 6 } else { 5 }) {
            0 => Value::Bool(rng.next(2) == 0),
            1 => Value::from(rng.next(1_000_000)),
            2 => {
                let wide = (rng.next(1 << 31) << 33) | rng.next(1 << 31);
                Value::from(wide >> rng.next(40))
            }
            3 => Value::from(
                [
                    "exponential",
                    "a/b",
                    "q\"u\\o",
                    "tab\there",
                    "\u{1}\u{1f}\u{7f}",
                    "é€",
                ][rng.next(6) as usize],
            ),
            4 => Value::from(format!("evt-{}", rng.next(1 << 40))),
            _ => random_object(rng, depth + 1),
        }
    }

    fn random_object(rng: &mut Lcg, depth: u32) -> Value {
        let mut map = Map::new();
        for _ in 0..rng.next(if depth == 0 { 20 } else { 5 }) {
            map.insert(random_key(rng), random_value(rng, depth));
        }
        Value::Object(map)
    }

    #[test]
    fn encodings_match_redis_cjson() {
        let redis = testkit::RedisServer::start();
        let mut conn = redis.connection(0);
        let mut rng = Lcg(7);
        let objects: Vec<Value> = (0..3000).map(|_| random_object(&mut rng, 0)).collect();
        let texts: Vec<String> = objects.iter().map(Value::to_string).collect();
        let from_redis: Vec<String> = redis::cmd("EVAL")
            .arg(
                "local out = {} for i, text in ipairs(ARGV) do \
                 out[i] = cjson.encode(cjson.decode(text)) end return out",
            )
            .arg(0)
            .arg(&texts)
            .query(&mut conn)
            .unwrap();
        for ((object, text), expected) in objects.iter().zip(&texts).zip(&from_redis) {
            assert_eq!(
                encode(object).as_deref(),
                Some(expected.as_str()),
                "for {text}"
            );
        }
    }
}
