//! [`TableStore`] on aws-sdk-dynamodb: each [`TableOp`] is one SDK call.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use ddbrep_engine::io::{Expect, StoreError, TableOp, TableResult, TableSlot, Write};
use ddbrep_engine::model::{Item, Key, KeySchema};

use super::convert::{item_from_sdk, item_to_sdk, key_to_sdk, ConvertError};
use super::errors::classify;
use super::TableStore;

/// One table: a client, its name and its key schema.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    /// The client (its endpoint and region are the table's).
    pub client: Client,
    /// The table name.
    pub name: String,
    /// The key schema, as DescribeTable gave it.
    pub schema: KeySchema,
}

/// The tables of a job: the primary, and the replica for two-table jobs.
#[derive(Debug, Clone)]
pub struct DynamoTables {
    /// [`TableSlot::Primary`].
    pub primary: DynamoTable,
    /// [`TableSlot::Replica`].
    pub replica: Option<DynamoTable>,
}

fn unreadable(table: &str) -> impl Fn(ConvertError) -> StoreError + '_ {
    move |e| StoreError::Fatal(format!("table {table}: {e}"))
}

fn items(table: &str, maps: Vec<HashMap<String, AttributeValue>>) -> Result<Vec<Item>, StoreError> {
    maps.iter()
        .map(|m| item_from_sdk(m).map_err(unreadable(table)))
        .collect()
}

fn key_of(t: &DynamoTable, map: &HashMap<String, AttributeValue>) -> Result<Key, StoreError> {
    let item = item_from_sdk(map).map_err(unreadable(&t.name))?;
    t.schema
        .parse_key(&item)
        .map_err(|e| StoreError::Fatal(format!("table {}: a key in the answer: {e}", t.name)))
}

fn request(write: &Write) -> Result<WriteRequest, StoreError> {
    let built = match write {
        Write::Put(item) => PutRequest::builder()
            .set_item(Some(item_to_sdk(item)))
            .build()
            .map(|p| WriteRequest::builder().put_request(p).build()),
        Write::Delete(key) => DeleteRequest::builder()
            .set_key(Some(key_to_sdk(key)))
            .build()
            .map(|d| WriteRequest::builder().delete_request(d).build()),
    };
    built.map_err(|e| StoreError::Fatal(format!("BatchWriteItem: {e}")))
}

fn unprocessed_write(t: &DynamoTable, w: &WriteRequest) -> Result<Write, StoreError> {
    if let Some(put) = w.put_request() {
        return item_from_sdk(put.item())
            .map(Write::Put)
            .map_err(unreadable(&t.name));
    }
    if let Some(delete) = w.delete_request() {
        return key_of(t, delete.key()).map(Write::Delete);
    }
    Err(StoreError::Fatal(format!(
        "table {}: an unprocessed write that is neither a put nor a delete",
        t.name
    )))
}

impl DynamoTable {
    /// Runs one request.
    pub async fn call(&self, op: TableOp) -> Result<TableResult, StoreError> {
        let name = self.name.as_str();
        match op {
            TableOp::Scan {
                segment,
                total_segments,
                start,
                limit,
                consistent,
            } => {
                let mut scan = self
                    .client
                    .scan()
                    .table_name(name)
                    .consistent_read(consistent)
                    .set_exclusive_start_key(start.as_ref().map(item_to_sdk))
                    .set_limit(limit.and_then(|l| i32::try_from(l).ok()));
                if total_segments > 1 {
                    scan = scan
                        .segment(i32::try_from(segment).unwrap_or(i32::MAX))
                        .total_segments(i32::try_from(total_segments).unwrap_or(i32::MAX));
                }
                let out = scan
                    .send()
                    .await
                    .map_err(|e| classify(&format!("Scan {name}"), &e))?;
                let last_key = out
                    .last_evaluated_key()
                    .filter(|k| !k.is_empty())
                    .map(|k| item_from_sdk(k).map_err(unreadable(name)))
                    .transpose()?;
                Ok(TableResult::Page {
                    items: items(name, out.items.unwrap_or_default())?,
                    last_key,
                })
            }
            TableOp::BatchGet { keys, consistent } => {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys.iter().map(key_to_sdk).collect()))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| StoreError::Fatal(format!("BatchGetItem: {e}")))?;
                let mut out = self
                    .client
                    .batch_get_item()
                    .request_items(name, request)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("BatchGetItem {name}"), &e))?;
                let found = out
                    .responses
                    .as_mut()
                    .and_then(|r| r.remove(name))
                    .unwrap_or_default();
                let unprocessed = match out.unprocessed_keys.as_mut().and_then(|u| u.remove(name)) {
                    Some(left) => left
                        .keys()
                        .iter()
                        .map(|k| key_of(self, k))
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                };
                Ok(TableResult::Items {
                    items: items(name, found)?,
                    unprocessed,
                })
            }
            TableOp::BatchWrite { writes } => {
                let requests = writes.iter().map(request).collect::<Result<Vec<_>, _>>()?;
                let mut out = self
                    .client
                    .batch_write_item()
                    .request_items(name, requests)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("BatchWriteItem {name}"), &e))?;
                let unprocessed = match out.unprocessed_items.as_mut().and_then(|u| u.remove(name)) {
                    Some(left) => left
                        .iter()
                        .map(|w| unprocessed_write(self, w))
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                };
                Ok(TableResult::Written { unprocessed })
            }
            TableOp::Get { key, consistent } => {
                let out = self
                    .client
                    .get_item()
                    .table_name(name)
                    .set_key(Some(key_to_sdk(&key)))
                    .consistent_read(consistent)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("GetItem {name}"), &e))?;
                let item = out
                    .item()
                    .map(|i| item_from_sdk(i).map_err(unreadable(name)))
                    .transpose()?;
                Ok(TableResult::Item(item))
            }
            TableOp::ConditionalWrite { write, expect } => self.conditional(write, &expect).await,
        }
    }

    async fn conditional(&self, write: Write, expect: &Expect) -> Result<TableResult, StoreError> {
        let name = self.name.as_str();
        let condition = expect.condition(&self.schema.partition.name);
        let values = (!condition.values.is_empty()).then(|| item_to_sdk(&condition.values));
        let names: HashMap<String, String> = condition.names.into_iter().collect();
        let result = match &write {
            Write::Put(item) => self
                .client
                .put_item()
                .table_name(name)
                .set_item(Some(item_to_sdk(item)))
                .condition_expression(condition.expression)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(values)
                .send()
                .await
                .map(|_| ()),
            Write::Delete(key) => {
                let out = self
                    .client
                    .delete_item()
                    .table_name(name)
                    .set_key(Some(key_to_sdk(key)))
                    .condition_expression(condition.expression)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(values)
                    .send()
                    .await;
                return match out {
                    Ok(_) => Ok(TableResult::Written {
                        unprocessed: Vec::new(),
                    }),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        Ok(TableResult::ConditionFailed)
                    }
                    Err(e) => Err(classify(&format!("DeleteItem {name}"), &e)),
                };
            }
        };
        match result {
            Ok(()) => Ok(TableResult::Written {
                unprocessed: Vec::new(),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(TableResult::ConditionFailed)
            }
            Err(e) => Err(classify(&format!("PutItem {name}"), &e)),
        }
    }
}

impl TableStore for DynamoTables {
    async fn call(&self, slot: TableSlot, op: TableOp) -> Result<TableResult, StoreError> {
        match (slot, &self.replica) {
            (TableSlot::Primary, _) => self.primary.call(op).await,
            (TableSlot::Replica, Some(replica)) => replica.call(op).await,
            (TableSlot::Replica, None) => Err(StoreError::Fatal(
                "a replica request in a job without a replica table".into(),
            )),
        }
    }
}
