//! Test support for this crate and the others (feature `testing`): proptest strategies for values,
//! items and keys that cover every type and DynamoDB's edge cases (38-digit numbers, extreme exponents,
//! empty strings and binary, non-ASCII text, deep nesting).

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

use crate::model::{Item, KeyValue, Map, Number, Value};

/// Any valid DynamoDB number, weighted towards the edges: 38 digits, the largest and smallest exponents,
/// zero, negatives.
pub fn number() -> impl Strategy<Value = Number> {
    let digits = "[1-9][0-9]{0,37}";
    let exact = (any::<bool>(), digits, -130i32..=125).prop_filter_map("in range", |(neg, d, exp)| {
        // d as the mantissa d₁.d₂…, times 10^exp: exp is the leading digit's exponent.
        let (first, rest) = d.split_at(1);
        let text = format!("{}{first}.{rest}e{exp}", if neg { "-" } else { "" });
        Number::parse(&text).ok()
    });
    prop_oneof![
        4 => exact,
        2 => any::<i64>().prop_map(Number::from),
        1 => Just(Number::zero()),
        1 => Just(Number::parse("9.9999999999999999999999999999999999999E+125").unwrap_or_else(|_| Number::zero())),
        1 => Just(Number::parse("-1E-130").unwrap_or_else(|_| Number::zero())),
    ]
}

/// Any string: mostly short, with non-ASCII and control characters.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9]{0,8}",
        1 => any::<String>(),
        1 => "[\\u{0}-\\u{1f}\"\\\\/\\u{7f}\\u{2028}\\u{fffd}\\u{1f600}]{0,6}",
    ]
}

/// Any binary.
pub fn binary() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..12)
}

/// Any scalar or set value (no M or L).
pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        string().prop_map(Value::S),
        number().prop_map(Value::N),
        binary().prop_map(Value::B),
        btree_set(string(), 1..5).prop_map(|s| Value::Ss(s.into_iter().collect())),
        btree_set(number(), 1..5).prop_map(|s| Value::Ns(s.into_iter().collect())),
        btree_set(binary(), 1..5).prop_map(|s| Value::Bs(s.into_iter().collect())),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
    ]
}

/// Any valid value, nesting M and L a few levels deep.
pub fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::L),
            vec((string(), inner), 0..6).prop_map(|entries| Value::M(entries.into_iter().collect::<Map>())),
        ]
    })
}

/// Any valid item of up to `max_attributes` attributes.
pub fn item(max_attributes: usize) -> impl Strategy<Value = Item> {
    vec((string(), value()), 0..=max_attributes).prop_map(|attrs| attrs.into_iter().collect::<Item>())
}

/// Any valid key value (non-empty S and B).
pub fn key_value() -> impl Strategy<Value = KeyValue> {
    prop_oneof![
        "[a-zA-Z0-9\\u{80}-\\u{10ffff}]{1,8}".prop_map(KeyValue::S),
        number().prop_map(KeyValue::N),
        vec(any::<u8>(), 1..8).prop_map(KeyValue::B),
    ]
}
