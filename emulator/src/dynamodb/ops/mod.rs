//! One file per operation. Shared parameter handling lives here.

pub mod batch_get_item;
pub mod batch_write_item;
pub mod create_table;
pub mod delete_item;
pub mod delete_table;
pub mod describe_table;
pub mod get_item;
pub mod list_tables;
pub mod page;
pub mod put_item;
pub mod query;
pub mod scan;
pub mod time_to_live;
pub mod update_item;
pub mod update_table;

use std::sync::Arc;

use ddbrep_engine::model::{Item, Key};
use serde_json::json;

use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::Condition;
use crate::dynamodb::records::{self, Actor, ChangeEnv};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::catalog::Table;
use crate::storage::keys::KeyColumns;

/// `ReturnValues`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnValues {
    /// Nothing.
    None,
    /// The whole item before.
    AllOld,
    /// The changed attributes before.
    UpdatedOld,
    /// The whole item after.
    AllNew,
    /// The changed attributes after.
    UpdatedNew,
}

impl ReturnValues {
    /// Reads the parameter; `allowed` lists what the operation accepts besides NONE.
    pub fn parse(v: Option<&str>, allowed: &[ReturnValues]) -> Result<ReturnValues, DdbError> {
        let parsed = match v {
            None | Some("NONE") => return Ok(ReturnValues::None),
            Some("ALL_OLD") => ReturnValues::AllOld,
            Some("UPDATED_OLD") => ReturnValues::UpdatedOld,
            Some("ALL_NEW") => ReturnValues::AllNew,
            Some("UPDATED_NEW") => ReturnValues::UpdatedNew,
            Some(other) => {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
                )))
            }
        };
        if allowed.contains(&parsed) {
            Ok(parsed)
        } else {
            Err(DdbError::validation("Return values set to invalid value"))
        }
    }
}

/// `ReturnValuesOnConditionCheckFailure`: whether a failed condition returns the item.
pub fn return_old_on_failure(v: Option<&str>) -> Result<bool, DdbError> {
    match v {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(other) => Err(DdbError::validation(format!(
            "1 validation error detected: Value '{other}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        ))),
    }
}

/// The table named by a request, or ResourceNotFoundException.
pub fn table(svc: &Service, name: &str) -> Result<Arc<Table>, DdbError> {
    svc.storage
        .table(name)
        .ok_or_else(|| DdbError::table_not_found(name))
}

/// Refuses an item whose value for a secondary index's key attribute has the wrong type or is empty, as
/// DynamoDB does (an item without the attribute is simply not in the index).
pub fn check_index_keys(table: &Table, item: &Item) -> Result<(), DdbError> {
    use ddbrep_engine::model::Value;
    for (index, schema) in &table.index_keys {
        for attr in schema.attributes() {
            let Some(value) = item.get(&attr.name) else {
                continue;
            };
            let actual = value.value_type().tag();
            if actual != attr.ty.tag() {
                return Err(DdbError::validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {index}",
                    attr.name,
                    attr.ty.tag(),
                    actual
                )));
            }
            let empty = match value {
                Value::S(s) => s.is_empty(),
                Value::B(b) => b.is_empty(),
                _ => false,
            };
            if empty {
                return Err(DdbError::validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {index}, IndexKey: {}",
                    if actual == "S" { "string" } else { "binary" },
                    attr.name
                )));
            }
        }
    }
    Ok(())
}

/// One conditional single-item write (PutItem with `Some(item)`, DeleteItem with `None`): reads the current
/// item, checks the condition, applies the change. Returns the old item when ALL_OLD was asked for, and the
/// old item's size (for capacity).
#[allow(clippy::too_many_arguments)]
pub async fn write_one(
    svc: &Service,
    req: &Request,
    table: &Arc<Table>,
    key: Key,
    new: Option<Item>,
    condition: Option<Condition>,
    old_on_failure: bool,
    returns: ReturnValues,
) -> Result<(Option<Item>, usize), DdbError> {
    let region = svc.config.region.clone();
    let rng = svc.rng.clone();
    let policy = svc.config.shard_policy;
    let now = req.now;
    let table = Arc::clone(table);
    svc.storage
        .write(move |ctx| {
            let old =
                records::current(ctx.conn, &table, &KeyColumns::of(&key)).map_err(DdbError::internal)?;
            if let Some(condition) = &condition {
                let old_item = records::old_item(old.as_ref()).map_err(DdbError::internal)?;
                if !condition.evaluate(old_item) {
                    return Err(DdbError::condition_failed(
                        old_item.cloned().filter(|_| old_on_failure),
                    ));
                }
            }
            let env = ChangeEnv {
                region: &region,
                now,
                policy,
                rng: &rng,
            };
            records::apply(ctx, &env, &table, &key, old.as_ref(), new.as_ref(), Actor::User)
                .map_err(DdbError::internal)?;
            let returned = match returns {
                ReturnValues::AllOld => records::old_item(old.as_ref())
                    .map_err(DdbError::internal)?
                    .cloned(),
                _ => None,
            };
            Ok((returned, old.as_ref().map_or(0, records::Current::size)))
        })
        .await
        .map_err(DdbError::internal)?
}

/// The answer of a single-item write: `Attributes` (when returned) and `ConsumedCapacity` (when asked for)
/// for `size` bytes written.
pub fn write_output(
    attributes: Option<&Item>,
    capacity: wire::Capacity,
    table: &str,
    size: usize,
) -> Result<Vec<u8>, DdbError> {
    let mut out = json!({});
    if let Some(map) = out.as_object_mut() {
        if let Some(attributes) = attributes {
            map.insert(
                "Attributes".into(),
                serde_json::to_value(attributes).map_err(DdbError::internal)?,
            );
        }
        if let Some(c) = capacity.report(table, wire::write_units(size), false) {
            map.insert("ConsumedCapacity".into(), c);
        }
    }
    wire::output(&out)
}
