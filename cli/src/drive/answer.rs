//! Scan and BatchGetItem answers decoded by the engine's DynamoDB-JSON decoder instead of the SDK's.
//!
//! Every scanning tool spends most of its own CPU turning answers into items, and the SDK does it twice
//! over: its JSON tokenizer builds `HashMap<String, AttributeValue>`s, which [`super::convert`] then turns
//! into the model. For the two reads that carry a table's items in bulk, [`Decoded`] swaps in a
//! deserializer of its own for the one request: a success answer's body goes straight into the model in
//! one streaming pass (`ddbrep_engine::codec::ddb_json`), and the SDK gets an empty output; an error
//! answer goes to the SDK's own deserializer, so error types, retries and `classify` are unchanged. The
//! request, its signature, endpoint, credentials, timeouts and retries all stay the SDK's.
//!
//! Attributes are put in name order at every map level, as items read through the SDK always were
//! ([`super::convert`]), so dumps and backup bodies keep their bytes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, FrozenLayer, Intercept, Layer, RuntimeComponents, RuntimePlugin};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{Error, Output};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::ser_de::{DeserializeResponse, SharedResponseDeserializer};
use ddbrep_engine::model::{Item, Value};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A Scan answer (Count and ScannedCount are not needed).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScanAnswer {
    /// The page's items.
    #[serde(default)]
    pub items: Vec<Item>,
    /// Where the next page starts, if there is one.
    #[serde(default)]
    pub last_evaluated_key: Option<Item>,
    /// What the page cost, when it was asked for.
    #[serde(default)]
    pub consumed_capacity: Option<Capacity>,
}

/// A BatchGetItem answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetAnswer {
    /// The items found, by table.
    #[serde(default)]
    pub responses: HashMap<String, Vec<Item>>,
    /// The keys left to read again, by table.
    #[serde(default)]
    pub unprocessed_keys: HashMap<String, UnprocessedKeys>,
    /// What the answer cost, per table, when it was asked for.
    #[serde(default)]
    pub consumed_capacity: Vec<Capacity>,
}

/// One table's unprocessed keys (the rest of its `KeysAndAttributes` is what the request sent).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnprocessedKeys {
    /// The keys.
    #[serde(default)]
    pub keys: Vec<Item>,
}

/// `ConsumedCapacity`: the table and its capacity units.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Capacity {
    /// The table.
    #[serde(default)]
    pub table_name: Option<String>,
    /// The units consumed.
    #[serde(default)]
    pub capacity_units: Option<f64>,
}

impl Capacity {
    /// The units of `table` in a list of them.
    pub fn units_of(list: &[Capacity], table: &str) -> Option<f64> {
        list.iter()
            .find(|c| c.table_name.as_deref() == Some(table))
            .and_then(|c| c.capacity_units)
    }
}

/// Where the decoded answer lands: one per request.
type Slot<T> = Arc<Mutex<Option<Result<T, String>>>>;

/// The interceptor that installs [`Decode`] for one request (`.customize().interceptor(...)`), and hands
/// over what it decoded ([`Decoded::take`]).
pub struct Decoded<T> {
    slot: Slot<T>,
    /// The SDK output the operation gets back in place of the real one (always empty).
    empty: fn() -> Output,
    /// The operation's own configuration, which holds the SDK's deserializer of its errors.
    operation: FrozenLayer,
}

impl<T> Clone for Decoded<T> {
    fn clone(&self) -> Self {
        Decoded {
            slot: Arc::clone(&self.slot),
            empty: self.empty,
            operation: self.operation.clone(),
        }
    }
}

impl<T> fmt::Debug for Decoded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decoded")
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Decoded<T> {
    /// A decoder for one request of `operation` (the SDK's operation type, e.g. `Scan::new()`), whose output
    /// type `empty` builds.
    pub fn new(operation: &impl RuntimePlugin, empty: fn() -> Output) -> Decoded<T> {
        Decoded {
            slot: Arc::new(Mutex::new(None)),
            empty,
            operation: operation.config().unwrap_or_else(|| Layer::new("empty").freeze()),
        }
    }

    /// The answer decoded, after the request succeeded.
    pub fn take(&self) -> Result<T, String> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| Err("the answer was not decoded".into()))
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Intercept for Decoded<T> {
    fn name(&self) -> &'static str {
        "ddbrep::Decoded"
    }

    fn modify_before_deserialization(
        &self,
        _context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The interceptor layer outranks the operation's, for the rest of this request (every attempt).
        cfg.interceptor_state()
            .store_put(SharedResponseDeserializer::new(Decode { into: self.clone() }));
        Ok(())
    }
}

/// The response deserializer [`Decoded`] installs.
struct Decode<T> {
    into: Decoded<T>,
}

impl<T> fmt::Debug for Decode<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decode")
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> DeserializeResponse for Decode<T> {
    fn deserialize_nonstreaming_with_config(
        &self,
        response: &HttpResponse,
        cfg: &ConfigBag,
    ) -> Result<Output, OrchestratorError<Error>> {
        if !response.status().is_success() {
            // The operation's own deserializer: its typed errors, which retries and `classify` read.
            return match self.into.operation.load::<SharedResponseDeserializer>() {
                Some(sdk) => sdk.deserialize_nonstreaming_with_config(response, cfg),
                None => Err(OrchestratorError::other(
                    "the operation has no response deserializer",
                )),
            };
        }
        let decoded = match response.body().bytes() {
            Some(body) => serde_json::from_slice::<T>(body).map_err(|e| e.to_string()),
            None => Err("the answer's body was not read".into()),
        };
        *self.into.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(decoded);
        Ok((self.into.empty)())
    }
}

/// An item with its attributes in name order, at every map level.
pub fn sorted(item: Item) -> Item {
    let mut map = item.into_map();
    sort_map(&mut map);
    Item::from_map(map)
}

fn sort_map(map: &mut ddbrep_engine::model::Map) {
    map.sort_unstable_keys();
    map.values_mut().for_each(sort_value);
}

fn sort_value(value: &mut Value) {
    match value {
        Value::M(m) => sort_map(m),
        Value::L(l) => l.iter_mut().for_each(sort_value),
        _ => {}
    }
}
