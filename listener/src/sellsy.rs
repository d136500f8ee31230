//! Sellsy webhook bodies (JSON, form field `notif`, or `{"notif": …}`) into one event
//! object, the BullMQ job's data, with a stable id for delivery deduplication.
//!
//! Parsing is strict on purpose: SHA-1(key ‖ body) allows length extension (fact sheet
//! §2.3 step 5), so trailing bytes after the JSON and extra form fields are refused.

mod canonical;

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const NOTIF: &str = "notif";
/// Bytes of the SHA-256 kept in the dedup key (128 bits, 32 hex characters).
const DEDUP_KEY_BYTES: usize = 16;
/// What every job id starts with, before the dedup key.
const JOB_ID_PREFIX: &str = "sellsy-";

/// One Sellsy event, normalised to the object Node workers read (`job.data.eventType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellsyEvent {
    data: String,
    /// [`JOB_ID_PREFIX`] then the dedup key: built once, both are slices of it.
    job_id: String,
}

/// The envelope fields worth a log line; numbers are rendered as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSummary {
    /// `eventType`, e.g. `docslog` (casing varies between Sellsy event families).
    pub event_type: Option<String>,
    /// `event`, e.g. `step`.
    pub event: Option<String>,
    /// `relatedtype`, e.g. `estimate`.
    pub related_type: Option<String>,
    /// `relatedid`, sent as a string or a number.
    pub related_id: Option<String>,
}

impl SellsyEvent {
    /// The event whose JSON text, validated by serde_json, is `text`. The data is `text`
    /// itself when `as_received` and it is compact, which is what Sellsy sends: storing it
    /// as received skips building and printing a JSON tree for every event. Otherwise
    /// it is compacted through a tree. Either way the id comes from the canonical form,
    /// and the one pass that hashes it also tells whether the text is compact.
    fn from_text(
        text: &str,
        as_received: bool,
        invalid: fn(String) -> ParseError,
    ) -> Result<Self, ParseError> {
        if !text.starts_with('{') {
            return Err(ParseError::NotAnObject);
        }
        let canonical = canonical::hash(text.as_bytes());
        let data = if as_received && canonical.compact {
            text.to_owned()
        } else {
            // Value's Display is compact and keeps key order (preserve_order), like
            // JSON.stringify.
            let event: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
            event.to_string()
        };
        Ok(Self {
            data,
            job_id: job_id(&canonical.sha256[..DEDUP_KEY_BYTES]),
        })
    }

    /// The event object as compact JSON text, keys in received order: the BullMQ job's data.
    pub fn data_json(&self) -> &str {
        &self.data
    }

    /// Consumes into the data JSON text.
    pub fn into_data_json(self) -> String {
        self.data
    }

    /// A stable key for delivery deduplication: the first 32 lowercase hex characters of
    /// the SHA-256 of the event object's canonical JSON text (for a `{"notif": …}` or form
    /// delivery, of the event inside). JSON, `{"notif": …}` and form deliveries of the same
    /// event share it, compact or pretty-printed.
    ///
    /// What counts: the keys, their order, every value, and each number as written (`1.50`
    /// and `1.5` differ). What does not: whitespace outside strings, and how a string is
    /// escaped (`"\u00e9"` and `"é"`, `"\/"` and `"/"` are the same). The canonical text
    /// writes strings as serde_json does (only `"`, `\` and control characters escaped),
    /// so for a compact body without escapes it is the body itself.
    pub fn dedup_key(&self) -> &str {
        &self.job_id[JOB_ID_PREFIX.len()..]
    }

    /// The BullMQ job id: `sellsy-<dedup_key>` (BullMQ custom ids may not contain ':' nor
    /// be integers).
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// For logs: `eventType`, `event`, `relatedtype`, `relatedid` when present (read from
    /// the data on demand: the hot path never needs it).
    pub fn summary(&self) -> EventSummary {
        let event: Map<String, Value> = serde_json::from_str(&self.data).unwrap_or_default();
        EventSummary {
            event_type: text_field(&event, "eventType"),
            event: text_field(&event, "event"),
            related_type: text_field(&event, "relatedtype"),
            related_id: text_field(&event, "relatedid"),
        }
    }
}

/// Why a body is not a Sellsy event. Messages never quote the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No bytes at all.
    #[error("body is empty")]
    Empty,
    /// The body is not one strict JSON value.
    #[error("body is not valid JSON: {0}")]
    Json(String),
    /// Valid JSON, but not an object.
    #[error("the event must be a JSON object")]
    NotAnObject,
    /// A form body with other fields, a repeated `notif`, or no `notif`.
    #[error("form body must hold exactly one field, notif")]
    FormFields,
    /// A `%` not followed by two hex digits.
    #[error("form body has an invalid percent escape")]
    PercentEscape,
    /// The decoded form field is not UTF-8.
    #[error("notif is not valid UTF-8")]
    NotifUtf8,
    /// The decoded `notif` value is not one strict JSON value.
    #[error("notif is not valid JSON: {0}")]
    NotifJson(String),
}

/// Parses a webhook body; `content_type` is the raw Content-Type header value if any.
/// A form content type (any parameters or case) means one `notif` field; anything else
/// is read as JSON, unwrapping hull-sellsy's `{"notif": <object or JSON string>}`.
///
/// # Errors
/// A [`ParseError`] naming what is wrong when the body is not one event object.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<SellsyEvent, ParseError> {
    if body.is_empty() {
        return Err(ParseError::Empty);
    }
    if content_type.is_some_and(is_form) {
        let text = notif_text(body)?;
        let event = validate(text.as_bytes(), ParseError::NotifJson)?;
        return SellsyEvent::from_text(event, event.len() == text.len(), ParseError::NotifJson);
    }
    // Validates strictly (trailing data refused) without building a tree.
    let raw = validate(body, ParseError::Json)?;
    match notif_inner(raw) {
        Some(inner) => SellsyEvent::from_text(&inner, false, ParseError::Json),
        None => SellsyEvent::from_text(raw, raw.len() == body.len(), ParseError::Json),
    }
}

/// The one JSON value of `text`, surrounding whitespace left out.
fn validate(text: &[u8], invalid: fn(String) -> ParseError) -> Result<&str, ParseError> {
    let raw: &RawValue = serde_json::from_slice(text).map_err(|e| invalid(e.to_string()))?;
    Ok(raw.get())
}

/// hull-sellsy's wrapper: an object whose only key is `notif`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifWrapper<'a> {
    #[serde(borrow)]
    notif: &'a RawValue,
}

/// The event inside `{"notif": {...}}` or `{"notif": "{...}"}` when `text` (valid JSON) is
/// that shape, as its JSON text.
fn notif_inner(text: &str) -> Option<Cow<'_, str>> {
    // Only an object whose first key starts `notif` or with an escape can be the wrapper:
    // everything else, which is every Sellsy event, is told apart without a parse.
    let first_key = text.strip_prefix('{')?.trim_start().strip_prefix('"')?;
    if !first_key.starts_with("notif\"") && !first_key.starts_with('\\') {
        return None;
    }
    let wrapper: NotifWrapper<'_> = serde_json::from_str(text).ok()?;
    let inner = wrapper.notif.get();
    if inner.starts_with('{') {
        return Some(Cow::Borrowed(inner));
    }
    let decoded: String = serde_json::from_str(inner).ok()?;
    let event: &RawValue = serde_json::from_str(&decoded).ok()?;
    let event = event.get();
    event.starts_with('{').then(|| Cow::Owned(event.to_owned()))
}

fn is_form(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default();
    essence.trim_ascii().eq_ignore_ascii_case(FORM_CONTENT_TYPE)
}

/// The decoded `notif` field of a form body holding exactly that one field.
fn notif_text(body: &[u8]) -> Result<String, ParseError> {
    // Exactly one `name=value` pair: `&` anywhere means a second (maybe empty) field.
    if body.contains(&b'&') {
        return Err(ParseError::FormFields);
    }
    let mut parts = body.splitn(2, |&b| b == b'=');
    let name = parts.next().unwrap_or_default();
    let value = parts.next().ok_or(ParseError::FormFields)?;
    if percent_decode(name)? != NOTIF.as_bytes() {
        return Err(ParseError::FormFields);
    }
    String::from_utf8(percent_decode(value)?).map_err(|_| ParseError::NotifUtf8)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XY` a byte.
fn percent_decode(encoded: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let [high, low, tail @ ..] = rest else {
                    return Err(ParseError::PercentEscape);
                };
                let high = hex_digit(*high).ok_or(ParseError::PercentEscape)?;
                let low = hex_digit(*low).ok_or(ParseError::PercentEscape)?;
                out.push((high << 4) | low);
                rest = tail;
            }
            _ => out.push(byte),
        }
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// [`JOB_ID_PREFIX`] then `key` in lowercase hex.
fn job_id(key: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(JOB_ID_PREFIX.len() + key.len() * 2);
    id.push_str(JOB_ID_PREFIX);
    for &byte in key {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0F)]));
    }
    id
}

fn text_field(event: &Map<String, Value>, key: &str) -> Option<String> {
    match event.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::mem::discriminant;

    use super::*;

    const BODY_A: &str = r#"{"eventType":"docslog","timestamp":"1732400123","event":"step","relatedid":"48213377","relatedtype":"estimate","ownerid":"204551","ownertype":"staff","corpid":"90812","relatedobject":{"id":48213377,"number":"DEV-2024-01137","status":"accepted","date":"2024-11-23","currency":"EUR","subject":"Refonte site e-commerce","related":[{"id":7311820,"type":"company"}]}}"#;
    const BODY_B: &str = "notif=%7B%22eventType%22%3A%22docslog%22%2C%22timestamp%22%3A%221732400123%22%2C%22event%22%3A%22step%22%2C%22relatedid%22%3A%2248213377%22%2C%22relatedtype%22%3A%22estimate%22%2C%22ownerid%22%3A%22204551%22%2C%22ownertype%22%3A%22staff%22%2C%22corpid%22%3A%2290812%22%7D";
    /// Body B's event as JSON: what its `notif` field decodes to.
    const EVENT_B: &str = r#"{"eventType":"docslog","timestamp":"1732400123","event":"step","relatedid":"48213377","relatedtype":"estimate","ownerid":"204551","ownertype":"staff","corpid":"90812"}"#;
    const POC_BODY: &str = r#"{"event":"invoice.paid","data":{"id":123,"customer":"Acme Corp"}}"#;
    const JSON: Option<&str> = Some("application/json");
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn ok(content_type: Option<&str>, body: &str) -> SellsyEvent {
        parse(content_type, body.as_bytes()).expect("the body is a valid event")
    }

    fn refused(content_type: Option<&str>, body: impl AsRef<[u8]>) -> ParseError {
        parse(content_type, body.as_ref()).expect_err("the body must be refused")
    }

    #[test]
    fn json_and_form_deliveries_of_one_event_agree() {
        let (json, form) = (ok(JSON, EVENT_B), ok(FORM, BODY_B));
        assert_eq!(form.data_json(), EVENT_B);
        assert_eq!(form.job_id(), json.job_id());
        // Independently computed with Python: sha256(EVENT_B).hexdigest()[:32].
        assert_eq!(form.dedup_key(), "30e95f09a803bb2656ed846c497f7778");
        let summary = EventSummary {
            event_type: Some("docslog".into()),
            event: Some("step".into()),
            related_type: Some("estimate".into()),
            related_id: Some("48213377".into()),
        };
        assert_eq!(form.summary(), summary);
        let body_a = ok(JSON, BODY_A);
        assert_eq!((body_a.data_json(), body_a.summary()), (BODY_A, summary));
    }

    #[test]
    fn form_content_type_matches_any_case_and_parameters() {
        let types = [
            "Application/X-WWW-Form-URLencoded",
            " application/x-www-form-urlencoded ; charset=UTF-8",
        ];
        for content_type in types {
            assert_eq!(ok(Some(content_type), BODY_B).data_json(), EVENT_B);
        }
        assert!(matches!(refused(JSON, BODY_B), ParseError::Json(_)));
    }

    #[test]
    fn form_decoding_handles_plus_and_escapes_in_name_and_value() {
        let event = ok(FORM, "n%6Ftif=%7B%22a%22:%22x+y%2By%C3%A9%22%7D");
        assert_eq!(event.data_json(), r#"{"a":"x y+yé"}"#);
    }

    #[test]
    fn notif_wrapper_is_unwrapped_from_an_object_or_a_string() {
        let as_object = format!(r#"{{"notif":{EVENT_B}}}"#);
        let as_string = serde_json::json!({ "notif": EVENT_B }).to_string();
        for body in [as_object, as_string] {
            assert_eq!(ok(None, &body).data_json(), EVENT_B);
        }
    }

    #[test]
    fn other_objects_are_the_event_itself() {
        let bodies = [
            POC_BODY,
            r#"{"notif":{"a":1},"b":2}"#,
            r#"{"notif":"[1]"}"#,
            r#"{"notif":3}"#,
        ];
        for body in bodies {
            assert_eq!(ok(JSON, body).into_data_json(), body);
        }
        let event = ok(None, POC_BODY).summary().event;
        assert_eq!(event.as_deref(), Some("invoice.paid"));
    }

    #[test]
    fn key_order_is_kept_and_whitespace_dropped() {
        let body = "{ \"z\": 1, \"a\": {\"y\": [1, 2], \"b\": null}, \"m\": true }\n";
        let compact = r#"{"z":1,"a":{"y":[1,2],"b":null},"m":true}"#;
        assert_eq!(ok(None, body).data_json(), compact);
    }

    #[test]
    fn summary_renders_numbers_as_text_and_skips_other_types() {
        let summary = ok(None, r#"{"relatedid":48213377,"event":7,"eventType":null}"#).summary();
        assert_eq!(summary.related_id.as_deref(), Some("48213377"));
        assert_eq!(summary.event.as_deref(), Some("7"));
        assert_eq!((summary.event_type, summary.related_type), (None, None));
    }

    #[test]
    fn compact_bodies_are_stored_as_received() {
        // Escapes and number forms are kept: no tree is built and printed back.
        let body = r#"{"eventType":"docslog","n":1.50,"s":"caf\u00e9","a":[1,{"b":null}]}"#;
        assert_eq!(ok(Some("application/json"), body).data_json(), body);
        let spaced = r#"{"eventType": "docslog", "n": 1}"#;
        assert_eq!(
            ok(Some("application/json"), spaced).data_json(),
            r#"{"eventType":"docslog","n":1}"#
        );
        let quoted = r#"{"a":"with spaces and \" quotes"}"#;
        assert_eq!(ok(JSON, quoted).data_json(), quoted);
    }

    /// The form delivery of a JSON text: `notif=` and the text percent-encoded.
    fn as_form(json: &str) -> String {
        let encoded: String = json.bytes().map(|b| format!("%{b:02X}")).collect();
        format!("notif={encoded}")
    }

    #[test]
    fn whitespace_and_string_escapes_do_not_change_the_id_in_any_delivery() {
        let plain = r#"{"eventType":"docslog","subject":"Créé à Paris","url":"https://x.fr/a","n":1.50,"t":"a\"b\\c\nd"}"#;
        let variants = [
            r#"{"eventType":"docslog","subject":"Cr\u00e9\u00e9 \u00e0 Paris","url":"https:\/\/x.fr\/a","n":1.50,"t":"a\u0022b\u005cc\u000ad"}"#,
            "{\n  \"eventType\": \"docslog\",\n  \"subject\": \"Créé à Paris\",\n  \"url\": \"https:\\/\\/x.fr\\/a\",\n  \"n\": 1.50,\n  \"t\": \"a\\\"b\\\\c\\nd\"\n}\n",
        ];
        let want = ok(JSON, plain).job_id().to_owned();
        for variant in variants {
            let wrapped_object = format!(r#"{{"notif": {variant}}}"#);
            let wrapped_string = serde_json::json!({ "notif": variant }).to_string();
            let deliveries = [
                (JSON, variant.to_owned()),
                (None, wrapped_object),
                (JSON, wrapped_string),
                (FORM, as_form(variant)),
            ];
            for (content_type, body) in deliveries {
                assert_eq!(ok(content_type, &body).job_id(), want, "{body}");
            }
        }
        // Number spelling and key order do count.
        assert_ne!(ok(JSON, &plain.replace("1.50", "1.5")).job_id(), want);
        let reordered = r#"{"b":1,"a":2}"#;
        assert_ne!(
            ok(JSON, reordered).job_id(),
            ok(JSON, r#"{"a":2,"b":1}"#).job_id()
        );
    }

    #[test]
    fn the_stored_data_is_kept_as_before() {
        let escaped = r#"{"s":"caf\u00e9","u":"a\/b","n":1.50}"#;
        assert_eq!(ok(JSON, escaped).data_json(), escaped);
        let pretty = "{ \"s\": \"caf\\u00e9\", \"u\": \"a\\/b\", \"n\": 2 }";
        assert_eq!(
            ok(JSON, pretty).data_json(),
            r#"{"s":"café","u":"a/b","n":2}"#
        );
        let wrapped = r#"{"notif":{"s":"caf\u00e9"}}"#;
        assert_eq!(ok(JSON, wrapped).data_json(), r#"{"s":"café"}"#);
        assert_eq!(ok(FORM, &as_form(escaped)).data_json(), escaped);
    }

    #[test]
    fn job_id_is_a_valid_bullmq_custom_id() {
        let event = ok(JSON, BODY_A);
        let id = event.job_id();
        let hex = id.strip_prefix("sellsy-").expect("the id is prefixed");
        assert_eq!(id.len(), 39);
        assert!(!id.contains(':'));
        assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert_ne!(id, ok(JSON, POC_BODY).job_id());
    }

    #[test]
    fn each_malformed_body_is_refused_with_its_reason() {
        use ParseError::{Empty, FormFields, NotAnObject, NotifUtf8, PercentEscape};
        let json = &ParseError::Json(String::new());
        let notif_json = &ParseError::NotifJson(String::new());
        let cases: &[(Option<&str>, &[u8], &ParseError)] = &[
            (None, b"", &Empty),
            (FORM, b"", &Empty),
            (JSON, b"[1,2]", &NotAnObject),
            (JSON, b"42", &NotAnObject),
            (JSON, b"\"text\"", &NotAnObject),
            (JSON, b"null", &NotAnObject),
            (FORM, b"notif=%5B%5D", &NotAnObject),
            // Trailing data would let a length-extended body through (§2.3 step 5).
            (None, br#"{"a":1}x"#, json),
            (None, br#"{"a":1}{"b":2}"#, json),
            (None, b"{\"a\":1}\x80\x00\x00\x01\x58", json),
            (None, b"{\"a\":", json),
            (None, b"  ", json),
            (None, b"{\"a\":\"\xFF\"}", json),
            (FORM, b"notif=%7B%22a%22:%22%FF%22%7D", &NotifUtf8),
            (FORM, b"notif=%7B%7D&other=1", &FormFields),
            (FORM, b"notif=%7B%7D&notif=%7B%7D", &FormFields),
            (FORM, b"notif=%7B%7D&", &FormFields),
            (FORM, b"other=%7B%7D", &FormFields),
            (FORM, b"notif", &FormFields),
            (FORM, b"notif=%7", &PercentEscape),
            (FORM, b"notif=%", &PercentEscape),
            (FORM, b"notif=%zz%7D", &PercentEscape),
            (FORM, b"n%xtif=%7B%7D", &PercentEscape),
            (FORM, b"notif=%7B%7D%2", &PercentEscape),
            (FORM, b"notif=%7B%7Dx", notif_json),
            (FORM, b"notif=", notif_json),
        ];
        for (content_type, body, want) in cases {
            let got = refused(*content_type, body);
            let body = String::from_utf8_lossy(body);
            assert_eq!(discriminant(&got), discriminant(*want), "{body}: {got}");
        }
    }

    #[test]
    fn error_messages_do_not_echo_the_body() {
        let bodies = [
            (None, "{\"s3cr3t\""),
            (FORM, "notif=s3cr3t"),
            (FORM, "s3cr3t=1"),
        ];
        for (content_type, body) in bodies {
            let message = refused(content_type, body).to_string();
            assert!(!message.contains("s3cr3t"), "{message}");
        }
    }

    /// Marsaglia's xorshift64: deterministic, so a failure replays exactly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn mutate(rng: &mut XorShift, body: &mut Vec<u8>) {
        const NASTY: &[u8] = b"{}[]\":,%+&=\\0aF \xFF\xC3";
        for _ in 0..=rng.below(4) {
            let at = rng.below(body.len() + 1);
            let byte = NASTY[rng.below(NASTY.len())];
            match rng.below(4) {
                0 => body.insert(at, byte),
                1 if at < body.len() => body[at] = byte,
                2 if at < body.len() => drop(body.remove(at)),
                _ => body.truncate(at),
            }
        }
    }

    #[test]
    fn random_bodies_never_panic() {
        let seeds = [
            BODY_A,
            BODY_B,
            EVENT_B,
            POC_BODY,
            r#"{"notif":"{\"a\":1}"}"#,
        ];
        let types = [
            None,
            JSON,
            FORM,
            Some(""),
            Some("APPLICATION/X-WWW-FORM-URLENCODED;q"),
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;
        for round in 0..20_000 {
            let mut body = seeds[rng.below(seeds.len())].as_bytes().to_vec();
            if round % 2 == 0 {
                body = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            } else {
                mutate(&mut rng, &mut body);
            }
            if let Ok(event) = parse(types[rng.below(types.len())], &body) {
                accepted += 1;
                assert_eq!(event.job_id().len(), 39);
                let data: Value = serde_json::from_str(event.data_json()).expect("data is JSON");
                assert!(data.is_object());
            }
        }
        assert!(accepted > 100, "some mutations stay valid, got {accepted}");
    }
}
