//! Reading the node's JSON answers in page code: a missing or mistyped field reads as empty,
//! never as a panic (the answers come from our own node, but a page must render whatever it
//! gets). One copy for every page module that renders answers.

use serde_json::Value;

/// The items of a list field (none if it is not a list).
pub fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// A text field ("" if it is not text).
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A number field (0 if it is not one).
pub fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}
