//! PutItem: creates or replaces an item, under an optional condition.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;

use super::{check_index_keys, return_old_on_failure, table, write_one, write_output, ReturnValues};
use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::Exprs;
use crate::dynamodb::{wire, Request, Service};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    item: Box<RawValue>,
    condition_expression: Option<String>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    expression_attribute_values: Option<BTreeMap<String, Json>>,
    return_values: Option<String>,
    return_values_on_condition_check_failure: Option<String>,
    return_consumed_capacity: Option<String>,
    #[allow(dead_code)]
    return_item_collection_metrics: Option<String>,
    expected: Option<Json>,
}

pub async fn run(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let table = table(svc, &input.table_name)?;
    if input.expected.is_some() {
        return Err(DdbError::validation(
            "The legacy parameter Expected is not supported yet; use ConditionExpression",
        ));
    }
    let item = wire::item_text(&input.item)?;
    item.validate().map_err(|e| DdbError::from_model(&e))?;
    let key = table
        .key
        .key_of(&item)
        .map_err(|e| DdbError::from_item_key(&e, &table.key))?;
    check_index_keys(&table, &item)?;
    let returns = ReturnValues::parse(input.return_values.as_deref(), &[ReturnValues::AllOld])?;
    let old_on_failure = return_old_on_failure(input.return_values_on_condition_check_failure.as_deref())?;
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut exprs = Exprs::new(
        &input.expression_attribute_names,
        &input.expression_attribute_values,
    )?;
    let condition = exprs.condition(input.condition_expression.as_deref(), "ConditionExpression")?;
    exprs.finish()?;

    let new_size = item.size();
    let (old, old_size) = write_one(
        svc,
        req,
        &table,
        key,
        Some(item),
        condition,
        old_on_failure,
        returns,
    )
    .await?;
    write_output(old.as_ref(), capacity, &table.meta.name, new_size.max(old_size))
}
