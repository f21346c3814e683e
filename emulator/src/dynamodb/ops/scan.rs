//! Scan: every item of a table or index, in partition-hash order, a page at a time; with Segment and
//! TotalSegments each item is in exactly one segment (segments are ranges of the partition hash).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

use super::page::{self, Page, Select};
use super::table;
use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::Exprs;
use crate::dynamodb::{wire, Request, Service};
use crate::storage::items::{self, IndexPartition};
use crate::storage::keys::{segment_range, KeyColumns};

/// Most segments a Scan may be split into.
const MAX_SEGMENTS: i64 = 1_000_000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    index_name: Option<String>,
    limit: Option<i64>,
    exclusive_start_key: Option<Json>,
    segment: Option<i64>,
    total_segments: Option<i64>,
    filter_expression: Option<String>,
    projection_expression: Option<String>,
    select: Option<String>,
    consistent_read: Option<bool>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    expression_attribute_values: Option<BTreeMap<String, Json>>,
    return_consumed_capacity: Option<String>,
    scan_filter: Option<Json>,
    attributes_to_get: Option<Json>,
}

pub fn run(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let table = table(svc, &input.table_name)?;
    if input.scan_filter.is_some() || input.attributes_to_get.is_some() {
        return Err(DdbError::validation(
            "The legacy parameters ScanFilter and AttributesToGet are not supported yet; use FilterExpression and ProjectionExpression",
        ));
    }
    let index = page::read_index(&table, input.index_name.as_deref(), input.consistent_read)?;
    let hash_range = match (input.segment, input.total_segments) {
        (None, None) => (0, 1i64 << 32),
        (Some(_), None) => {
            return Err(DdbError::validation(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ))
        }
        (None, Some(_)) => {
            return Err(DdbError::validation(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ))
        }
        (Some(segment), Some(total)) => {
            if !(1..=MAX_SEGMENTS).contains(&total) {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{total}' at 'totalSegments' failed to satisfy constraint: Member must have value {}",
                    if total < 1 { "greater than or equal to 1" } else { "less than or equal to 1000000" }
                )));
            }
            if segment < 0 || segment >= total {
                return Err(DdbError::validation(format!(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {segment} is not less than TotalSegments: {total}"
                )));
            }
            segment_range(segment as u32, total as u32)
        }
    };
    let limit = page::limit(input.limit)?;
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut exprs = Exprs::new(
        &input.expression_attribute_names,
        &input.expression_attribute_values,
    )?;
    let filter = exprs.condition(input.filter_expression.as_deref(), "FilterExpression")?;
    let projection = exprs.projection(input.projection_expression.as_deref())?;
    exprs.finish()?;
    let select = Select::parse(
        input.select.as_deref(),
        projection.is_some(),
        index.map(|(i, _)| i),
    )?;

    let mut page = Page::new(&table, index, limit, filter.as_ref(), projection.as_ref(), select);
    match index {
        None => {
            let after = match &input.exclusive_start_key {
                Some(esk) => Some(KeyColumns::of(&wire::key(esk, &table.key)?.0)),
                None => None,
            };
            svc.storage
                .read_snapshot(|c| {
                    items::scan(c, table.meta.id, hash_range, after.as_ref(), usize::MAX, |row| {
                        page.offer(row)
                    })
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
            let part = IndexPartition::HashRange(hash_range.0, hash_range.1);
            svc.storage
                .read_snapshot(|c| {
                    items::index_read(c, table.meta.id, &meta.name, part, true, after.as_ref(), |e| {
                        page.offer(e.item)
                    })
                })
                .map_err(DdbError::internal)?;
        }
    }
    page.finish(capacity, input.consistent_read.unwrap_or(false))
}
