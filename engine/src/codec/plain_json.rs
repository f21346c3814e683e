//! Plain JSON, the DocumentClient convention the original's command line accepted: `{"id":"abc","n":1}`.
//!
//! Decoding maps string → S, number → N (exactly: serde_json keeps the number's text), boolean → BOOL,
//! null → NULL, array → L, object → M. Plain JSON has no binary and no sets, so encoding writes
//! B as its base64 text, SS and BS as arrays of strings (BS members base64), and NS as an array of numbers;
//! decoding that output gives S and L back. This projection is [`plain_projection`], and the round trip
//! `decode(encode(v)) == plain_projection(v)` holds for every value.
//!
//! Keys are the exception that can be exact: a key's types come from the table's key schema, so
//! [`key_from_plain`] reads a B key attribute's string as base64 and an N key from a number or a numeric
//! string. [`parse_key`] takes a key in either JSON form, as the command-line tools do.

use std::str::FromStr;

use base64::Engine as _;
use serde_json::Value as Json;

use super::{ddb_json, json_kind, DecodeError};
use crate::model::{
    Item, Key, KeySchema, Map, ModelError, ModelErrorKind, Number, PathSeg, ScalarType, Value, ValueType,
    MAX_NESTING_DEPTH,
};

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Parses an item from plain JSON text.
pub fn parse_item(text: &str) -> Result<Item, DecodeError> {
    let json: Json = serde_json::from_str(text).map_err(DecodeError::json)?;
    Ok(item_from_json(&json)?)
}

/// An item from a parsed plain-JSON object.
pub fn item_from_json(json: &Json) -> Result<Item, ModelError> {
    let Json::Object(object) = json else {
        return Err(ModelError::new(ModelErrorKind::WrongJson {
            expected: "an object of attributes",
            found: json_kind(json),
        }));
    };
    let mut map = Map::with_capacity_and_hasher(object.len(), Default::default());
    for (name, v) in object {
        map.insert(
            name.clone(),
            value_from_json(v, 1).map_err(|e| e.within(PathSeg::Attr(name.clone())))?,
        );
    }
    Ok(Item::from_map(map))
}

/// A value from parsed plain JSON; `depth` is its nesting level (1 for an item's attribute).
pub fn value_from_json(json: &Json, depth: usize) -> Result<Value, ModelError> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::N(Number::parse(&n.to_string())?),
        Json::String(s) => Value::S(s.clone()),
        Json::Array(array) => {
            if depth > MAX_NESTING_DEPTH {
                return Err(ModelError::new(ModelErrorKind::NestingTooDeep));
            }
            let mut list = Vec::with_capacity(array.len());
            for (i, v) in array.iter().enumerate() {
                list.push(value_from_json(v, depth + 1).map_err(|e| e.within(PathSeg::Index(i)))?);
            }
            Value::L(list)
        }
        Json::Object(object) => {
            if depth > MAX_NESTING_DEPTH {
                return Err(ModelError::new(ModelErrorKind::NestingTooDeep));
            }
            let mut map = Map::with_capacity_and_hasher(object.len(), Default::default());
            for (name, v) in object {
                let value =
                    value_from_json(v, depth + 1).map_err(|e| e.within(PathSeg::Attr(name.clone())))?;
                map.insert(name.clone(), value);
            }
            Value::M(map)
        }
    })
}

/// The plain JSON of an item, attributes in order.
pub fn item_to_json(item: &Item) -> Json {
    Json::Object(item.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}

/// The plain JSON of a value (binary as base64 text, sets as arrays).
pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::S(s) => Json::String(s.clone()),
        Value::N(n) => number_to_json(n),
        Value::B(b) => Json::String(BASE64.encode(b)),
        Value::Ss(set) => Json::Array(set.iter().cloned().map(Json::String).collect()),
        Value::Ns(set) => Json::Array(set.iter().map(number_to_json).collect()),
        Value::Bs(set) => Json::Array(set.iter().map(|b| Json::String(BASE64.encode(b))).collect()),
        Value::M(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect()),
        Value::L(list) => Json::Array(list.iter().map(value_to_json).collect()),
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
    }
}

fn number_to_json(n: &Number) -> Json {
    // The normalised text is always valid JSON number syntax, and serde_json keeps it verbatim.
    match serde_json::Number::from_str(&n.to_string()) {
        Ok(number) => Json::Number(number),
        Err(_) => Json::String(n.to_string()),
    }
}

/// Compact plain-JSON text of an item.
pub fn item_to_string(item: &Item) -> String {
    item_to_json(item).to_string()
}

/// Two-space indented plain-JSON text of an item (as `JSON.stringify(item, null, 2)` prints it).
pub fn item_to_pretty_string(item: &Item) -> String {
    serde_json::to_string_pretty(&item_to_json(item)).unwrap_or_default()
}

/// What a value becomes after a trip through plain JSON: B as its base64 S, SS/BS as an L of S, NS as an L
/// of N, recursively; everything else unchanged.
pub fn plain_projection(value: &Value) -> Value {
    match value {
        Value::B(b) => Value::S(BASE64.encode(b)),
        Value::Ss(set) => Value::L(set.iter().cloned().map(Value::S).collect()),
        Value::Ns(set) => Value::L(set.iter().cloned().map(Value::N).collect()),
        Value::Bs(set) => Value::L(set.iter().map(|b| Value::S(BASE64.encode(b))).collect()),
        Value::M(map) => Value::M(
            map.iter()
                .map(|(k, v)| (k.clone(), plain_projection(v)))
                .collect(),
        ),
        Value::L(list) => Value::L(list.iter().map(plain_projection).collect()),
        other => other.clone(),
    }
}

/// A key from plain JSON, typed by the key schema: an S attribute from a string, an N attribute from a
/// number or a numeric string, a B attribute from a base64 string. Exactly the key attributes.
pub fn key_from_plain(json: &Json, schema: &KeySchema) -> Result<Key, DecodeError> {
    let Json::Object(object) = json else {
        return Err(ModelError::new(ModelErrorKind::WrongJson {
            expected: "a key object",
            found: json_kind(json),
        })
        .under("key")
        .into());
    };
    let mut item = Item::new();
    for (name, v) in object {
        let Some(attr) = schema.attributes().find(|a| &a.name == name) else {
            return Err(crate::model::KeyError::Extra { name: name.clone() }.into());
        };
        let at = |e: ModelError| e.within(PathSeg::Attr(name.clone())).under("key");
        let wrong = |expected| {
            ModelError::new(ModelErrorKind::WrongJson {
                expected,
                found: json_kind(v),
            })
        };
        let value = match (attr.ty, v) {
            (ScalarType::S, Json::String(s)) => Value::S(s.clone()),
            (ScalarType::S, _) => return Err(at(wrong("a string")).into()),
            (ScalarType::N, Json::Number(n)) => {
                Value::N(Number::parse(&n.to_string()).map_err(|e| at(e.into()))?)
            }
            (ScalarType::N, Json::String(s)) => Value::N(Number::parse(s).map_err(|e| at(e.into()))?),
            (ScalarType::N, _) => return Err(at(wrong("a number")).into()),
            (ScalarType::B, Json::String(s)) => Value::B(BASE64.decode(s).map_err(|e| {
                at(ModelError::new(ModelErrorKind::InvalidBase64(e.to_string()))
                    .within(PathSeg::Tag(ValueType::B)))
            })?),
            (ScalarType::B, _) => return Err(at(wrong("a base64 string")).into()),
        };
        item.insert(name.clone(), value);
    }
    Ok(schema.parse_key(&item)?)
}

/// A key as the command-line tools take it: plain JSON (`{"id":"abc"}`) or DynamoDB-JSON
/// (`{"id":{"S":"abc"}}`). Key attributes are never maps, so an object value means DynamoDB-JSON.
pub fn parse_key(text: &str, schema: &KeySchema) -> Result<Key, DecodeError> {
    let json: Json = serde_json::from_str(text).map_err(DecodeError::json)?;
    let dynamodb_json = match &json {
        Json::Object(object) => object.values().any(Json::is_object),
        _ => false,
    };
    if dynamodb_json {
        let item = ddb_json::item_from_json(&json).map_err(|e| e.under("key"))?;
        Ok(schema.parse_key(&item)?)
    } else {
        key_from_plain(&json, schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_exact() {
        let text = r#"{"big":123456789012345678901234567890.12345678,"tiny":1E-130,"neg":-0.5}"#;
        let item = parse_item(text).unwrap();
        assert_eq!(
            item_to_string(&item),
            format!(
                r#"{{"big":123456789012345678901234567890.12345678,"tiny":0.{}1,"neg":-0.5}}"#,
                "0".repeat(129)
            )
        );
        assert!(parse_item(r#"{"n":1e400}"#).is_err());
    }

    #[test]
    fn maps_types_the_documentclient_way() {
        let item = parse_item(r#"{"s":"x","n":1,"t":true,"z":null,"l":[1,"a"],"m":{"k":"v"}}"#).unwrap();
        assert_eq!(item.get("s"), Some(&Value::from("x")));
        assert_eq!(item.get("t"), Some(&Value::Bool(true)));
        assert_eq!(item.get("z"), Some(&Value::Null));
        assert!(matches!(item.get("l"), Some(Value::L(l)) if l.len() == 2));
        assert!(matches!(item.get("m"), Some(Value::M(_))));
    }

    #[test]
    fn binary_and_sets_print_as_base64_and_arrays() {
        let item: Item = [
            ("b", Value::B(b"hello world".to_vec())),
            ("ss", Value::Ss(vec!["a".into()])),
            ("ns", Value::Ns(vec![Number::from(2i64)])),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            item_to_string(&item),
            r#"{"b":"aGVsbG8gd29ybGQ=","ss":["a"],"ns":[2]}"#
        );
        assert_eq!(
            item_to_pretty_string(&item),
            "{\n  \"b\": \"aGVsbG8gd29ybGQ=\",\n  \"ss\": [\n    \"a\"\n  ],\n  \"ns\": [\n    2\n  ]\n}"
        );
    }

    #[test]
    fn keys_take_either_form_typed_by_the_schema() {
        let schema = KeySchema::composite("hash", ScalarType::S, "range", ScalarType::N);
        let plain = parse_key(r#"{"hash":"hash1","range":"1.0"}"#, &schema).unwrap();
        let ddb = parse_key(r#"{"hash":{"S":"hash1"},"range":{"N":"1"}}"#, &schema).unwrap();
        assert_eq!(plain, ddb);
        let bin = KeySchema::partition_only("id", ScalarType::B);
        let key = parse_key(r#"{"id":"aGVsbG8="}"#, &bin).unwrap();
        assert_eq!(key.partition.value, crate::model::KeyValue::B(b"hello".to_vec()));
        assert!(matches!(
            parse_key(r#"{"hash":"h"}"#, &schema),
            Err(DecodeError::Key(_))
        ));
        assert!(matches!(
            parse_key(r#"{"hash":"h","range":1,"x":2}"#, &schema),
            Err(DecodeError::Key(_))
        ));
        let e = parse_key(r#"{"hash":1,"range":1}"#, &schema).unwrap_err();
        assert_eq!(e.to_string(), "key.hash: expected a string, found a number");
        assert!(matches!(parse_key("{", &schema), Err(DecodeError::Json(_))));
    }
}
