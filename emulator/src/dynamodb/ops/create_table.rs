//! CreateTable: checks the definition as DynamoDB does, stores it, opens its stream.

use std::collections::BTreeSet;

use ddbrep_engine::model::{
    key_schema_from, AttributeDefinition, KeySchemaElement, Projection, ProvisionedThroughput,
    SecondaryIndex, StreamSpecification,
};
use serde::Deserialize;

use super::describe_table::describe;
use crate::dynamodb::error::{DdbError, ErrorCode};
use crate::dynamodb::records::{shard_id, ChangeEnv};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::catalog::{IndexMeta, StreamMeta, Table, TableMeta};
use crate::storage::streams::{self, StreamRow};
use crate::time_fmt;

/// Most local secondary indexes per table.
const MAX_LSIS: usize = 5;
/// Default most global secondary indexes per table
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-secondary-indexes>).
const MAX_GSIS: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
    attribute_definitions: Vec<AttributeDefinition>,
    key_schema: Vec<KeySchemaElement>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<ProvisionedThroughput>,
    local_secondary_indexes: Option<Vec<SecondaryIndex>>,
    global_secondary_indexes: Option<Vec<SecondaryIndex>>,
    stream_specification: Option<StreamSpecification>,
    table_class: Option<String>,
    deletion_protection_enabled: Option<bool>,
}

pub async fn run(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    wire::check_table_name(&input.table_name, "tableName")?;
    let key = key_schema_from(&input.key_schema, &input.attribute_definitions)
        .map_err(|e| DdbError::invalid_parameter(e.to_string()))?;

    let billing_mode = input.billing_mode.clone().unwrap_or_else(|| "PROVISIONED".into());
    let throughput = match (billing_mode.as_str(), &input.provisioned_throughput) {
        ("PROVISIONED", Some(t)) => {
            check_throughput(t)?;
            t.clone()
        }
        ("PROVISIONED", None) => {
            return Err(DdbError::validation(
                "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            ))
        }
        ("PAY_PER_REQUEST", None) => ProvisionedThroughput { read_capacity_units: 0, write_capacity_units: 0 },
        ("PAY_PER_REQUEST", Some(_)) => {
            return Err(DdbError::validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ))
        }
        (other, _) => {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
            )))
        }
    };

    let mut indexes = Vec::new();
    let mut used: BTreeSet<&str> = input
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    let lsis = input.local_secondary_indexes.as_deref().unwrap_or_default();
    let gsis = input.global_secondary_indexes.as_deref().unwrap_or_default();
    if input.local_secondary_indexes.as_ref().is_some_and(Vec::is_empty) {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: List of LocalSecondaryIndexes is empty",
        ));
    }
    if input.global_secondary_indexes.as_ref().is_some_and(Vec::is_empty) {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty",
        ));
    }
    if lsis.len() > MAX_LSIS {
        return Err(DdbError::new(
            ErrorCode::LimitExceededException,
            "Too many local secondary indexes",
        ));
    }
    if gsis.len() > MAX_GSIS {
        return Err(DdbError::new(
            ErrorCode::LimitExceededException,
            "Too many global secondary indexes",
        ));
    }
    for (global, index) in lsis
        .iter()
        .map(|i| (false, i))
        .chain(gsis.iter().map(|i| (true, i)))
    {
        let index_key = key_schema_from(&index.key_schema, &input.attribute_definitions)
            .map_err(|e| DdbError::invalid_parameter(format!("Index {}: {e}", index.index_name)))?;
        if !global {
            let problem = if key.sort.is_none() {
                Some("Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
            } else if index_key.partition != key.partition {
                Some("Index KeySchema does not have the same leading hash key as table KeySchema")
            } else if index_key.sort.is_none() {
                Some("Index KeySchema must have a range key")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(DdbError::invalid_parameter(problem));
            }
        }
        if indexes.iter().any(|i: &IndexMeta| i.name == index.index_name) {
            return Err(DdbError::invalid_parameter(format!(
                "Duplicate index name: {}",
                index.index_name
            )));
        }
        check_projection(&index.projection)?;
        let index_throughput = if global {
            match (billing_mode.as_str(), &index.provisioned_throughput) {
                ("PROVISIONED", Some(t)) => {
                    check_throughput(t)?;
                    Some(t.clone())
                }
                ("PROVISIONED", None) => {
                    return Err(DdbError::invalid_parameter(format!(
                        "ProvisionedThroughput is not specified for index: {}",
                        index.index_name
                    )))
                }
                _ => None,
            }
        } else {
            None
        };
        used.extend(index.key_schema.iter().map(|k| k.attribute_name.as_str()));
        indexes.push(IndexMeta {
            name: index.index_name.clone(),
            key_schema: index.key_schema.clone(),
            projection: index.projection.clone(),
            throughput: index_throughput,
            global,
        });
    }
    let defined: BTreeSet<&str> = input
        .attribute_definitions
        .iter()
        .map(|d| d.attribute_name.as_str())
        .collect();
    if defined.len() != input.attribute_definitions.len() || defined != used {
        return Err(DdbError::invalid_parameter(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let stream = match &input.stream_specification {
        Some(spec) if spec.stream_enabled => {
            let view = spec.stream_view_type.clone().ok_or_else(|| {
                DdbError::validation("One or more parameter values were invalid: StreamViewType must be specified when StreamEnabled is true")
            })?;
            check_view_type(&view)?;
            let label = time_fmt::stream_label(req.now);
            let arn = format!("{}/stream/{label}", svc.table_arn(&req.account, &input.table_name));
            Some(StreamMeta { arn, label, view_type: view, enabled: true })
        }
        Some(spec) if spec.stream_view_type.is_some() => {
            return Err(DdbError::validation(
                "One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false",
            ))
        }
        _ => None,
    };
    let table_class = input.table_class.clone().unwrap_or_else(|| "STANDARD".into());
    if !matches!(table_class.as_str(), "STANDARD" | "STANDARD_INFREQUENT_ACCESS") {
        return Err(DdbError::validation(format!(
            "1 validation error detected: Value '{table_class}' at 'tableClass' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]"
        )));
    }

    let table_id = uuid_like(svc);
    let mut meta = TableMeta {
        id: 0,
        name: input.table_name.clone(),
        arn: svc.table_arn(&req.account, &input.table_name),
        table_id,
        attribute_definitions: input.attribute_definitions,
        key_schema: input.key_schema,
        billing_mode,
        throughput,
        indexes,
        stream,
        table_class,
        deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
        created_ms: req.now.0,
        ttl: None,
    };
    let env_region = svc.config.region.clone();
    let rng = svc.rng.clone();
    let now = req.now;
    let policy = svc.config.shard_policy;
    let table = svc
        .storage
        .write(move |ctx| {
            if ctx.table(&meta.name).is_some() {
                return Err(DdbError::new(
                    ErrorCode::ResourceInUseException,
                    format!("Table already exists: {}", meta.name),
                ));
            }
            let mut insert = || -> rusqlite::Result<Table> {
                ctx.conn
                    .execute("INSERT INTO tables (name, meta) VALUES (?1, '{}')", [&meta.name])?;
                meta.id = ctx.conn.last_insert_rowid();
                let json = serde_json::to_string(&meta)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
                ctx.conn.execute(
                    "UPDATE tables SET meta = ?2 WHERE id = ?1",
                    rusqlite::params![meta.id, json],
                )?;
                if let Some(stream) = &meta.stream {
                    let env = ChangeEnv {
                        region: &env_region,
                        now,
                        policy,
                        rng: &rng,
                    };
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
                Table::from_meta(meta.clone())
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
            };
            let table = insert().map_err(DdbError::internal)?;
            ctx.put_table(table.clone());
            Ok(table)
        })
        .await
        .map_err(DdbError::internal)??;
    let description = describe(svc, &table, "CREATING", 0, 0);
    wire::output(&serde_json::json!({ "TableDescription": description }))
}

pub(crate) fn check_throughput(t: &ProvisionedThroughput) -> Result<(), DdbError> {
    if t.read_capacity_units == 0 || t.write_capacity_units == 0 {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be greater than 0",
        ));
    }
    Ok(())
}

pub(crate) fn check_projection(p: &Projection) -> Result<(), DdbError> {
    match (p.projection_type.as_deref(), &p.non_key_attributes) {
        (Some("ALL") | Some("KEYS_ONLY"), None) | (Some("INCLUDE"), Some(_)) => Ok(()),
        (Some("ALL") | Some("KEYS_ONLY"), Some(_)) => Err(DdbError::invalid_parameter(
            "ProjectionType is ALL or KEYS_ONLY, but NonKeyAttributes is specified",
        )),
        (Some("INCLUDE"), None) => Err(DdbError::invalid_parameter(
            "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        )),
        _ => Err(DdbError::invalid_parameter("Unknown ProjectionType")),
    }
}

pub(crate) fn check_view_type(view: &str) -> Result<(), DdbError> {
    if matches!(
        view,
        "KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES"
    ) {
        Ok(())
    } else {
        Err(DdbError::validation(format!(
            "1 validation error detected: Value '{view}' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"
        )))
    }
}

fn uuid_like(svc: &Service) -> String {
    let hex = svc.rng.string(b"0123456789abcdef", 32);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
