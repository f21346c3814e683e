//! The bridge from a request's expression parameters to `ddbrep_engine::expr`: parses every expression of
//! one request against its ExpressionAttributeNames/Values, and refuses names or values no expression used.
//!
//! TEMPORARY: until the engine's expression module lands, any expression is refused with a
//! ValidationException saying so; requests without expressions work.

use std::collections::BTreeMap;

use ddbrep_engine::model::{Item, KeySchema, KeyValue, Value};
use serde_json::Value as Json;

use super::error::DdbError;
use super::wire;

/// A parsed condition (ConditionExpression, FilterExpression).
#[derive(Debug)]
pub struct Condition(());

impl Condition {
    /// Whether the item (None: no item) satisfies it.
    pub fn evaluate(&self, _item: Option<&Item>) -> Result<bool, DdbError> {
        Ok(true)
    }
}

/// A parsed UpdateExpression.
#[derive(Debug)]
pub struct Update(());

impl Update {
    /// Applies it to `item` (a new item holds just the key). Returns the names of the top-level attributes
    /// it touched.
    pub fn apply(&self, _item: &mut Item, _key: &KeySchema) -> Result<Vec<String>, DdbError> {
        Ok(Vec::new())
    }
}

/// A parsed ProjectionExpression.
#[derive(Debug)]
pub struct Projection(());

impl Projection {
    /// The projected item.
    pub fn apply(&self, item: &Item) -> Item {
        item.clone()
    }
}

/// The sort-key part of a key condition.
#[derive(Debug, Clone)]
pub enum SortCondition {
    /// `=`
    Eq(KeyValue),
    /// `<`
    Lt(KeyValue),
    /// `<=`
    Le(KeyValue),
    /// `>`
    Gt(KeyValue),
    /// `>=`
    Ge(KeyValue),
    /// `BETWEEN a AND b`
    Between(KeyValue, KeyValue),
    /// `begins_with`
    BeginsWith(KeyValue),
}

/// A parsed KeyConditionExpression.
#[derive(Debug, Clone)]
pub struct KeyCondition {
    /// The partition key value.
    pub partition: KeyValue,
    /// The sort key condition.
    pub sort: Option<SortCondition>,
}

/// One request's expressions and their shared names and values.
pub struct Exprs {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, Value>,
}

impl Exprs {
    /// Reads ExpressionAttributeNames and ExpressionAttributeValues.
    pub fn new(
        names: &Option<BTreeMap<String, String>>,
        values: &Option<BTreeMap<String, Json>>,
    ) -> Result<Exprs, DdbError> {
        Ok(Exprs {
            names: names.clone().unwrap_or_default(),
            values: wire::values(values)?,
        })
    }

    fn unsupported(what: &str) -> DdbError {
        DdbError::validation(format!("{what} is not supported by this build of ddbrep-emu yet"))
    }

    /// ConditionExpression or FilterExpression.
    pub fn condition(&mut self, text: Option<&str>, what: &str) -> Result<Option<Condition>, DdbError> {
        match text {
            None => Ok(None),
            Some(_) => Err(Self::unsupported(what)),
        }
    }

    /// UpdateExpression.
    pub fn update(&mut self, text: Option<&str>) -> Result<Option<Update>, DdbError> {
        match text {
            None => Ok(None),
            Some(_) => Err(Self::unsupported("UpdateExpression")),
        }
    }

    /// ProjectionExpression.
    pub fn projection(&mut self, text: Option<&str>) -> Result<Option<Projection>, DdbError> {
        match text {
            None => Ok(None),
            Some(_) => Err(Self::unsupported("ProjectionExpression")),
        }
    }

    /// KeyConditionExpression against a table's or index's key.
    pub fn key_condition(&mut self, text: &str, _schema: &KeySchema) -> Result<KeyCondition, DdbError> {
        let _ = text;
        Err(Self::unsupported("KeyConditionExpression"))
    }

    /// Refuses names and values that no expression used.
    pub fn finish(self) -> Result<(), DdbError> {
        if let Some(name) = self.names.keys().next() {
            return Err(DdbError::validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{name}}}"
            )));
        }
        if let Some(value) = self.values.keys().next() {
            return Err(DdbError::validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{value}}}"
            )));
        }
        Ok(())
    }
}
