//! The DynamoDB JSON 1.0 protocol's plumbing: reading an operation's input, converting attribute-value
//! parameters with DynamoDB's error wording, and writing outputs.

use std::collections::BTreeMap;

use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, Key, KeySchema, Value};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value as Json;

use super::error::DdbError;

/// Reads an operation's input; a body that is not JSON of the operation's shape is a SerializationException.
pub fn input<T: DeserializeOwned>(body: &[u8]) -> Result<T, DdbError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| DdbError::serialization(e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| DdbError::serialization(e.to_string()))
}

/// An `Item` parameter: DynamoDB-JSON, every value rule checked.
pub fn item(json: &Json) -> Result<Item, DdbError> {
    ddb_json::item_from_json(json).map_err(|e| DdbError::from_model(&e))
}

/// An `Item` parameter kept as its text (`Box<RawValue>` in an input), decoded straight into the model by
/// the engine's streaming decoder, with no `serde_json::Value` tree in between (a map and a tag string per
/// attribute value, and a copy of every string: most of a BatchWriteItem's parsing). A refused item is
/// decoded again through the tree, so that its error is exactly [`item`]'s. (A missing `Box<RawValue>`
/// field is serde's "missing field" error, as a missing `Json` field is.)
pub fn item_text(raw: &RawValue) -> Result<Item, DdbError> {
    match ddb_json::parse_item(raw.get()) {
        Ok(item) => Ok(item),
        Err(_) => {
            let json: Json =
                serde_json::from_str(raw.get()).map_err(|e| DdbError::serialization(e.to_string()))?;
            item(&json)
        }
    }
}

/// A `Key` parameter: exactly the table's key attributes, valid.
pub fn key(json: &Json, schema: &KeySchema) -> Result<(Key, Item), DdbError> {
    let item = item(json)?;
    let key = schema
        .parse_key(&item)
        .map_err(|e| DdbError::from_key(&e, schema))?;
    Ok((key, item))
}

/// `ExpressionAttributeValues`: each a valid DynamoDB-JSON value.
pub fn values(json: &Option<BTreeMap<String, Json>>) -> Result<BTreeMap<String, Value>, DdbError> {
    let mut out = BTreeMap::new();
    for (name, v) in json.iter().flatten() {
        let value = ddb_json::value_from_json(v, 1).map_err(|e| DdbError::from_model(&e))?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// The JSON text of an output.
pub fn output<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, DdbError> {
    serde_json::to_vec(value).map_err(DdbError::internal)
}

/// Table names: 3 to 255 characters of `a-z A-Z 0-9 _ - .`
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>).
pub fn check_table_name(name: &str, field: &str) -> Result<(), DdbError> {
    let fail = |constraint: &str| {
        Err(DdbError::validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: {constraint}"
        )))
    };
    if name.len() < 3 {
        return fail("Member must have length greater than or equal to 3");
    }
    if name.len() > 255 {
        return fail("Member must have length less than or equal to 255");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return fail("Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    }
    Ok(())
}

/// `ReturnConsumedCapacity`: whether to report, and whether per index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// Not asked for.
    None,
    /// Total only.
    Total,
    /// Total and per index.
    Indexes,
}

impl Capacity {
    /// Reads the parameter.
    pub fn parse(v: Option<&str>) -> Result<Capacity, DdbError> {
        match v {
            None | Some("NONE") => Ok(Capacity::None),
            Some("TOTAL") => Ok(Capacity::Total),
            Some("INDEXES") => Ok(Capacity::Indexes),
            Some(other) => Err(DdbError::validation(format!(
                "1 validation error detected: Value '{other}' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
            ))),
        }
    }

    /// The `ConsumedCapacity` object for `units` on `table`, if asked for.
    pub fn report(self, table: &str, units: f64, read: bool) -> Option<Json> {
        let side = if read {
            "ReadCapacityUnits"
        } else {
            "WriteCapacityUnits"
        };
        match self {
            Capacity::None => None,
            Capacity::Total => {
                Some(serde_json::json!({"TableName": table, "CapacityUnits": units, side: units}))
            }
            Capacity::Indexes => Some(serde_json::json!({
                "TableName": table, "CapacityUnits": units, side: units,
                "Table": {"CapacityUnits": units, side: units}
            })),
        }
    }
}

/// Write capacity units for writing an item of `size` bytes: one per KB, rounded up, at least one
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html>).
pub fn write_units(size: usize) -> f64 {
    (size.div_ceil(1024).max(1)) as f64
}

/// Read capacity units for reading `size` bytes: one per 4 KB, rounded up, at least one; half for
/// eventually consistent reads.
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}
