//! The engine's model ↔ aws-sdk-dynamodb's `AttributeValue`, exactly: numbers stay their decimal text, binary
//! stays raw bytes, sets stay sets.
//!
//! The SDK hands items over as `HashMap`s, so the attribute order DynamoDB sent is gone by the time we see
//! it; items read through the SDK are ordered by attribute name (at every map level), which makes dumps and
//! backup bodies deterministic.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use ddbrep_engine::model::{Item, Key, Map, Number, Value};

/// An `AttributeValue` the model cannot hold (a malformed number from the server, an unknown type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable attribute {path}: {reason}")]
pub struct ConvertError {
    /// Where: the attribute name (and nested path).
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// An engine value as the SDK's.
pub fn to_sdk(value: &Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s.clone()),
        Value::N(n) => AttributeValue::N(n.to_string()),
        Value::B(b) => AttributeValue::B(Blob::new(b.clone())),
        Value::Ss(v) => AttributeValue::Ss(v.clone()),
        Value::Ns(v) => AttributeValue::Ns(v.iter().map(Number::to_string).collect()),
        Value::Bs(v) => AttributeValue::Bs(v.iter().map(|b| Blob::new(b.clone())).collect()),
        Value::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_sdk(v))).collect()),
        Value::L(l) => AttributeValue::L(l.iter().map(to_sdk).collect()),
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
    }
}

/// An engine item as the SDK's map.
pub fn item_to_sdk(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_sdk(v))).collect()
}

/// A key as the SDK's map.
pub fn key_to_sdk(key: &Key) -> HashMap<String, AttributeValue> {
    item_to_sdk(&key.to_item())
}

fn number(text: &str, path: &str) -> Result<Number, ConvertError> {
    Number::parse(text).map_err(|e| ConvertError {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// An SDK value in the model.
pub fn from_sdk(value: &AttributeValue, path: &str) -> Result<Value, ConvertError> {
    Ok(match value {
        AttributeValue::S(s) => Value::S(s.clone()),
        AttributeValue::N(n) => Value::N(number(n, path)?),
        AttributeValue::B(b) => Value::B(b.as_ref().to_vec()),
        AttributeValue::Ss(v) => Value::Ss(v.clone()),
        AttributeValue::Ns(v) => Value::Ns(v.iter().map(|n| number(n, path)).collect::<Result<_, _>>()?),
        AttributeValue::Bs(v) => Value::Bs(v.iter().map(|b| b.as_ref().to_vec()).collect()),
        AttributeValue::M(m) => Value::M(map_from_sdk(m, path)?),
        AttributeValue::L(l) => Value::L(
            l.iter()
                .enumerate()
                .map(|(i, v)| from_sdk(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        _ => {
            return Err(ConvertError {
                path: path.to_owned(),
                reason: "a type this version of the SDK does not know".into(),
            })
        }
    })
}

fn sorted(map: &HashMap<String, AttributeValue>) -> Vec<(&String, &AttributeValue)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

fn map_from_sdk(map: &HashMap<String, AttributeValue>, path: &str) -> Result<Map, ConvertError> {
    let mut out = Map::default();
    for (k, v) in sorted(map) {
        out.insert(k.clone(), from_sdk(v, &format!("{path}.{k}"))?);
    }
    Ok(out)
}

/// An SDK value in the model, taking its strings and bytes instead of copying them (what the drivers do with
/// the items of a Scan page or a BatchGetItem answer, which they own).
pub fn from_sdk_owned(value: AttributeValue, path: &str) -> Result<Value, ConvertError> {
    Ok(match value {
        AttributeValue::S(s) => Value::S(s),
        AttributeValue::N(n) => Value::N(number(&n, path)?),
        AttributeValue::B(b) => Value::B(b.into_inner()),
        AttributeValue::Ss(v) => Value::Ss(v),
        AttributeValue::Ns(v) => Value::Ns(v.iter().map(|n| number(n, path)).collect::<Result<_, _>>()?),
        AttributeValue::Bs(v) => Value::Bs(v.into_iter().map(Blob::into_inner).collect()),
        AttributeValue::M(m) => {
            let mut out = Map::default();
            for (k, v) in sorted_owned(m) {
                let value = from_sdk_owned(v, &format!("{path}.{k}"))?;
                out.insert(k, value);
            }
            Value::M(out)
        }
        AttributeValue::L(l) => Value::L(
            l.into_iter()
                .enumerate()
                .map(|(i, v)| from_sdk_owned(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        other => from_sdk(&other, path)?,
    })
}

fn sorted_owned(map: HashMap<String, AttributeValue>) -> Vec<(String, AttributeValue)> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// [`item_from_sdk`] of an item the caller owns, without copying its strings and bytes.
pub fn item_from_sdk_owned(map: HashMap<String, AttributeValue>) -> Result<Item, ConvertError> {
    let mut item = Item::new();
    for (k, v) in sorted_owned(map) {
        let value = from_sdk_owned(v, &k)?;
        item.insert(k, value);
    }
    Ok(item)
}

/// An SDK item in the model, attributes in name order.
pub fn item_from_sdk(map: &HashMap<String, AttributeValue>) -> Result<Item, ConvertError> {
    let mut item = Item::new();
    for (k, v) in sorted(map) {
        item.insert(k.clone(), from_sdk(v, k)?);
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbrep_engine::codec::ddb_json;

    #[test]
    fn every_type_round_trips_exactly() {
        let text = r#"{"a":{"B":"aGVsbG8="},"b":{"BOOL":true},"bs":{"BS":["AA==","AQ=="]},"l":{"L":[{"N":"1"},{"NULL":true}]},"m":{"M":{"x":{"S":"y"},"z":{"N":"-0.000000000000000000000000000000000000001"}}},"n":{"N":"12345678901234567890123456789012345678"},"ns":{"NS":["1","2.5"]},"s":{"S":"é"},"ss":{"SS":["p","q"]}}"#;
        let item = ddb_json::parse_item(text).unwrap();
        let back = item_from_sdk(&item_to_sdk(&item)).unwrap();
        assert_eq!(ddb_json::item_to_string(&back), text);
        let owned = item_from_sdk_owned(item_to_sdk(&item)).unwrap();
        assert_eq!(ddb_json::item_to_string(&owned), text);
    }

    #[test]
    fn a_malformed_number_names_its_attribute() {
        let mut map = HashMap::new();
        map.insert(
            "m".to_owned(),
            AttributeValue::M([("n".to_owned(), AttributeValue::N("1e999".into()))].into()),
        );
        let e = item_from_sdk(&map).unwrap_err();
        assert_eq!(e.path, "m.n");
        assert_eq!(item_from_sdk_owned(map).unwrap_err(), e);
    }
}
