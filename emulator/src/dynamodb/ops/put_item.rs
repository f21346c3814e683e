//! PutItem: creates or replaces an item, under an optional condition.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::{return_old_on_failure, table, ReturnValues};
use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::Exprs;
use crate::dynamodb::records::{self, Actor, ChangeEnv};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::keys::KeyColumns;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    item: Json,
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
    let item = wire::item(&input.item)?;
    item.validate().map_err(|e| DdbError::from_model(&e))?;
    let key = table
        .key
        .key_of(&item)
        .map_err(|e| DdbError::from_item_key(&e, &table.key))?;
    let returns = ReturnValues::parse(input.return_values.as_deref(), &[ReturnValues::AllOld])?;
    let old_on_failure = return_old_on_failure(input.return_values_on_condition_check_failure.as_deref())?;
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut exprs = Exprs::new(
        &input.expression_attribute_names,
        &input.expression_attribute_values,
    )?;
    let condition = exprs.condition(input.condition_expression.as_deref(), "ConditionExpression")?;
    exprs.finish()?;

    let region = svc.config.region.clone();
    let rng = svc.rng.clone();
    let policy = svc.config.shard_policy;
    let now = req.now;
    let write_table = table.clone();
    let new_size = item.size();
    let (old, old_size) = svc
        .storage
        .write(move |ctx| {
            let cols = KeyColumns::of(&key);
            let old = records::current(ctx.conn, &write_table, &cols).map_err(DdbError::internal)?;
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
            records::apply(
                ctx,
                &env,
                &write_table,
                &key,
                old.as_ref(),
                Some(&item),
                Actor::User,
            )
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
        .map_err(DdbError::internal)??;
    let mut out = json!({});
    if let Some(map) = out.as_object_mut() {
        {
            if let Some(old) = &old {
                map.insert(
                    "Attributes".into(),
                    serde_json::to_value(old).map_err(DdbError::internal)?,
                );
            }
        }
        let size = new_size.max(old_size);
        if let Some(c) = capacity.report(&table.meta.name, wire::write_units(size), false) {
            map.insert("ConsumedCapacity".into(), c);
        }
    }
    wire::output(&out)
}
