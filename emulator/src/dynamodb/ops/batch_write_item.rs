//! BatchWriteItem: up to 25 puts and deletes over one or more tables, at most 16 MB, no two requests for
//! one key (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html>).
//! The emulator applies every request (UnprocessedItems is empty unless a fault layer says otherwise).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ddbrep_engine::model::{Item, Key};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value as Json};

use super::table;
use crate::dynamodb::error::DdbError;
use crate::dynamodb::records::{self, Actor, ChangeEnv};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::catalog::Table;
use crate::storage::keys::KeyColumns;

/// Most requests in one call.
const MAX_REQUESTS: usize = 25;
/// Largest request body, 16 MB.
const MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    request_items: BTreeMap<String, Vec<WriteRequest>>,
    return_consumed_capacity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WriteRequest {
    put_request: Option<PutRequest>,
    delete_request: Option<DeleteRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest {
    item: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteRequest {
    key: Json,
}

struct Write {
    table: Arc<Table>,
    key: Key,
    item: Option<Item>,
}

pub async fn run(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    if body.len() > MAX_BYTES {
        return Err(DdbError::validation("Item collection size exceeds 16 MB limit"));
    }
    let input: Input = wire::input(body)?;
    let total: usize = input.request_items.values().map(Vec::len).sum();
    if input.request_items.is_empty()
        || input.request_items.values().any(Vec::is_empty)
        || total > MAX_REQUESTS
    {
        return Err(DdbError::validation(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        ));
    }
    let capacity = wire::Capacity::parse(input.return_consumed_capacity.as_deref())?;
    let mut writes = Vec::with_capacity(total);
    let mut units: BTreeMap<String, f64> = BTreeMap::new();
    for (name, requests) in &input.request_items {
        let table = table(svc, name)?;
        let mut seen = BTreeSet::new();
        for request in requests {
            let write = match (&request.put_request, &request.delete_request) {
                (Some(put), None) => {
                    let item = wire::item_text(&put.item)?;
                    item.validate().map_err(|e| DdbError::from_model(&e))?;
                    let key = table.key.key_of(&item).map_err(|e| DdbError::from_item_key(&e, &table.key))?;
                    super::check_index_keys(&table, &item)?;
                    *units.entry(name.clone()).or_default() += wire::write_units(item.size());
                    Write { table: table.clone(), key, item: Some(item) }
                }
                (None, Some(delete)) => {
                    let (key, _) = wire::key(&delete.key, &table.key)?;
                    *units.entry(name.clone()).or_default() += 1.0;
                    Write { table: table.clone(), key, item: None }
                }
                _ => {
                    return Err(DdbError::validation(
                        "1 validation error detected: WriteRequest must contain exactly one of PutRequest or DeleteRequest",
                    ))
                }
            };
            if !seen.insert(KeyColumns::of(&write.key)) {
                return Err(DdbError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
            writes.push(write);
        }
    }

    let region = svc.config.region.clone();
    let rng = svc.rng.clone();
    let policy = svc.config.shard_policy;
    let now = req.now;
    svc.storage
        .write(move |ctx| {
            let env = ChangeEnv {
                region: &region,
                now,
                policy,
                rng: &rng,
            };
            for w in &writes {
                if ctx.table(&w.table.meta.name).is_none() {
                    return Err(DdbError::table_not_found(&w.table.meta.name));
                }
                let old = records::current(ctx.conn, &w.table, &KeyColumns::of(&w.key))
                    .map_err(DdbError::internal)?;
                records::apply(
                    ctx,
                    &env,
                    &w.table,
                    &w.key,
                    old.as_ref(),
                    w.item.as_ref(),
                    Actor::User,
                )
                .map_err(DdbError::internal)?;
            }
            Ok(())
        })
        .await
        .map_err(DdbError::internal)??;
    let mut out = json!({ "UnprocessedItems": {} });
    if capacity != wire::Capacity::None {
        let reports: Vec<Json> = units
            .iter()
            .filter_map(|(t, u)| capacity.report(t, *u, false))
            .collect();
        if let Some(map) = out.as_object_mut() {
            map.insert("ConsumedCapacity".into(), Json::Array(reports));
        }
    }
    wire::output(&out)
}
