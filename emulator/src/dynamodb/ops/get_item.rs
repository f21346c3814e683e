//! GetItem: one item by key, strongly consistent always (ConsistentRead only changes the capacity
//! reported). Without a projection the stored text is the answer, untouched.

use std::collections::BTreeMap;

use ddbrep_engine::codec::ddb_json;
use serde::Deserialize;
use serde_json::Value as Json;

use super::table;
use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::Exprs;
use crate::dynamodb::{wire, Request, Service};
use crate::storage::items;
use crate::storage::keys::KeyColumns;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    key: Json,
    consistent_read: Option<bool>,
    projection_expression: Option<String>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    return_consumed_capacity: Option<String>,
    attributes_to_get: Option<Json>,
}

pub fn run(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let table = table(svc, &input.table_name)?;
    if input.attributes_to_get.is_some() {
        return Err(DdbError::validation(
            "The legacy parameter AttributesToGet is not supported yet; use ProjectionExpression",
        ));
    }
    let (key, _) = wire::key(&input.key, &table.key)?;
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut exprs = Exprs::new(&input.expression_attribute_names, &None)?;
    let projection = exprs.projection(input.projection_expression.as_deref())?;
    exprs.finish()?;

    let cols = KeyColumns::of(&key);
    let stored = svc
        .storage
        .read(|c| items::get(c, table.meta.id, &cols))
        .map_err(DdbError::internal)?;
    let mut out = String::from("{");
    if let Some(stored) = &stored {
        out.push_str("\"Item\":");
        match &projection {
            None => out.push_str(&stored.json),
            Some(p) => {
                let item = ddb_json::parse_item(&stored.json).map_err(DdbError::internal)?;
                out.push_str(&ddb_json::item_to_string(&p.apply(&item)));
            }
        }
    }
    let size = stored
        .as_ref()
        .map_or(0, |s| usize::try_from(s.size).unwrap_or(0));
    let units = wire::read_units(size, input.consistent_read.unwrap_or(false));
    if let Some(c) = capacity.report(&table.meta.name, units, true) {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str("\"ConsumedCapacity\":");
        out.push_str(&c.to_string());
    }
    out.push('}');
    Ok(out.into_bytes())
}
