//! DescribeTable: the table's definition and state, with the fields SDK waiters and tools read.

use serde::Deserialize;
use serde_json::{json, Value as Json};

use crate::dynamodb::error::DdbError;
use crate::dynamodb::{wire, Request, Service};
use crate::storage::catalog::Table;
use crate::storage::items;
use crate::time_fmt;
use ddbrep_engine::time::Millis;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
}

pub fn run(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let table = svc
        .storage
        .table(&input.table_name)
        .ok_or_else(|| DdbError::table_not_found(&input.table_name))?;
    let (count, size) = svc
        .storage
        .read(|c| items::counters(c, table.meta.id))
        .map_err(DdbError::internal)?;
    let status = table_status(svc, &table, req.now);
    wire::output(&json!({ "Table": describe(svc, &table, status, count, size) }))
}

/// CREATING until the configured delay has passed, then ACTIVE.
pub fn table_status(svc: &Service, table: &Table, now: Millis) -> &'static str {
    if now.0 < table.meta.created_ms.saturating_add(svc.config.create_delay_ms) {
        "CREATING"
    } else {
        "ACTIVE"
    }
}

/// The `TableDescription` object.
pub fn describe(_svc: &Service, table: &Table, status: &str, item_count: i64, size_bytes: i64) -> Json {
    let meta = &table.meta;
    let created = time_fmt::epoch_seconds(Millis(meta.created_ms));
    let mut out = json!({
        "AttributeDefinitions": meta.attribute_definitions,
        "TableName": meta.name,
        "KeySchema": meta.key_schema,
        "TableStatus": status,
        "CreationDateTime": created,
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": meta.throughput.read_capacity_units,
            "WriteCapacityUnits": meta.throughput.write_capacity_units,
        },
        "TableSizeBytes": size_bytes,
        "ItemCount": item_count,
        "TableArn": meta.arn,
        "TableId": meta.table_id,
        "DeletionProtectionEnabled": meta.deletion_protection,
        "TableClassSummary": { "TableClass": meta.table_class },
    });
    let Some(map) = out.as_object_mut() else {
        return out;
    };
    if meta.billing_mode == "PAY_PER_REQUEST" {
        map.insert(
            "BillingModeSummary".into(),
            json!({ "BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": created }),
        );
    } else {
        map.insert(
            "BillingModeSummary".into(),
            json!({ "BillingMode": "PROVISIONED" }),
        );
    }
    let index_json = |global: bool| -> Vec<Json> {
        meta.indexes
            .iter()
            .filter(|i| i.global == global)
            .map(|i| {
                let mut j = json!({
                    "IndexName": i.name,
                    "KeySchema": i.key_schema,
                    "Projection": i.projection,
                    "IndexSizeBytes": 0,
                    "ItemCount": 0,
                    "IndexArn": format!("{}/index/{}", meta.arn, i.name),
                });
                if global {
                    if let Some(m) = j.as_object_mut() {
                        m.insert("IndexStatus".into(), json!("ACTIVE"));
                        let t = i
                            .throughput
                            .clone()
                            .unwrap_or(ddbrep_engine::model::ProvisionedThroughput {
                                read_capacity_units: 0,
                                write_capacity_units: 0,
                            });
                        m.insert(
                            "ProvisionedThroughput".into(),
                            json!({
                                "NumberOfDecreasesToday": 0,
                                "ReadCapacityUnits": t.read_capacity_units,
                                "WriteCapacityUnits": t.write_capacity_units,
                            }),
                        );
                    }
                }
                j
            })
            .collect()
    };
    let lsis = index_json(false);
    if !lsis.is_empty() {
        map.insert("LocalSecondaryIndexes".into(), Json::Array(lsis));
    }
    let gsis = index_json(true);
    if !gsis.is_empty() {
        map.insert("GlobalSecondaryIndexes".into(), Json::Array(gsis));
    }
    if let Some(stream) = &meta.stream {
        if stream.enabled {
            map.insert(
                "StreamSpecification".into(),
                json!({ "StreamEnabled": true, "StreamViewType": stream.view_type }),
            );
        }
        map.insert("LatestStreamLabel".into(), json!(stream.label));
        map.insert("LatestStreamArn".into(), json!(stream.arn));
    }
    out
}
