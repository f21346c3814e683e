//! UpdateTimeToLive and DescribeTimeToLive. Expired items are deleted by the emulator's sweep
//! (`crate::ttl`), each with a REMOVE stream record from the DynamoDB service principal.

use serde::Deserialize;
use serde_json::json;

use super::update_table::store_meta;
use crate::dynamodb::error::DdbError;
use crate::dynamodb::{wire, Request, Service};
use crate::storage::catalog::{Table, TtlMeta};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateInput {
    table_name: String,
    time_to_live_specification: Spec,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Spec {
    attribute_name: String,
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    table_name: String,
}

pub async fn update(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: UpdateInput = wire::input(body)?;
    let spec = input.time_to_live_specification;
    if spec.attribute_name.is_empty() {
        return Err(DdbError::validation(
            "TimeToLiveSpecification.AttributeName must not be empty",
        ));
    }
    let name = input.table_name.clone();
    let attribute = spec.attribute_name.clone();
    let enabled = spec.enabled;
    svc.storage
        .write(move |ctx| {
            let table = ctx.table(&name).ok_or_else(|| DdbError::table_not_found(&name))?;
            let mut meta = table.meta.clone();
            match (&meta.ttl, enabled) {
                (Some(t), true) if t.enabled => {
                    return Err(DdbError::validation("TimeToLive is already enabled"));
                }
                (None, false) => return Err(DdbError::validation("TimeToLive is already disabled")),
                (Some(t), false) if !t.enabled => {
                    return Err(DdbError::validation("TimeToLive is already disabled"));
                }
                (Some(t), false) if t.attribute != attribute => {
                    return Err(DdbError::validation(format!(
                        "TimeToLive attribute name {attribute} does not match the enabled one, {}",
                        t.attribute
                    )));
                }
                _ => {}
            }
            meta.ttl = Some(TtlMeta { attribute, enabled });
            store_meta(ctx, &meta).map_err(DdbError::internal)?;
            let table = Table::from_meta(meta).map_err(DdbError::internal)?;
            ctx.put_table(table);
            Ok(())
        })
        .await
        .map_err(DdbError::internal)??;
    wire::output(
        &json!({ "TimeToLiveSpecification": { "AttributeName": spec.attribute_name, "Enabled": spec.enabled } }),
    )
}

pub fn describe(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: DescribeInput = wire::input(body)?;
    let table = svc
        .storage
        .table(&input.table_name)
        .ok_or_else(|| DdbError::table_not_found(&input.table_name))?;
    let description = match &table.meta.ttl {
        Some(t) if t.enabled => json!({ "TimeToLiveStatus": "ENABLED", "AttributeName": t.attribute }),
        _ => json!({ "TimeToLiveStatus": "DISABLED" }),
    };
    wire::output(&json!({ "TimeToLiveDescription": description }))
}
