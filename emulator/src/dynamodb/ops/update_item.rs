//! UpdateItem: changes (or creates) an item with an UpdateExpression, under an optional condition.

use std::collections::BTreeMap;

use ddbrep_engine::model::{Item, ModelErrorKind};
use serde::Deserialize;
use serde_json::Value as Json;

use super::{return_old_on_failure, table, write_output, ReturnValues};
use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::{self, Exprs};
use crate::dynamodb::records::{self, Actor, ChangeEnv};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::keys::KeyColumns;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    key: Json,
    update_expression: Option<String>,
    condition_expression: Option<String>,
    expression_attribute_names: Option<BTreeMap<String, String>>,
    expression_attribute_values: Option<BTreeMap<String, Json>>,
    return_values: Option<String>,
    return_values_on_condition_check_failure: Option<String>,
    return_consumed_capacity: Option<String>,
    attribute_updates: Option<Json>,
    expected: Option<Json>,
}

pub async fn run(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let table = table(svc, &input.table_name)?;
    if input.expected.is_some() || input.attribute_updates.is_some() {
        return Err(DdbError::validation(
            "The legacy parameters Expected and AttributeUpdates are not supported yet; use ConditionExpression and UpdateExpression",
        ));
    }
    let (key, key_item) = wire::key(&input.key, &table.key)?;
    let returns = ReturnValues::parse(
        input.return_values.as_deref(),
        &[
            ReturnValues::AllOld,
            ReturnValues::AllNew,
            ReturnValues::UpdatedOld,
            ReturnValues::UpdatedNew,
        ],
    )?;
    let old_on_failure = return_old_on_failure(input.return_values_on_condition_check_failure.as_deref())?;
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut exprs = Exprs::new(
        &input.expression_attribute_names,
        &input.expression_attribute_values,
    )?;
    let update = exprs.update(input.update_expression.as_deref())?;
    let condition = exprs.condition(input.condition_expression.as_deref(), "ConditionExpression")?;
    exprs.finish()?;

    let region = svc.config.region.clone();
    let rng = svc.rng.clone();
    let policy = svc.config.shard_policy;
    let now = req.now;
    let write_table = table.clone();
    let (old, new, update) = svc
        .storage
        .write(move |ctx| {
            let cols = KeyColumns::of(&key);
            let old = records::current(ctx.conn, &write_table, &cols).map_err(DdbError::internal)?;
            let old_item = records::old_item(old.as_ref()).map_err(DdbError::internal)?;
            if let Some(condition) = &condition {
                if !condition.evaluate(old_item) {
                    return Err(DdbError::condition_failed(
                        old_item.cloned().filter(|_| old_on_failure),
                    ));
                }
            }
            let mut new: Item = old_item.cloned().unwrap_or_else(|| key_item.clone());
            if let Some(update) = &update {
                update
                    .apply(&mut new, &write_table.key)
                    .map_err(expressions::error)?;
            }
            new.validate().map_err(|e| match e.kind {
                ModelErrorKind::TooLarge { .. } => {
                    DdbError::validation("Item size to update has exceeded the maximum allowed size")
                }
                _ => DdbError::from_model(&e),
            })?;
            super::check_index_keys(&write_table, &new)?;
            let env = ChangeEnv {
                region: &region,
                now,
                policy,
                rng: &rng,
            };
            records::apply(
                ctx,
                &env,
                &write_table,
                &key,
                old.as_ref(),
                Some(&new),
                Actor::User,
            )
            .map_err(DdbError::internal)?;
            let old_item = old_item.cloned();
            Ok((old_item, new, update))
        })
        .await
        .map_err(DdbError::internal)??;

    // UPDATED_OLD / UPDATED_NEW: the attributes the update expression names, before or after.
    let pick = |item: &Item| -> Item {
        match &update {
            Some(update) => update.updated_projection().apply(item),
            None => Item::new(),
        }
    };
    let attributes = match returns {
        ReturnValues::None => None,
        ReturnValues::AllOld => old.clone(),
        ReturnValues::AllNew => Some(new.clone()),
        ReturnValues::UpdatedOld => old.as_ref().map(pick),
        ReturnValues::UpdatedNew => Some(pick(&new)),
    };
    let size = new.size().max(old.as_ref().map_or(0, |o| o.size()));
    let attributes = attributes.filter(|a| !a.is_empty());
    write_output(attributes.as_ref(), capacity, &table.meta.name, size)
}
