//! Which Sellsy events may lead to an invoice (node-worker-compat/lib/invoice.js,
//! `classifyEvent`). Only the estimate's status read from the API decides in the end;
//! this filters out the events that can never qualify.

use serde_json::Value;

/// The `event` values (lower case) that may trigger an invoice: `INVOICE_TRIGGER_EVENTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TriggerEvents {
    /// `*`: any docslog event of an estimate, as the POC did.
    Any,
    /// A comma list, default `step`.
    Only(Vec<String>),
}

impl TriggerEvents {
    /// Parses the env value as Node does: trimmed, `*`, or a comma list lower-cased.
    pub(crate) fn parse(value: &str) -> Self {
        match value.trim() {
            "*" => Self::Any,
            list => Self::Only(
                list.split(',')
                    .map(|event| event.trim().to_lowercase())
                    .filter(|event| !event.is_empty())
                    .collect(),
            ),
        }
    }

    fn contains(&self, event: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(events) => events.iter().any(|e| e == event),
        }
    }
}

/// The estimate an event is about. Ids are unique per Sellsy account only, so `corpid`
/// is part of every Redis key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EstimateRef {
    /// The account, or `unknown` when the event has none.
    pub(crate) corpid: String,
    /// Digits only, as sent: it goes into a URL path and a Redis key.
    pub(crate) estimate_id: String,
    /// The same id as a number, as the invoice's `parent` sends it.
    pub(crate) parent_id: u64,
}

/// What an event means for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Classified {
    /// A docslog trigger event on an estimate: read the estimate.
    Trigger(EstimateRef),
    /// Nothing to do, and why (the job's `reason`).
    Skip(String),
}

/// Decides whether a job's Sellsy event (`job.data`) may lead to an invoice.
pub(crate) fn classify_event(data: &Value, triggers: &TriggerEvents) -> Classified {
    let skip = |reason: String| Classified::Skip(reason);
    if !(data.is_object() || data.is_array()) {
        return skip("no event data".to_owned());
    }
    let field = |name: &str| data.get(name);
    if lower(field("eventType")) != "docslog" {
        return skip(format!(
            "eventType {} is not docslog",
            js_text(field("eventType"))
        ));
    }
    if lower(field("relatedtype")) != "estimate" {
        let relatedtype = js_text(field("relatedtype"));
        return skip(format!("relatedtype {relatedtype} is not estimate"));
    }
    // The POC fired on every docslog event of the estimate (emailsent, paymentadd...);
    // only a status change can make an estimate accepted.
    if !triggers.contains(&lower(field("event"))) {
        return skip(format!(
            "event {} is not a trigger",
            js_text(field("event"))
        ));
    }
    let Some((estimate_id, parent_id)) = estimate_id(field("relatedid")) else {
        let shown = field("relatedid").map_or("undefined".to_owned(), Value::to_string);
        return skip(format!("invalid relatedid {shown}"));
    };
    // A missing corpid still gets a stable, visible key segment.
    let corpid = match field("corpid") {
        None | Some(Value::Null) => "unknown".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "unknown".to_owned(),
        corpid => js_text(corpid),
    };
    Classified::Trigger(EstimateRef {
        corpid,
        estimate_id,
        parent_id,
    })
}

/// `relatedid` arrives as a string or a number; digits only, small enough for Sellsy's
/// integer ids (the invoice body sends it back as a number).
fn estimate_id(relatedid: Option<&Value>) -> Option<(String, u64)> {
    let text = match relatedid? {
        Value::Null => return None,
        value => js_text(Some(value)),
    };
    let id = text.trim();
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id.to_owned(), id.parse().ok()?))
}

fn lower(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        value => js_text(value).to_lowercase(),
    }
}

/// A field as JavaScript's template strings print it, so messages and log lines read
/// the same as the Node worker's: strings bare, a missing field `undefined`.
pub(crate) fn js_text(value: Option<&Value>) -> String {
    match value {
        None => "undefined".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(overrides: Value) -> Value {
        let mut event = json!({
            "eventType": "docslog", "timestamp": "1732400123", "event": "step",
            "relatedid": "48213377", "relatedtype": "estimate", "ownerid": "204551",
            "ownertype": "staff", "corpid": "90812",
        });
        for (key, value) in overrides.as_object().unwrap() {
            match value {
                Value::Null => event.as_object_mut().unwrap().remove(key),
                value => event
                    .as_object_mut()
                    .unwrap()
                    .insert(key.clone(), value.clone()),
            };
        }
        event
    }

    fn step() -> TriggerEvents {
        TriggerEvents::parse("step")
    }

    fn reason(data: Value, triggers: &TriggerEvents) -> String {
        match classify_event(&data, triggers) {
            Classified::Skip(reason) => reason,
            trigger => panic!("expected a skip, got {trigger:?}"),
        }
    }

    #[test]
    fn docslog_step_events_on_estimates_trigger_case_insensitively() {
        let expected = EstimateRef {
            corpid: "90812".into(),
            estimate_id: "48213377".into(),
            parent_id: 48213377,
        };
        let trigger = |data| classify_event(&data, &step());
        assert_eq!(
            trigger(event(json!({}))),
            Classified::Trigger(expected.clone())
        );
        let shouted = json!({"eventType": "DocsLog", "relatedtype": "Estimate", "event": "STEP"});
        assert_eq!(
            trigger(event(shouted)),
            Classified::Trigger(expected.clone())
        );
        let numeric = json!({"relatedid": 48213377, "corpid": 90812});
        assert_eq!(trigger(event(numeric)), Classified::Trigger(expected));
        let Classified::Trigger(anonymous) = trigger(event(json!({"corpid": null}))) else {
            panic!("a missing corpid still triggers");
        };
        assert_eq!(anonymous.corpid, "unknown");
    }

    #[test]
    fn everything_else_is_skipped_with_the_node_reason() {
        let cases = [
            (
                event(json!({"eventType": "thirdlog"})),
                "eventType thirdlog is not docslog",
            ),
            (
                event(json!({"relatedtype": "invoice"})),
                "relatedtype invoice is not estimate",
            ),
            (
                event(json!({"event": "emailsent"})),
                "event emailsent is not a trigger",
            ),
            (
                event(json!({"relatedid": "12/../34"})),
                "invalid relatedid \"12/../34\"",
            ),
            (
                event(json!({"relatedid": null})),
                "invalid relatedid undefined",
            ),
            (json!({}), "eventType undefined is not docslog"),
            (json!(null), "no event data"),
            (json!("docslog"), "no event data"),
        ];
        for (data, expected) in cases {
            assert_eq!(reason(data, &step()), expected);
        }
    }

    #[test]
    fn star_restores_any_docslog_event_and_lists_are_normalised() {
        let any = TriggerEvents::parse(" * ");
        assert_eq!(any, TriggerEvents::Any);
        let emailsent = event(json!({"event": "emailsent"}));
        assert!(matches!(
            classify_event(&emailsent, &any),
            Classified::Trigger(_)
        ));
        let list = TriggerEvents::parse(" Step, EmailSent ,,");
        assert_eq!(
            list,
            TriggerEvents::Only(vec!["step".into(), "emailsent".into()])
        );
        assert!(matches!(
            classify_event(&emailsent, &list),
            Classified::Trigger(_)
        ));
    }
}
