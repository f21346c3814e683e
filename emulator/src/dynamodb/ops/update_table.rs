//! UpdateTable: stream on or off, billing mode and throughput, deletion protection, table class, and
//! adding (with backfill) or removing global secondary indexes.

use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{
    key_schema_from, AttributeDefinition, KeySchemaElement, Projection, ProvisionedThroughput,
    StreamSpecification,
};
use rusqlite::params;
use serde::Deserialize;
use serde_json::json;

use super::create_table::{check_projection, check_throughput, check_view_type};
use super::describe_table::describe;
use crate::dynamodb::error::{DdbError, ErrorCode};
use crate::dynamodb::records::{shard_id, ChangeEnv};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::catalog::{IndexMeta, StreamMeta, Table, TableMeta};
use crate::storage::keys::KeyColumns;
use crate::storage::streams::{self, StreamRow};
use crate::storage::{items, WriteCtx};
use crate::time_fmt;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    attribute_definitions: Option<Vec<AttributeDefinition>>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<ProvisionedThroughput>,
    stream_specification: Option<StreamSpecification>,
    global_secondary_index_updates: Option<Vec<GsiUpdate>>,
    deletion_protection_enabled: Option<bool>,
    table_class: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GsiUpdate {
    create: Option<GsiCreate>,
    delete: Option<GsiDelete>,
    update: Option<GsiChange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GsiCreate {
    index_name: String,
    key_schema: Vec<KeySchemaElement>,
    projection: Projection,
    provisioned_throughput: Option<ProvisionedThroughput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GsiDelete {
    index_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GsiChange {
    index_name: String,
    provisioned_throughput: Option<ProvisionedThroughput>,
}

pub async fn run(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let current = svc
        .storage
        .table(&input.table_name)
        .ok_or_else(|| DdbError::table_not_found(&input.table_name))?;
    let mut meta = current.meta.clone();
    let mut changed = false;
    let mut new_stream = false;
    let mut disable_stream: Option<String> = None;

    if let Some(mode) = &input.billing_mode {
        if !matches!(mode.as_str(), "PROVISIONED" | "PAY_PER_REQUEST") {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value '{mode}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
            )));
        }
        changed |= *mode != meta.billing_mode;
        meta.billing_mode = mode.clone();
        if mode == "PAY_PER_REQUEST" {
            meta.throughput = ProvisionedThroughput {
                read_capacity_units: 0,
                write_capacity_units: 0,
            };
        }
    }
    if let Some(t) = &input.provisioned_throughput {
        if meta.billing_mode == "PAY_PER_REQUEST" {
            return Err(DdbError::validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        check_throughput(t)?;
        changed = true;
        meta.throughput = t.clone();
    } else if meta.billing_mode == "PROVISIONED" && meta.throughput.read_capacity_units == 0 {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
        ));
    }
    if let Some(spec) = &input.stream_specification {
        let enabled_now = meta.stream.as_ref().is_some_and(|s| s.enabled);
        match (spec.stream_enabled, enabled_now) {
            (true, true) => {
                return Err(DdbError::validation(format!(
                    "Table already has an enabled stream: TableName: {}",
                    meta.name
                )))
            }
            (true, false) => {
                let view = spec.stream_view_type.clone().ok_or_else(|| {
                    DdbError::validation("One or more parameter values were invalid: StreamViewType must be specified when StreamEnabled is true")
                })?;
                check_view_type(&view)?;
                let label = time_fmt::stream_label(req.now);
                let arn = format!("{}/stream/{label}", meta.arn);
                meta.stream = Some(StreamMeta {
                    arn,
                    label,
                    view_type: view,
                    enabled: true,
                });
                new_stream = true;
            }
            (false, true) => {
                if let Some(stream) = meta.stream.as_mut() {
                    stream.enabled = false;
                    disable_stream = Some(stream.arn.clone());
                }
            }
            (false, false) => {
                return Err(DdbError::validation(format!(
                    "Table already has no stream: TableName: {}",
                    meta.name
                )))
            }
        }
        changed = true;
    }
    if let Some(protect) = input.deletion_protection_enabled {
        changed = true;
        meta.deletion_protection = protect;
    }
    if let Some(class) = &input.table_class {
        changed = true;
        meta.table_class = class.clone();
    }
    if let Some(defs) = &input.attribute_definitions {
        for def in defs {
            match meta
                .attribute_definitions
                .iter()
                .find(|d| d.attribute_name == def.attribute_name)
            {
                Some(existing) if existing.attribute_type != def.attribute_type => {
                    return Err(DdbError::invalid_parameter(format!(
                        "Cannot change the type of attribute {}",
                        def.attribute_name
                    )))
                }
                Some(_) => {}
                None => meta.attribute_definitions.push(def.clone()),
            }
        }
    }
    let mut backfill: Vec<String> = Vec::new();
    for update in input.global_secondary_index_updates.iter().flatten() {
        changed = true;
        match (&update.create, &update.delete, &update.update) {
            (Some(create), None, None) => {
                if meta.indexes.iter().any(|i| i.name == create.index_name) {
                    return Err(DdbError::validation(format!(
                        "One or more parameter values were invalid: Index with name: {} already exists",
                        create.index_name
                    )));
                }
                key_schema_from(&create.key_schema, &meta.attribute_definitions)
                    .map_err(|e| DdbError::invalid_parameter(e.to_string()))?;
                check_projection(&create.projection)?;
                if meta.billing_mode == "PROVISIONED" {
                    let t = create.provisioned_throughput.as_ref().ok_or_else(|| {
                        DdbError::invalid_parameter(format!(
                            "ProvisionedThroughput is not specified for index: {}",
                            create.index_name
                        ))
                    })?;
                    check_throughput(t)?;
                }
                meta.indexes.push(IndexMeta {
                    name: create.index_name.clone(),
                    key_schema: create.key_schema.clone(),
                    projection: create.projection.clone(),
                    throughput: create.provisioned_throughput.clone(),
                    global: true,
                });
                backfill.push(create.index_name.clone());
            }
            (None, Some(delete), None) => {
                let before = meta.indexes.len();
                meta.indexes.retain(|i| !(i.global && i.name == delete.index_name));
                if meta.indexes.len() == before {
                    return Err(DdbError::new(
                        ErrorCode::ResourceNotFoundException,
                        format!("Requested resource not found: Index: {} not found", delete.index_name),
                    ));
                }
            }
            (None, None, Some(change)) => {
                let index = meta
                    .indexes
                    .iter_mut()
                    .find(|i| i.global && i.name == change.index_name)
                    .ok_or_else(|| DdbError::new(ErrorCode::ResourceNotFoundException, "Requested resource not found"))?;
                if let Some(t) = &change.provisioned_throughput {
                    check_throughput(t)?;
                    index.throughput = Some(t.clone());
                }
            }
            _ => {
                return Err(DdbError::validation(
                    "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, Update or Delete must be specified",
                ))
            }
        }
    }
    if !changed {
        return Err(DdbError::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    let table = Table::from_meta(meta.clone()).map_err(|e| DdbError::invalid_parameter(e.to_string()))?;

    let region = svc.config.region.clone();
    let rng = svc.rng.clone();
    let policy = svc.config.shard_policy;
    let now = req.now;
    let name = input.table_name.clone();
    let (table, count, size) = svc
        .storage
        .write(move |ctx| {
            if ctx.table(&name).is_none() {
                return Err(DdbError::table_not_found(&name));
            }
            let apply = || -> rusqlite::Result<(i64, i64)> {
                store_meta(ctx, &meta)?;
                if let Some(arn) = &disable_stream {
                    streams::disable_stream(ctx.conn, arn, now.0)?;
                }
                if new_stream {
                    if let Some(stream) = &meta.stream {
                        let env = ChangeEnv { region: &region, now, policy, rng: &rng };
                        let row = StreamRow {
                            arn: stream.arn.clone(),
                            table_name: meta.name.clone(),
                            label: stream.label.clone(),
                            view_type: stream.view_type.clone(),
                            created_ms: now.0,
                            disabled_ms: None,
                        };
                        streams::create_stream(ctx.conn, &row, meta.id, &shard_id(&env))?;
                    }
                }
                // Removed indexes lose their entries; created ones are backfilled from every item.
                ctx.conn.execute(
                    "DELETE FROM index_entries WHERE table_id = ?1 AND index_name NOT IN (SELECT value FROM json_each(?2))",
                    params![meta.id, serde_json::to_string(&meta.indexes.iter().map(|i| &i.name).collect::<Vec<_>>()).unwrap_or_default()],
                )?;
                for index in &backfill {
                    backfill_index(ctx, &table, index)?;
                }
                items::counters(ctx.conn, meta.id)
            };
            let (count, size) = apply().map_err(DdbError::internal)?;
            ctx.put_table(table.clone());
            Ok((table, count, size))
        })
        .await
        .map_err(DdbError::internal)??;
    wire::output(&json!({ "TableDescription": describe(svc, &table, "UPDATING", count, size) }))
}

/// Writes a table's definition row.
pub fn store_meta(ctx: &WriteCtx<'_>, meta: &TableMeta) -> rusqlite::Result<()> {
    let json = serde_json::to_string(meta).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    ctx.conn.execute(
        "UPDATE tables SET meta = ?2 WHERE id = ?1",
        params![meta.id, json],
    )?;
    Ok(())
}

fn backfill_index(ctx: &WriteCtx<'_>, table: &Table, index: &str) -> rusqlite::Result<()> {
    let Some(schema) = table.index_keys.get(index) else {
        return Ok(());
    };
    let mut entries = Vec::new();
    items::scan(
        ctx.conn,
        table.meta.id,
        (0, 1i64 << 32),
        None,
        usize::MAX,
        |stored| {
            if let Ok(item) = ddb_json::parse_item(&stored.json) {
                if let Ok(key) = schema.key_of(&item) {
                    entries.push((KeyColumns::of(&key), stored.key));
                }
            }
            true
        },
    )?;
    for (ik, base) in entries {
        ctx.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO index_entries (table_id, index_name, ih, ipk, isk, h, pk, sk)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                table.meta.id,
                index,
                ik.h,
                ik.pk,
                ik.sk,
                base.h,
                base.pk,
                base.sk
            ])?;
    }
    Ok(())
}
