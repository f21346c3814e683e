//! The bridge from a request's expression parameters to `ddbrep_engine::expr`: every expression of one
//! request is parsed against its ExpressionAttributeNames/Values in AWS's order (update, condition, key
//! condition, filter, projection), then names and values no expression used are refused.

use std::collections::BTreeMap;

use ddbrep_engine::expr::{self, ConditionKind, ExprContext, ExprError};
pub use ddbrep_engine::expr::{
    Condition, KeyCondition, ProjectionExpr as Projection, SortCondition, UpdateExpr as Update,
};
use ddbrep_engine::model::KeySchema;
use serde_json::Value as Json;

use super::error::DdbError;
use super::wire;

/// AWS answers every expression error with a ValidationException carrying the engine's message.
pub fn error(e: ExprError) -> DdbError {
    DdbError::validation(e.message())
}

/// One request's expressions and their shared names and values.
pub struct Exprs {
    ctx: ExprContext,
}

impl Exprs {
    /// Reads ExpressionAttributeNames and ExpressionAttributeValues (values checked as attribute values).
    pub fn new(
        names: &Option<BTreeMap<String, String>>,
        values: &Option<BTreeMap<String, Json>>,
    ) -> Result<Exprs, DdbError> {
        let values = match values {
            Some(_) => Some(wire::values(values)?),
            None => None,
        };
        Ok(Exprs {
            ctx: ExprContext::new(names.clone(), values).map_err(error)?,
        })
    }

    /// ConditionExpression (`what` = "ConditionExpression") or FilterExpression.
    pub fn condition(&mut self, text: Option<&str>, what: &str) -> Result<Option<Condition>, DdbError> {
        let kind = if what == "FilterExpression" {
            ConditionKind::Filter
        } else {
            ConditionKind::Condition
        };
        text.map(|t| expr::parse_condition(t, kind, &mut self.ctx).map_err(error))
            .transpose()
    }

    /// UpdateExpression.
    pub fn update(&mut self, text: Option<&str>) -> Result<Option<Update>, DdbError> {
        text.map(|t| expr::parse_update(t, &mut self.ctx).map_err(error))
            .transpose()
    }

    /// ProjectionExpression.
    pub fn projection(&mut self, text: Option<&str>) -> Result<Option<Projection>, DdbError> {
        text.map(|t| expr::parse_projection(t, &mut self.ctx).map_err(error))
            .transpose()
    }

    /// KeyConditionExpression against a table's or index's key.
    pub fn key_condition(&mut self, text: &str, schema: &KeySchema) -> Result<KeyCondition, DdbError> {
        expr::parse_key_condition(text, schema, &mut self.ctx).map_err(error)
    }

    /// Refuses names and values that no expression used.
    pub fn finish(self) -> Result<(), DdbError> {
        self.ctx.check_all_used().map_err(error)
    }
}
