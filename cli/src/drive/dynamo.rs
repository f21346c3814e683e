//! [`TableStore`] on aws-sdk-dynamodb: each [`TableOp`] is one SDK call.

use std::collections::HashMap;

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItem, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::scan::{Scan, ScanOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, DeleteRequest, KeysAndAttributes, PutRequest, ReturnConsumedCapacity,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::interceptors::context::Output;
use ddbrep_engine::io::{Expect, StoreError, TableOp, TableResult, TableSlot, Write};
use ddbrep_engine::model::{Item, Key, KeySchema};
use ddbrep_engine::retry::CapacityMeter;

use super::answer::{sorted, BatchGetAnswer, Capacity, Decoded, ScanAnswer};
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
    /// Set when a job's budget is a fraction of this table's capacity: its requests then ask for
    /// `ReturnConsumedCapacity` and the meter turns the answers into a rate.
    pub meter: Option<Meter>,
}

/// Which requests a [`Meter`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metered {
    /// Scan, BatchGetItem, GetItem: a budget of read capacity.
    Reads,
    /// BatchWriteItem, PutItem, DeleteItem: a budget of write capacity.
    Writes,
}

/// The capacity a table's requests consumed, measured against a budget of capacity units per second
/// ([`CapacityMeter`]), shared by the job's concurrent requests. The driver loop asks it for a new rate
/// after each answer ([`super::TableStore::take_rate`]).
#[derive(Debug, Clone)]
pub struct Meter {
    counts: Metered,
    /// `--max-rate`, which a measured rate never exceeds.
    cap: Option<u32>,
    state: Arc<Mutex<MeterState>>,
}

#[derive(Debug)]
struct MeterState {
    meter: CapacityMeter,
    pending: Option<u32>,
}

impl Meter {
    /// A meter of `counts` requests against `units_per_second`, never answering more than `cap` items/s.
    pub fn new(units_per_second: f64, counts: Metered, cap: Option<u32>) -> Meter {
        Meter {
            counts,
            cap,
            state: Arc::new(Mutex::new(MeterState {
                meter: CapacityMeter::new(units_per_second),
                pending: None,
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `op` is one this meter counts.
    fn counts(&self, op: &TableOp) -> bool {
        let reads = matches!(
            op,
            TableOp::Scan { .. } | TableOp::BatchGet { .. } | TableOp::Get { .. }
        );
        (self.counts == Metered::Reads) == reads
    }

    fn observe(&self, table: &str, units: Option<f64>, items: usize) {
        let Some(units) = units else {
            return;
        };
        let mut state = self.state();
        if let Some(rate) = state.meter.observe(units, items) {
            let rate = self.cap.map_or(rate, |cap| rate.min(cap));
            tracing::info!(
                table,
                units_per_item = state.meter.units_per_item().unwrap_or(0.0),
                budget_units_per_second = state.meter.budget(),
                items_per_second = rate,
                "pacing from the capacity consumed"
            );
            state.pending = Some(rate);
        }
    }

    /// A new rate, once, when the measured one has moved.
    pub fn take_rate(&self) -> Option<u32> {
        self.state().pending.take()
    }
}

/// The units of a table in a batch answer's `ConsumedCapacity` list.
fn units_of(table: &str, consumed: &[ConsumedCapacity]) -> Option<f64> {
    consumed
        .iter()
        .find(|c| c.table_name() == Some(table))
        .and_then(ConsumedCapacity::capacity_units)
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

fn undecodable<'a>(table: &'a str, op: &'a str) -> impl Fn(String) -> StoreError + 'a {
    move |e| StoreError::Fatal(format!("table {table}: an unreadable {op} answer: {e}"))
}

fn key_of(t: &DynamoTable, map: &HashMap<String, AttributeValue>) -> Result<Key, StoreError> {
    t.key_in(&item_from_sdk(map).map_err(unreadable(&t.name))?)
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
    /// The key of an item (or a key) an answer holds.
    fn key_in(&self, item: &Item) -> Result<Key, StoreError> {
        self.schema
            .parse_key(item)
            .map_err(|e| StoreError::Fatal(format!("table {}: a key in the answer: {e}", self.name)))
    }

    /// Runs one request.
    pub async fn call(&self, op: TableOp) -> Result<TableResult, StoreError> {
        let name = self.name.as_str();
        let meter = self.meter.as_ref().filter(|m| m.counts(&op));
        let capacity = meter.map(|_| ReturnConsumedCapacity::Total);
        let observe = |units: Option<f64>, items: usize| {
            if let Some(m) = meter {
                m.observe(name, units, items);
            }
        };
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
                    .set_limit(limit.and_then(|l| i32::try_from(l).ok()))
                    .set_return_consumed_capacity(capacity);
                if total_segments > 1 {
                    scan = scan
                        .segment(i32::try_from(segment).unwrap_or(i32::MAX))
                        .total_segments(i32::try_from(total_segments).unwrap_or(i32::MAX));
                }
                let decoded =
                    Decoded::<ScanAnswer>::new(&Scan::new(), || Output::erase(ScanOutput::builder().build()));
                scan.customize()
                    .interceptor(decoded.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&format!("Scan {name}"), &e))?;
                let page = decoded.take().map_err(undecodable(name, "Scan"))?;
                observe(
                    page.consumed_capacity.and_then(|c| c.capacity_units),
                    page.items.len(),
                );
                Ok(TableResult::Page {
                    items: page.items.into_iter().map(sorted).collect(),
                    last_key: page.last_evaluated_key.filter(|k| !k.is_empty()).map(sorted),
                })
            }
            TableOp::BatchGet { keys, consistent } => {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys.iter().map(key_to_sdk).collect()))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| StoreError::Fatal(format!("BatchGetItem: {e}")))?;
                let decoded = Decoded::<BatchGetAnswer>::new(&BatchGetItem::new(), || {
                    Output::erase(BatchGetItemOutput::builder().build())
                });
                self.client
                    .batch_get_item()
                    .request_items(name, request)
                    .set_return_consumed_capacity(capacity)
                    .customize()
                    .interceptor(decoded.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&format!("BatchGetItem {name}"), &e))?;
                let mut out = decoded.take().map_err(undecodable(name, "BatchGetItem"))?;
                let found = out.responses.remove(name).unwrap_or_default();
                let unprocessed = match out.unprocessed_keys.remove(name) {
                    Some(left) => left
                        .keys
                        .iter()
                        .map(|k| self.key_in(k))
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                };
                // Every key read is charged, found or not.
                observe(
                    Capacity::units_of(&out.consumed_capacity, name),
                    keys.len().saturating_sub(unprocessed.len()),
                );
                Ok(TableResult::Items {
                    items: found.into_iter().map(sorted).collect(),
                    unprocessed,
                })
            }
            TableOp::BatchWrite { writes } => {
                let requests = writes.iter().map(request).collect::<Result<Vec<_>, _>>()?;
                let mut out = self
                    .client
                    .batch_write_item()
                    .request_items(name, requests)
                    .set_return_consumed_capacity(capacity)
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
                observe(
                    units_of(name, out.consumed_capacity()),
                    writes.len().saturating_sub(unprocessed.len()),
                );
                Ok(TableResult::Written { unprocessed })
            }
            TableOp::Get { key, consistent } => {
                let out = self
                    .client
                    .get_item()
                    .table_name(name)
                    .set_key(Some(key_to_sdk(&key)))
                    .consistent_read(consistent)
                    .set_return_consumed_capacity(capacity)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("GetItem {name}"), &e))?;
                observe(
                    out.consumed_capacity().and_then(ConsumedCapacity::capacity_units),
                    1,
                );
                let item = out
                    .item()
                    .map(|i| item_from_sdk(i).map_err(unreadable(name)))
                    .transpose()?;
                Ok(TableResult::Item(item))
            }
            TableOp::ConditionalWrite { write, expect } => {
                let (result, units) = self.conditional(write, &expect, capacity).await;
                observe(units, 1);
                result
            }
        }
    }

    /// A conditional PutItem or DeleteItem, and the capacity its answer reports consumed.
    async fn conditional(
        &self,
        write: Write,
        expect: &Expect,
        capacity: Option<ReturnConsumedCapacity>,
    ) -> (Result<TableResult, StoreError>, Option<f64>) {
        let name = self.name.as_str();
        let condition = expect.condition(&self.schema.partition.name);
        let values = (!condition.values.is_empty()).then(|| item_to_sdk(&condition.values));
        let names: HashMap<String, String> = condition.names.into_iter().collect();
        match &write {
            Write::Put(item) => written(
                &format!("PutItem {name}"),
                self.client
                    .put_item()
                    .table_name(name)
                    .set_item(Some(item_to_sdk(item)))
                    .condition_expression(condition.expression)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(values)
                    .set_return_consumed_capacity(capacity)
                    .send()
                    .await
                    .map(|out| out.consumed_capacity().and_then(ConsumedCapacity::capacity_units)),
                PutItemError::is_conditional_check_failed_exception,
            ),
            Write::Delete(key) => written(
                &format!("DeleteItem {name}"),
                self.client
                    .delete_item()
                    .table_name(name)
                    .set_key(Some(key_to_sdk(key)))
                    .condition_expression(condition.expression)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(values)
                    .set_return_consumed_capacity(capacity)
                    .send()
                    .await
                    .map(|out| out.consumed_capacity().and_then(ConsumedCapacity::capacity_units)),
                DeleteItemError::is_conditional_check_failed_exception,
            ),
        }
    }
}

/// A conditional write's answer: written (with the units it consumed), its condition failed, or an error.
fn written<E>(
    what: &str,
    answer: Result<Option<f64>, SdkError<E, HttpResponse>>,
    condition_failed: impl Fn(&E) -> bool,
) -> (Result<TableResult, StoreError>, Option<f64>)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match answer {
        Ok(units) => (
            Ok(TableResult::Written {
                unprocessed: Vec::new(),
            }),
            units,
        ),
        Err(e) if e.as_service_error().is_some_and(condition_failed) => {
            (Ok(TableResult::ConditionFailed), None)
        }
        Err(e) => (Err(classify(what, &e)), None),
    }
}

impl TableStore for DynamoTables {
    fn take_rate(&self) -> Option<u32> {
        let meters = [Some(&self.primary), self.replica.as_ref()];
        meters
            .into_iter()
            .flatten()
            .filter_map(|t| t.meter.as_ref()?.take_rate())
            .min()
    }

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
