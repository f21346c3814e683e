//! Query: the items of one partition of a table or index, in sort-key order (or reversed), narrowed by the
//! key condition, a page at a time.

use std::collections::BTreeMap;
use std::ops::Bound;

use ddbrep_engine::model::KeyValue;
use serde::Deserialize;
use serde_json::Value as Json;

use super::page::{self, Page, Select};
use super::table;
use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::{Exprs, SortCondition};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::items::{self, IndexPartition};
use crate::storage::keys::{encode, partition_hash, KeyColumns};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    index_name: Option<String>,
    key_condition_expression: Option<String>,
    filter_expression: Option<String>,
    projection_expression: Option<String>,
    select: Option<String>,
    limit: Option<i64>,
    exclusive_start_key: Option<Json>,
    scan_index_forward: Option<bool>,
    consistent_read: Option<bool>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    expression_attribute_values: Option<BTreeMap<String, Json>>,
    return_consumed_capacity: Option<String>,
    key_conditions: Option<Json>,
    query_filter: Option<Json>,
    attributes_to_get: Option<Json>,
}

pub fn run(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let table = table(svc, &input.table_name)?;
    if input.key_conditions.is_some() || input.query_filter.is_some() || input.attributes_to_get.is_some() {
        return Err(DdbError::validation(
            "The legacy parameters KeyConditions, QueryFilter and AttributesToGet are not supported yet; use KeyConditionExpression, FilterExpression and ProjectionExpression",
        ));
    }
    let index = page::read_index(&table, input.index_name.as_deref(), input.consistent_read)?;
    let schema = index.map(|(_, k)| k).unwrap_or(&table.key);
    let text = input.key_condition_expression.as_deref().ok_or_else(|| {
        DdbError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        )
    })?;
    let limit = page::limit(input.limit)?;
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut exprs = Exprs::new(
        &input.expression_attribute_names,
        &input.expression_attribute_values,
    )?;
    let key_condition = exprs.key_condition(text, schema)?;
    let filter = exprs.condition(input.filter_expression.as_deref(), "FilterExpression")?;
    let projection = exprs.projection(input.projection_expression.as_deref())?;
    exprs.finish()?;
    let select = Select::parse(
        input.select.as_deref(),
        projection.is_some(),
        index.map(|(i, _)| i),
    )?;
    let forward = input.scan_index_forward.unwrap_or(true);

    let pk = encode(&key_condition.partition);
    let h = partition_hash(&pk);
    let range = sort_range(key_condition.sort.as_ref().map(|s| &s.condition));
    let mut page = Page::new(&table, index, limit, filter.as_ref(), projection.as_ref(), select);
    match index {
        None => {
            let after = match &input.exclusive_start_key {
                Some(esk) => Some(KeyColumns::of(&wire::key(esk, &table.key)?.0).sk),
                None => None,
            };
            svc.storage
                .read_snapshot(|c| {
                    items::query(
                        c,
                        table.meta.id,
                        h,
                        &pk,
                        range,
                        forward,
                        after.as_deref(),
                        usize::MAX,
                        |row| page.offer(row),
                    )
                })
                .map_err(DdbError::internal)?;
        }
        Some((meta, schema)) => {
            let after = match &input.exclusive_start_key {
                Some(esk) => {
                    let item = wire::item(esk)?;
                    let ik = schema.key_of(&item).map_err(|e| DdbError::from_key(&e, schema))?;
                    let bk = table
                        .key
                        .key_of(&item)
                        .map_err(|e| DdbError::from_key(&e, &table.key))?;
                    Some((KeyColumns::of(&ik), KeyColumns::of(&bk)))
                }
                None => None,
            };
            let part = IndexPartition::Partition {
                ih: h,
                ipk: &pk,
                range,
            };
            svc.storage
                .read_snapshot(|c| {
                    items::index_read(c, table.meta.id, &meta.name, part, forward, after.as_ref(), |e| {
                        page.offer(e.item)
                    })
                })
                .map_err(DdbError::internal)?;
        }
    }
    page.finish(capacity, input.consistent_read.unwrap_or(false))
}

/// The encoded sort-key range of a key condition.
fn sort_range(sort: Option<&SortCondition>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    match sort {
        None => (Bound::Unbounded, Bound::Unbounded),
        Some(SortCondition::Eq(v)) => (Bound::Included(encode(v)), Bound::Included(encode(v))),
        Some(SortCondition::Lt(v)) => (Bound::Unbounded, Bound::Excluded(encode(v))),
        Some(SortCondition::Le(v)) => (Bound::Unbounded, Bound::Included(encode(v))),
        Some(SortCondition::Gt(v)) => (Bound::Excluded(encode(v)), Bound::Unbounded),
        Some(SortCondition::Ge(v)) => (Bound::Included(encode(v)), Bound::Unbounded),
        Some(SortCondition::Between(a, b)) => (Bound::Included(encode(a)), Bound::Included(encode(b))),
        Some(SortCondition::BeginsWith(prefix)) => {
            let start = encode(prefix);
            let end = match prefix {
                KeyValue::S(_) | KeyValue::B(_) => prefix_successor(&start),
                KeyValue::N(_) => None,
            };
            (
                Bound::Included(start),
                end.map_or(Bound::Unbounded, Bound::Excluded),
            )
        }
    }
}

/// The smallest byte string greater than every string starting with `prefix`, if there is one.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
