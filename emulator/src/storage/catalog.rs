//! The catalog: every table's definition (`TableMeta`, stored as JSON in `tables.meta`) and the checked key
//! schemas derived from it, cached in memory. Only the writer thread changes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use ddbrep_engine::model::{
    key_schema_from, AttributeDefinition, KeySchema, KeySchemaElement, Projection, ProvisionedThroughput,
    SchemaError,
};
use serde::{Deserialize, Serialize};

/// A secondary index as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Index name.
    pub name: String,
    /// Its key.
    pub key_schema: Vec<KeySchemaElement>,
    /// What it projects.
    pub projection: Projection,
    /// A GSI's throughput.
    pub throughput: Option<ProvisionedThroughput>,
    /// Whether it is global.
    pub global: bool,
}

/// A table's stream as stored in the table's definition (the current one; older ones live on in `streams`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`.
    pub arn: String,
    /// The label, an ISO-8601 time.
    pub label: String,
    /// KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
    pub view_type: String,
    /// Whether the stream is on (a disabled stream keeps its ARN in DescribeTable's LatestStreamArn).
    pub enabled: bool,
}

/// Time to live, as set by UpdateTimeToLive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlMeta {
    /// The attribute holding the expiry time (epoch seconds).
    pub attribute: String,
    /// Whether expiry is on.
    pub enabled: bool,
}

/// A table's definition, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMeta {
    /// Row id in `tables`, and `table_id` of its items.
    pub id: i64,
    /// Table name.
    pub name: String,
    /// Table ARN.
    pub arn: String,
    /// A UUID-shaped id, as DescribeTable's TableId.
    pub table_id: String,
    /// The attribute definitions given at creation (and for indexes added later).
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// The table's key.
    pub key_schema: Vec<KeySchemaElement>,
    /// PROVISIONED or PAY_PER_REQUEST.
    pub billing_mode: String,
    /// Provisioned throughput (zeros for on-demand, as DescribeTable shows).
    pub throughput: ProvisionedThroughput,
    /// Secondary indexes.
    pub indexes: Vec<IndexMeta>,
    /// The current stream, if one was ever enabled.
    pub stream: Option<StreamMeta>,
    /// STANDARD or STANDARD_INFREQUENT_ACCESS.
    pub table_class: String,
    /// Whether DeleteTable is refused.
    pub deletion_protection: bool,
    /// Creation time.
    pub created_ms: u64,
    /// Time to live.
    pub ttl: Option<TtlMeta>,
}

/// A table's definition with its checked key schemas.
#[derive(Debug, Clone)]
pub struct Table {
    /// The definition.
    pub meta: TableMeta,
    /// The table's key.
    pub key: KeySchema,
    /// Each index's key, by index name.
    pub index_keys: BTreeMap<String, KeySchema>,
}

impl Table {
    /// Derives the key schemas of a definition.
    pub fn from_meta(meta: TableMeta) -> Result<Table, SchemaError> {
        let key = key_schema_from(&meta.key_schema, &meta.attribute_definitions)?;
        let mut index_keys = BTreeMap::new();
        for index in &meta.indexes {
            index_keys.insert(
                index.name.clone(),
                key_schema_from(&index.key_schema, &meta.attribute_definitions)?,
            );
        }
        Ok(Table {
            meta,
            key,
            index_keys,
        })
    }

    /// An index's definition and key, by name.
    pub fn index(&self, name: &str) -> Option<(&IndexMeta, &KeySchema)> {
        let meta = self.meta.indexes.iter().find(|i| i.name == name)?;
        Some((meta, self.index_keys.get(name)?))
    }

    /// The stream records are written to, if the stream is on.
    pub fn active_stream(&self) -> Option<&StreamMeta> {
        self.meta.stream.as_ref().filter(|s| s.enabled)
    }
}

/// All tables, by name.
#[derive(Debug, Default)]
pub struct Catalog {
    tables: BTreeMap<String, Arc<Table>>,
}

impl Catalog {
    /// A table by name.
    pub fn get(&self, name: &str) -> Option<Arc<Table>> {
        self.tables.get(name).cloned()
    }

    /// Adds or replaces a table.
    pub fn put(&mut self, table: Table) {
        self.tables.insert(table.meta.name.clone(), Arc::new(table));
    }

    /// Removes a table.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Table>> {
        self.tables.remove(name)
    }

    /// Table names in order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.tables.keys()
    }

    /// Every table.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.tables.values()
    }
}
