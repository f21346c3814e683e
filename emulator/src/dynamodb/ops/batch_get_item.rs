//! BatchGetItem: up to 100 keys over one or more tables; answers at most 16 MB, the rest in UnprocessedKeys
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html>).

use std::collections::{BTreeMap, BTreeSet};

use ddbrep_engine::codec::ddb_json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value as Json};

use super::table;
use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::Exprs;
use crate::dynamodb::{wire, Request, Service};
use crate::storage::items;
use crate::storage::keys::KeyColumns;

/// Most keys in one call.
const MAX_KEYS: usize = 100;
/// Most bytes of items in one answer.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    request_items: BTreeMap<String, KeysAndAttributes>,
    return_consumed_capacity: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
struct KeysAndAttributes {
    keys: Vec<Json>,
    consistent_read: Option<bool>,
    projection_expression: Option<String>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    attributes_to_get: Option<Json>,
}

pub fn run(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let total: usize = input.request_items.values().map(|k| k.keys.len()).sum();
    if input.request_items.is_empty() || input.request_items.values().any(|k| k.keys.is_empty()) {
        return Err(DdbError::validation(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    if total > MAX_KEYS {
        return Err(DdbError::validation(
            "Too many items requested for the BatchGetItem call",
        ));
    }
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut plans = Vec::new();
    for (name, request) in &input.request_items {
        let table = table(svc, name)?;
        if request.attributes_to_get.is_some() {
            return Err(DdbError::validation(
                "The legacy parameter AttributesToGet is not supported yet; use ProjectionExpression",
            ));
        }
        let mut exprs = Exprs::new(&request.expression_attribute_names, &None)?;
        let projection = exprs.projection(request.projection_expression.as_deref())?;
        exprs.finish()?;
        let mut seen = BTreeSet::new();
        let mut keys = Vec::new();
        for (raw, key_json) in request.keys.iter().enumerate() {
            let (key, _) = wire::key(key_json, &table.key)?;
            let cols = KeyColumns::of(&key);
            if !seen.insert(cols.clone()) {
                return Err(DdbError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
            keys.push((raw, cols));
        }
        plans.push((name.clone(), table, request.clone(), projection, keys));
    }

    let mut responses = BTreeMap::new();
    let mut unprocessed = serde_json::Map::new();
    let mut bytes = 0usize;
    let mut reports = Vec::new();
    for (name, table, request, projection, keys) in plans {
        let mut found = Vec::new();
        let mut left = Vec::new();
        let mut read_bytes = 0usize;
        // One connection and one read snapshot for the table's keys, up to the answer's size limit.
        let stored = svc
            .storage
            .read_snapshot(|c| {
                let mut out = Vec::with_capacity(keys.len());
                let mut taken = bytes;
                for (raw, cols) in &keys {
                    if taken >= MAX_RESPONSE_BYTES {
                        out.push((*raw, None, true));
                        continue;
                    }
                    let item = items::get(c, table.meta.id, cols)?;
                    taken += item.as_ref().map_or(0, |i| i.json.len());
                    out.push((*raw, item, false));
                }
                Ok(out)
            })
            .map_err(DdbError::internal)?;
        for (raw, stored, over) in stored {
            if over {
                left.push(request.keys[raw].clone());
                continue;
            }
            if let Some(stored) = stored {
                bytes += stored.json.len();
                read_bytes += usize::try_from(stored.size).unwrap_or(0);
                found.push(match &projection {
                    // The stored text is the item's DynamoDB JSON exactly as the answer writes it.
                    None => RawValue::from_string(stored.json).map_err(DdbError::internal)?,
                    Some(p) => {
                        let item = ddb_json::parse_item(&stored.json).map_err(DdbError::internal)?;
                        serde_json::value::to_raw_value(&p.apply(&item)).map_err(DdbError::internal)?
                    }
                });
            }
        }
        responses.insert(name.clone(), found);
        if !left.is_empty() {
            let mut again = json!({ "Keys": left });
            if let Some(map) = again.as_object_mut() {
                if let Some(p) = &request.projection_expression {
                    map.insert("ProjectionExpression".into(), json!(p));
                }
                if let Some(n) = &request.expression_attribute_names {
                    map.insert("ExpressionAttributeNames".into(), json!(n));
                }
                if let Some(c) = request.consistent_read {
                    map.insert("ConsistentRead".into(), json!(c));
                }
            }
            unprocessed.insert(name.clone(), again);
        }
        let units = wire::read_units(read_bytes, request.consistent_read.unwrap_or(false));
        reports.extend(capacity.report(&name, units, true));
    }
    wire::output(&Answer {
        responses,
        unprocessed_keys: unprocessed,
        consumed_capacity: (capacity != wire::Capacity::None).then_some(reports),
    })
}

/// The answer, in AWS's field order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    responses: BTreeMap<String, Vec<Box<RawValue>>>,
    unprocessed_keys: serde_json::Map<String, Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<Json>>,
}
