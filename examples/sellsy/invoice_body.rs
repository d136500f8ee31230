//! How an estimate (API V2 `EstimateOne`) becomes a `POST /invoices` body
//! (node-worker-compat/lib/invoice.js, `buildInvoiceBody`; sellsy.md §5.4).
//!
//! Deliberately minimal:
//! - `parent` = `{type: "estimate", id}` with the id as a number;
//! - `related` = the estimate's company, individual, contact and opportunity entries, as
//!   `{id, type}` (InvoiceCreate refuses the others);
//! - `rows` = the estimate's rows, same types, read-only fields dropped, so catalog links,
//!   comments, titles and sub-totals survive;
//! - `currency`, `subject` copied when present, and the global `discount` `{type, value}`
//!   (else totals would differ).
//!
//! Not copied: `date` (an invoice is dated the day it is issued, Sellsy's default),
//! numbers, amounts, status, addresses and everything else Sellsy derives.

use serde_json::{Map, Value, json};

const RELATED_TYPES: [&str; 4] = ["company", "individual", "contact", "opportunity"];

/// Row fields Sellsy computes or owns: sending them back is at best ignored, at worst a
/// 400 (the POC's first attempts).
const READ_ONLY_ROW_FIELDS: [&str; 10] = [
    "id",
    "amounts",
    "amount_tax_inc",
    "amount_tax_exc",
    "tax_amount",
    "tax_rate",
    "tax_label",
    "total",
    "created",
    "updated",
];

/// Builds the invoice body for `estimate`, read from the API, whose id is `estimate_id`.
pub(crate) fn build_invoice_body(estimate: &Value, estimate_id: u64) -> Value {
    let mut body = Map::new();
    body.insert(
        "parent".into(),
        json!({"type": "estimate", "id": estimate_id}),
    );
    body.insert("related".into(), related(estimate.get("related")));
    let rows = array(estimate.get("rows")).iter().map(copy_row).collect();
    body.insert("rows".into(), Value::Array(rows));
    for field in ["currency", "subject"] {
        if let Some(value) = present(estimate.get(field)) {
            body.insert(field.into(), value.clone());
        }
    }
    let discount = estimate.get("discount").filter(|d| d.is_object());
    let input = discount.map(|d| (present(d.get("type")), present(d.get("value"))));
    if let Some((Some(kind), Some(value))) = input {
        body.insert("discount".into(), json!({"type": kind, "value": value}));
    }
    Value::Object(body)
}

fn related(entries: Option<&Value>) -> Value {
    let accepted = |entry: &&Value| {
        let kind = entry.get("type").and_then(Value::as_str);
        kind.is_some_and(|kind| RELATED_TYPES.contains(&kind))
    };
    let entries = array(entries).iter().filter(accepted).map(|entry| {
        let mut out = Map::new();
        // JSON.stringify drops an undefined id; so do we.
        if let Some(id) = entry.get("id") {
            out.insert("id".into(), id.clone());
        }
        out.insert("type".into(), entry["type"].clone());
        Value::Object(out)
    });
    Value::Array(entries.collect())
}

fn copy_row(row: &Value) -> Value {
    let Some(fields) = row.as_object() else {
        return row.clone();
    };
    let kept = fields
        .iter()
        .filter(|(key, _)| !READ_ONLY_ROW_FIELDS.contains(&key.as_str()) && !key.starts_with('_'));
    let copied = kept.map(|(key, value)| {
        let value = match value {
            // A row discount's `total` is computed; its type and value are the input.
            Value::Object(discount) if key == "discount" => {
                let mut discount = discount.clone();
                discount.remove("total");
                Value::Object(discount)
            }
            value => value.clone(),
        };
        (key.clone(), value)
    });
    Value::Object(copied.collect())
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// `value != null` in JavaScript: present and not null.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|value| !value.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_estimate_gives_parent_and_empty_lists() {
        let body = build_invoice_body(&json!({"id": 7, "status": "accepted"}), 7);
        let expected = json!({"parent": {"type": "estimate", "id": 7}, "related": [], "rows": []});
        assert_eq!(body, expected);
        // Key order is the one Node sends (serde_json keeps insertion order here).
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["parent", "related", "rows"]);
    }

    #[test]
    fn related_keeps_the_types_invoice_create_accepts() {
        let estimate = json!({"related": [
            {"id": 1, "type": "company", "name": "ACME"}, {"id": 2, "type": "staff"},
            {"id": 3, "type": "contact"}, {"type": "opportunity"}, null, {"id": 5},
        ]});
        let body = build_invoice_body(&estimate, 1);
        let expected = json!([{"id": 1, "type": "company"}, {"id": 3, "type": "contact"},
                              {"type": "opportunity"}]);
        assert_eq!(body["related"], expected);
    }

    #[test]
    fn rows_lose_read_only_fields_and_discount_totals_only() {
        let estimate = json!({"rows": [
            {"id": 501, "type": "catalog", "related": {"id": 10, "type": "product"},
             "unit_amount": "100.00", "discount": {"type": "percent", "value": "10", "total": "20"},
             "amount_tax_exc": "180", "amount_tax_inc": "216", "tax_rate": "20", "tax_amount": "36",
             "tax_label": "TVA", "total": "180", "amounts": {}, "created": "c", "updated": "u",
             "_embed": {}},
            {"id": 502, "type": "comment", "text": "Livraison sous 15 jours"},
        ]});
        let rows = &build_invoice_body(&estimate, 1)["rows"];
        let expected = json!([
            {"type": "catalog", "related": {"id": 10, "type": "product"}, "unit_amount": "100.00",
             "discount": {"type": "percent", "value": "10"}},
            {"type": "comment", "text": "Livraison sous 15 jours"},
        ]);
        assert_eq!(rows, &expected);
    }

    #[test]
    fn currency_subject_and_a_complete_discount_are_copied() {
        let estimate = json!({"currency": "EUR", "subject": "Refonte", "date": "2024-11-23",
                              "number": "DEV-1", "discount": {"type": "percent", "value": "5", "total": "1"}});
        let body = build_invoice_body(&estimate, 48213377);
        let expected = json!({"parent": {"type": "estimate", "id": 48213377}, "related": [], "rows": [],
                              "currency": "EUR", "subject": "Refonte",
                              "discount": {"type": "percent", "value": "5"}});
        assert_eq!(body, expected);
        let half = json!({"currency": null, "discount": {"type": "percent", "value": null}});
        assert_eq!(build_invoice_body(&half, 1).as_object().unwrap().len(), 3);
    }
}
