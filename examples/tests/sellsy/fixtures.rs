//! Sellsy-shaped test data, the same as node-worker-compat/test/support/fixtures.js.

use serde_json::{Value, json};

pub(crate) const CLIENT_ID: &str = "test-client";
pub(crate) const CLIENT_SECRET: &str = "test-secret";
/// The id the fake gives every created invoice.
pub(crate) const INVOICE_ID: u64 = 9001;
pub(crate) const RECORD_KEY: &str = "bull:sellsy:invoice-for-estimate:90812:48213377";
pub(crate) const LOCK_KEY: &str = "bull:sellsy:invoice-lock:90812:48213377";

/// A docslog step event on estimate 48213377 of account 90812, with `overrides` merged in.
pub(crate) fn event(overrides: Value) -> Value {
    let mut event = json!({
        "eventType": "docslog",
        "timestamp": "1732400123",
        "event": "step",
        "relatedid": "48213377",
        "relatedtype": "estimate",
        "ownerid": "204551",
        "ownertype": "staff",
        "corpid": "90812",
    });
    merge(&mut event, overrides);
    event
}

/// The `GET /v2/estimates/48213377` answer, with read-only fields that must not be sent back.
pub(crate) fn estimate(overrides: Value) -> Value {
    let mut estimate = json!({
        "id": 48213377,
        "number": "DEV-2024-01137",
        "status": "accepted",
        "date": "2024-11-23",
        "expiry_date": "2024-12-23",
        "subject": "Refonte site e-commerce",
        "currency": "EUR",
        "related": [
            {"id": 7311820, "type": "company"},
            {"id": 4411, "type": "contact"},
            {"id": 9922, "type": "opportunity"},
            {"id": 1, "type": "staff"},
        ],
        "amounts": {"total_raw_excl_tax": "250.00", "total_incl_tax": "300.00"},
        "discount": {"type": "percent", "value": "5", "total": "12.50"},
        "rows": [
            {
                "id": 501, "type": "catalog",
                "related": {"id": 10, "type": "product", "declination_id": null},
                "reference": "WID-1", "description": "Widget", "unit_amount": "100.00",
                "quantity": "2", "tax_id": 3,
                "discount": {"type": "percent", "value": "10", "total": "20.00"},
                "amount_tax_exc": "180.00", "amount_tax_inc": "216.00", "tax_rate": "20.00",
                "tax_amount": "36.00", "tax_label": "TVA 20%",
                "created": "2024-11-20T10:00:00+01:00", "updated": "2024-11-21T10:00:00+01:00",
            },
            {"id": 502, "type": "comment", "text": "Livraison sous 15 jours"},
            {
                "id": 503, "type": "single", "reference": "SRV", "description": "Mise en service",
                "unit_amount": "70.00", "quantity": "1", "tax_id": 3, "amounts": {"total": "70.00"},
            },
        ],
    });
    merge(&mut estimate, overrides);
    estimate
}

/// What `POST /v2/invoices` must receive for `estimate(json!({}))`.
pub(crate) fn expected_invoice_body() -> Value {
    json!({
        "parent": {"type": "estimate", "id": 48213377},
        "related": [
            {"id": 7311820, "type": "company"},
            {"id": 4411, "type": "contact"},
            {"id": 9922, "type": "opportunity"},
        ],
        "rows": [
            {
                "type": "catalog",
                "related": {"id": 10, "type": "product", "declination_id": null},
                "reference": "WID-1", "description": "Widget", "unit_amount": "100.00",
                "quantity": "2", "tax_id": 3, "discount": {"type": "percent", "value": "10"},
            },
            {"type": "comment", "text": "Livraison sous 15 jours"},
            {
                "type": "single", "reference": "SRV", "description": "Mise en service",
                "unit_amount": "70.00", "quantity": "1", "tax_id": 3,
            },
        ],
        "currency": "EUR",
        "subject": "Refonte site e-commerce",
        "discount": {"type": "percent", "value": "5"},
    })
}

/// A Sellsy error body (sellsy.md §5.6).
pub(crate) fn sellsy_error(code: u16, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "context": "fake", "details": {}}})
}

/// Sets each key of `overrides` in `target`; `null` removes the key.
fn merge(target: &mut Value, overrides: Value) {
    let target = target.as_object_mut().expect("fixtures are objects");
    for (key, value) in overrides.as_object().expect("overrides are objects") {
        match value {
            Value::Null => target.remove(key),
            value => target.insert(key.clone(), value.clone()),
        };
    }
}
