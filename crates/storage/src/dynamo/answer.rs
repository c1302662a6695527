//! Answers written as JSON text rather than built as `serde_json::Value` trees: the read
//! path (GetItem, Query, Scan) writes each item once, straight into the response body,
//! instead of building a tree per item, serialising it and dropping it again.
//!
//! The text is byte for byte what `serde_json::to_vec` gives for the tree the same answer
//! has as a `Value` ([`super::types::item_to_json`] and the operations' `json!` objects):
//! no whitespace, object members in sorted order (serde_json's map is a `BTreeMap` here, and
//! items are `BTreeMap`s too), strings escaped by serde_json itself.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::types::{AttributeValue, Item};

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
pub(crate) fn string(s: &str, out: &mut Vec<u8>) {
    if !plain_ascii(s.as_bytes()) {
        // Writing to a `Vec` cannot fail, and a `str` always serialises.
        let _ = serde_json::to_writer(&mut *out, s);
        return;
    }
    quoted(s.as_bytes(), out);
}

/// Whether `b` is ASCII with nothing serde_json escapes (`"`, `\`, control characters):
/// then it is valid UTF-8 and its JSON string is itself in quotes. Most strings are; the
/// scan has no early exit, so the compiler vectorises it.
pub(crate) fn plain_ascii(b: &[u8]) -> bool {
    // `b - 0x20 >= 0x60` (wrapping) is `b < 0x20 || b >= 0x80` in one comparison.
    !b.iter().fold(false, |esc, &b| {
        esc | (b.wrapping_sub(0x20) >= 0x60) | (b == b'"') | (b == b'\\')
    })
}

/// Appends `b` in quotes, as it is (for [`plain_ascii`] bytes).
pub(crate) fn quoted(b: &[u8], out: &mut Vec<u8>) {
    out.reserve(b.len() + 2);
    out.push(b'"');
    out.extend_from_slice(b);
    out.push(b'"');
}

/// Appends a JSON value as serde_json writes it.
pub(crate) fn value(v: &Value, out: &mut Vec<u8>) {
    // As above: a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Appends an unsigned integer.
pub(crate) fn integer(n: usize, out: &mut Vec<u8>) {
    let _ = write!(out, "{n}");
}

/// Appends bytes as a JSON string of their base64 (which needs no escaping).
pub(crate) fn base64(b: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    out.extend_from_slice(BASE64.encode(b).as_bytes());
    out.push(b'"');
}

/// Appends an item's JSON form (`{"name":{"S":"x"},...}`).
pub fn item(item: &Item, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in item.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(k, out);
        out.push(b':');
        attribute(v, out);
    }
    out.push(b'}');
}

/// Appends one attribute value's JSON form (`{"S":"x"}`).
fn attribute(v: &AttributeValue, out: &mut Vec<u8>) {
    match v {
        AttributeValue::S(s) => {
            out.extend_from_slice(b"{\"S\":");
            string(s, out);
        }
        AttributeValue::N(n) => {
            let _ = write!(out, "{{\"N\":\"{n}\"");
        }
        AttributeValue::B(b) => {
            out.extend_from_slice(b"{\"B\":");
            base64(b, out);
        }
        AttributeValue::Bool(b) => {
            out.extend_from_slice(if *b {
                b"{\"BOOL\":true"
            } else {
                b"{\"BOOL\":false"
            });
        }
        AttributeValue::Null => out.extend_from_slice(b"{\"NULL\":true"),
        AttributeValue::M(m) => {
            out.extend_from_slice(b"{\"M\":");
            item(m, out);
        }
        AttributeValue::L(l) => {
            out.extend_from_slice(b"{\"L\":[");
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                attribute(v, out);
            }
            out.push(b']');
        }
        AttributeValue::Ss(v) => {
            out.extend_from_slice(b"{\"SS\":[");
            for (i, s) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(s, out);
            }
            out.push(b']');
        }
        AttributeValue::Ns(v) => {
            out.extend_from_slice(b"{\"NS\":[");
            for (i, n) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = write!(out, "\"{n}\"");
            }
            out.push(b']');
        }
        AttributeValue::Bs(v) => {
            out.extend_from_slice(b"{\"BS\":[");
            for (i, b) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                base64(b, out);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::super::number::Number;
    use super::super::types::item_to_json;
    use super::*;

    /// Attribute values of every type, nested a few levels, with names and strings that
    /// need escaping.
    pub(crate) fn attribute_value() -> impl Strategy<Value = AttributeValue> {
        let number = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            (-1e30f64..1e30).prop_map(|f| format!("{f}")),
            "-?[0-9]{1,20}(\\.[0-9]{1,17})?(e-?[0-9]{1,2})?",
        ]
        .prop_filter_map("in DynamoDB's range", |s| Number::parse(&s).ok());
        let leaf = prop_oneof![
            "\\PC{0,12}".prop_map(AttributeValue::S),
            "[\\x00-\\x1f\"\\\\/é€]{0,6}".prop_map(AttributeValue::S),
            number.clone().prop_map(AttributeValue::N),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(AttributeValue::B),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null),
            proptest::collection::btree_set("\\PC{0,6}", 1..4)
                .prop_map(|s| AttributeValue::Ss(s.into_iter().collect())),
            proptest::collection::vec(number, 1..4).prop_map(AttributeValue::Ns),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 1..4)
                .prop_map(AttributeValue::Bs),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
                proptest::collection::btree_map("[a-z\"\\\\\\x01]{0,5}", inner, 0..4)
                    .prop_map(AttributeValue::M),
            ]
        })
    }

    /// Items of a few attributes of any type.
    pub(crate) fn any_item() -> impl Strategy<Value = Item> {
        proptest::collection::btree_map("\\PC{1,8}", attribute_value(), 0..6)
    }

    proptest! {
        #[test]
        fn an_item_is_written_as_serde_json_writes_its_tree(item in any_item()) {
            let mut text = Vec::new();
            super::item(&item, &mut text);
            let tree = serde_json::to_vec(&item_to_json(&item)).unwrap();
            prop_assert_eq!(String::from_utf8(text).unwrap(), String::from_utf8(tree).unwrap());
        }
    }
}
