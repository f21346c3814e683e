//! The DynamoDB expression language: condition and filter expressions, update expressions, projection
//! expressions and key condition expressions, parsed with DynamoDB's syntax and error messages and evaluated
//! with its semantics. Pure: expression text and items in, trees, booleans and items out; this module
//! performs no I/O whatsoever.
//!
//! # Use
//! A request's expressions share one [`ExprContext`] built from its `ExpressionAttributeNames` and
//! `ExpressionAttributeValues`. Parse every expression of the request with it, in the order DynamoDB checks
//! them (UpdateExpression, ConditionExpression, KeyConditionExpression, FilterExpression,
//! ProjectionExpression), stop at the first error, then call [`ExprContext::check_all_used`]: DynamoDB refuses
//! placeholders that no expression used. Every [`ExprError`] is a `ValidationException` whose
//! [`message`](ExprError::message) is DynamoDB's text.
//!
//! ```
//! use std::collections::BTreeMap;
//! use ddbrep_engine::expr::{self, ConditionKind, ExprContext};
//! use ddbrep_engine::model::{Item, KeySchema, ScalarType, Value};
//!
//! let names = BTreeMap::from([("#s".to_owned(), "status".to_owned())]);
//! let values = BTreeMap::from([(":open".to_owned(), Value::from("open")), (":one".to_owned(), Value::from(1))]);
//! let mut ctx = ExprContext::new(Some(names), Some(values))?;
//! let update = expr::parse_update("SET #s = :open ADD hits :one", &mut ctx)?;
//! let condition = expr::parse_condition("attribute_exists(id)", ConditionKind::Condition, &mut ctx)?;
//! ctx.check_all_used()?;
//!
//! let mut item: Item = [("id", Value::from("a"))].into_iter().collect();
//! assert!(condition.evaluate(Some(&item)));
//! update.apply(&mut item, &KeySchema::partition_only("id", ScalarType::S))?;
//! assert_eq!(item.get("hits"), Some(&Value::from(1)));
//! # Ok::<(), ddbrep_engine::expr::ExprError>(())
//! ```
//!
//! # Where the rules come from
//! The AWS Developer Guide pages "Expressions", "Comparison operator and function reference", "Update
//! expressions", "Projection expressions", "Expression attribute names" and "Reserved words in DynamoDB";
//! where the guide is silent, the behaviour DynamoDB-compatible emulators verified against DynamoDB (dynalite's
//! tests, ScyllaDB Alternator's tests, moto's tests). Each non-obvious rule cites its source beside the code.

mod ast;
mod eval;
mod key_condition;
mod lex;
mod parse;
mod projection;
mod reserved;
mod update;

use std::collections::{BTreeMap, BTreeSet};

pub use ast::{
    Clause, CompareOp, Condition, Function, Operand, Path, PathElem, SetValue, UpdateOperand, ValueRef,
};
pub use key_condition::{KeyCondition, SortCondition, SortKeyCondition};
pub use projection::ProjectionExpr;
pub use update::UpdateExpr;

use crate::model::{KeySchema, Value};

/// Longest expression DynamoDB accepts, in bytes: "The maximum length of any expression string is 4 KB"
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-expression-parameters>).
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Most operands of `IN` (same page).
pub const MAX_IN_OPERANDS: usize = 100;
/// Most operators and functions in an UpdateExpression (same page). We count actions too: DynamoDB refuses
/// an update of a few hundred attributes with the same error.
pub const MAX_UPDATE_OPERATORS: usize = 300;
/// Deepest document path: items nest at most 32 levels
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-attributes>).
pub const MAX_PATH_DEPTH: usize = 32;
/// Deepest nesting of parentheses, NOT and function calls we parse. Ours, to bound recursion; DynamoDB's own
/// limit is not documented, and 4 KB of text leaves no practical use for more.
pub const MAX_NESTING: usize = 64;

/// Which request parameter an expression came from; it names the expression in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpressionKind {
    /// `UpdateExpression`
    Update,
    /// `ConditionExpression`
    Condition,
    /// `KeyConditionExpression`
    KeyCondition,
    /// `FilterExpression`
    Filter,
    /// `ProjectionExpression`
    Projection,
}

impl ExpressionKind {
    /// The request parameter's name: `UpdateExpression`, …
    pub fn parameter(self) -> &'static str {
        match self {
            ExpressionKind::Update => "UpdateExpression",
            ExpressionKind::Condition => "ConditionExpression",
            ExpressionKind::KeyCondition => "KeyConditionExpression",
            ExpressionKind::Filter => "FilterExpression",
            ExpressionKind::Projection => "ProjectionExpression",
        }
    }
}

/// Where a condition comes from: the two parameters share their syntax and differ only in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// `ConditionExpression` (PutItem, UpdateItem, DeleteItem, TransactWriteItems).
    Condition,
    /// `FilterExpression` (Query, Scan).
    Filter,
}

impl From<ConditionKind> for ExpressionKind {
    fn from(kind: ConditionKind) -> ExpressionKind {
        match kind {
            ConditionKind::Condition => ExpressionKind::Condition,
            ConditionKind::Filter => ExpressionKind::Filter,
        }
    }
}

/// What kind of mistake an [`ExprError`] reports. All are `ValidationException`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExprErrorKind {
    /// The expression text is empty.
    Empty,
    /// Longer than 4 KB, or more operators than an update may have.
    TooLong,
    /// The text does not parse (`Syntax error; token: …`).
    Syntax,
    /// Parentheses around parentheses.
    RedundantParentheses,
    /// An unquoted attribute name is a reserved word.
    ReservedWord,
    /// A function DynamoDB does not have, or one used where it is not allowed.
    Function,
    /// A `#name` not in ExpressionAttributeNames.
    UndefinedName,
    /// A `:value` not in ExpressionAttributeValues.
    UndefinedValue,
    /// ExpressionAttributeNames or ExpressionAttributeValues entries no expression used.
    Unused,
    /// ExpressionAttributeNames or ExpressionAttributeValues themselves are malformed.
    InvalidPlaceholders,
    /// Wrong operand count, wrong operand type, or the same path on both sides.
    Operand,
    /// A document path nested deeper than items can be.
    PathTooDeep,
    /// Two document paths of an update or projection overlap or conflict.
    PathOverlap,
    /// The same clause twice in an update.
    DuplicateClause,
    /// A KeyConditionExpression that Query cannot use.
    KeyCondition,
    /// An update that changes a key attribute.
    KeyAttribute,
    /// An update path that does not fit the item (a missing map, a non-container).
    InvalidUpdatePath,
    /// An update operand of the wrong type for the item's data.
    IncorrectDataType,
    /// An update reads an attribute the item does not have.
    MissingAttribute,
    /// Arithmetic whose result DynamoDB cannot store.
    Number,
    /// The updated item breaks a value rule (nesting).
    InvalidItem,
}

/// A refused expression: its kind and DynamoDB's message, to be returned verbatim as a
/// `ValidationException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    kind: ExprErrorKind,
    message: String,
}

impl ExprError {
    pub(crate) fn new(kind: ExprErrorKind, message: impl Into<String>) -> ExprError {
        ExprError {
            kind,
            message: message.into(),
        }
    }

    /// An error inside one expression: DynamoDB prefixes these with `Invalid <Parameter>: `.
    pub(crate) fn invalid(expression: ExpressionKind, kind: ExprErrorKind, detail: &str) -> ExprError {
        ExprError::new(kind, format!("Invalid {}: {detail}", expression.parameter()))
    }

    /// What kind of mistake this is.
    pub fn kind(&self) -> ExprErrorKind {
        self.kind
    }

    /// DynamoDB's message text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The placeholders of one request, shared by all its expressions, and which of them were used.
#[derive(Debug, Clone, Default)]
pub struct ExprContext {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, Value>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

/// Is `key` a valid placeholder key: the sigil, then one or more letters, digits or `_`.
fn valid_key(key: &str, sigil: char) -> bool {
    let mut chars = key.chars();
    chars.next() == Some(sigil) && key.len() > 1 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ExprContext {
    /// A context for a request, from its `ExpressionAttributeNames` and `ExpressionAttributeValues` (`None`
    /// when the request has no such parameter). Refuses what DynamoDB refuses before looking at any
    /// expression: an empty map, a key that is not `#word` / `:word`.
    pub fn new(
        names: Option<BTreeMap<String, String>>,
        values: Option<BTreeMap<String, Value>>,
    ) -> Result<ExprContext, ExprError> {
        let invalid = |m: String| ExprError::new(ExprErrorKind::InvalidPlaceholders, m);
        if let Some(names) = &names {
            if names.is_empty() {
                return Err(invalid("ExpressionAttributeNames must not be empty".into()));
            }
            if let Some(key) = names.keys().find(|k| !valid_key(k, '#')) {
                return Err(invalid(format!(
                    "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{key}\""
                )));
            }
        }
        if let Some(values) = &values {
            if values.is_empty() {
                return Err(invalid("ExpressionAttributeValues must not be empty".into()));
            }
            if let Some(key) = values.keys().find(|k| !valid_key(k, ':')) {
                return Err(invalid(format!(
                    "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{key}\""
                )));
            }
        }
        Ok(ExprContext {
            names: names.unwrap_or_default(),
            values: values.unwrap_or_default(),
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        })
    }

    /// A context with no placeholders.
    pub fn empty() -> ExprContext {
        ExprContext::default()
    }

    /// The attribute name a `#name` stands for, marking it used. An empty name counts as undefined.
    pub(crate) fn name(&mut self, placeholder: &str) -> Option<String> {
        let name = self.names.get(placeholder).filter(|n| !n.is_empty())?.clone();
        self.used_names.insert(placeholder.to_owned());
        Some(name)
    }

    /// The value a `:value` stands for, marking it used.
    pub(crate) fn value(&mut self, placeholder: &str) -> Option<Value> {
        let value = self.values.get(placeholder)?.clone();
        self.used_values.insert(placeholder.to_owned());
        Some(value)
    }

    /// After parsing all of a request's expressions: refuses names, then values, that none of them used
    /// (`Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}`; keys in sorted
    /// order).
    pub fn check_all_used(&self) -> Result<(), ExprError> {
        let unused_names: Vec<&str> = self
            .names
            .keys()
            .filter(|k| !self.used_names.contains(*k))
            .map(String::as_str)
            .collect();
        if !unused_names.is_empty() {
            return Err(ExprError::new(
                ExprErrorKind::Unused,
                format!(
                    "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                    unused_names.join(", ")
                ),
            ));
        }
        let unused_values: Vec<&str> = self
            .values
            .keys()
            .filter(|k| !self.used_values.contains(*k))
            .map(String::as_str)
            .collect();
        if !unused_values.is_empty() {
            return Err(ExprError::new(
                ExprErrorKind::Unused,
                format!(
                    "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                    unused_values.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The checks every expression gets before parsing: not empty, at most 4 KB.
fn check_text(text: &str, expression: ExpressionKind) -> Result<(), ExprError> {
    if text.is_empty() {
        return Err(ExprError::invalid(
            expression,
            ExprErrorKind::Empty,
            "The expression can not be empty;",
        ));
    }
    if text.len() > MAX_EXPRESSION_BYTES {
        return Err(ExprError::invalid(
            expression,
            ExprErrorKind::TooLong,
            &format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Parses a ConditionExpression or FilterExpression. Evaluate it with [`Condition::evaluate`].
pub fn parse_condition(
    text: &str,
    kind: ConditionKind,
    ctx: &mut ExprContext,
) -> Result<Condition, ExprError> {
    check_text(text, kind.into())?;
    parse::condition(text, kind.into(), ctx)
}

/// Parses an UpdateExpression. Apply it with [`UpdateExpr::apply`].
pub fn parse_update(text: &str, ctx: &mut ExprContext) -> Result<UpdateExpr, ExprError> {
    check_text(text, ExpressionKind::Update)?;
    parse::update(text, ctx)
}

/// Parses a ProjectionExpression. Apply it with [`ProjectionExpr::apply`].
pub fn parse_projection(text: &str, ctx: &mut ExprContext) -> Result<ProjectionExpr, ExprError> {
    check_text(text, ExpressionKind::Projection)?;
    parse::projection(text, ctx)
}

/// Parses a Query's KeyConditionExpression against the key schema of the table or index queried.
pub fn parse_key_condition(
    text: &str,
    schema: &KeySchema,
    ctx: &mut ExprContext,
) -> Result<KeyCondition, ExprError> {
    check_text(text, ExpressionKind::KeyCondition)?;
    let condition = parse::condition(text, ExpressionKind::KeyCondition, ctx)?;
    key_condition::from_condition(&condition, schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_maps_are_checked_before_any_expression() {
        let err = ExprContext::new(Some(BTreeMap::new()), None).unwrap_err();
        assert_eq!(err.message(), "ExpressionAttributeNames must not be empty");
        let bad = BTreeMap::from([("a".to_owned(), "a".to_owned())]);
        let err = ExprContext::new(Some(bad), None).unwrap_err();
        assert_eq!(
            err.message(),
            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\""
        );
        let bad = BTreeMap::from([(":".to_owned(), Value::Null)]);
        let err = ExprContext::new(None, Some(bad)).unwrap_err();
        assert_eq!(
            err.message(),
            "ExpressionAttributeValues contains invalid key: Syntax error; key: \":\""
        );
    }

    #[test]
    fn unused_names_are_reported_before_unused_values() {
        let names = BTreeMap::from([
            ("#b".to_owned(), "b".to_owned()),
            ("#a".to_owned(), "a".to_owned()),
        ]);
        let values = BTreeMap::from([(":x".to_owned(), Value::Null), (":y".to_owned(), Value::Null)]);
        let mut ctx = ExprContext::new(Some(names), Some(values)).unwrap();
        parse_condition("a = :y", ConditionKind::Condition, &mut ctx).unwrap();
        assert_eq!(
            ctx.check_all_used().unwrap_err().message(),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}"
        );
        parse_projection("#a, #b", &mut ctx).unwrap();
        assert_eq!(
            ctx.check_all_used().unwrap_err().message(),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"
        );
    }

    #[test]
    fn empty_and_oversized_expressions_are_refused() {
        let mut ctx = ExprContext::empty();
        assert_eq!(
            parse_update("", &mut ctx).unwrap_err().message(),
            "Invalid UpdateExpression: The expression can not be empty;"
        );
        let long = format!("a IN ({})", vec!["b"; 2100].join(","));
        assert_eq!(
            parse_condition(&long, ConditionKind::Filter, &mut ctx).unwrap_err().message(),
            format!(
                "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: {}",
                long.len()
            )
        );
    }
}
