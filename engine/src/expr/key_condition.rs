//! KeyConditionExpression: turning a parsed condition into the key range a Query reads, with DynamoDB's
//! errors. Pure; performs no I/O.
//!
//! A key condition is an equality on the partition key, optionally AND one condition on the sort key: `=`,
//! `<`, `<=`, `>`, `>=`, `BETWEEN` or `begins_with`
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.KeyConditionExpressions.html>).
//! The wording of the errors is DynamoDB's as recorded by dynalite's `test/query.js` (run against DynamoDB).

use std::cmp::Ordering;

use super::ast::{CompareOp, Condition, Function, Operand, Path};
use super::{ExprError, ExprErrorKind, ExpressionKind};
use crate::model::{KeySchema, KeyValue, ScalarType, Value};

/// The sort key part of a key condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortCondition {
    /// `= v`
    Eq(KeyValue),
    /// `< v`
    Lt(KeyValue),
    /// `<= v`
    Le(KeyValue),
    /// `> v`
    Gt(KeyValue),
    /// `>= v`
    Ge(KeyValue),
    /// `BETWEEN low AND high`, both inclusive.
    Between(KeyValue, KeyValue),
    /// `begins_with(sk, prefix)` (S or B).
    BeginsWith(KeyValue),
}

impl SortCondition {
    /// Whether a sort key value satisfies the condition, in DynamoDB's key order.
    pub fn matches(&self, value: &KeyValue) -> bool {
        match self {
            SortCondition::Eq(v) => value == v,
            SortCondition::Lt(v) => value < v,
            SortCondition::Le(v) => value <= v,
            SortCondition::Gt(v) => value > v,
            SortCondition::Ge(v) => value >= v,
            SortCondition::Between(lo, hi) => value >= lo && value <= hi,
            SortCondition::BeginsWith(prefix) => match (value, prefix) {
                (KeyValue::S(s), KeyValue::S(p)) => s.starts_with(p.as_str()),
                (KeyValue::B(b), KeyValue::B(p)) => b.starts_with(p),
                _ => false,
            },
        }
    }
}

/// The sort key attribute and its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKeyCondition {
    /// The sort key attribute's name.
    pub name: String,
    /// The condition on it.
    pub condition: SortCondition,
}

/// A Query's key condition: one partition, and optionally a range of sort keys in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCondition {
    /// The partition key attribute's name.
    pub partition_name: String,
    /// The partition key value.
    pub partition: KeyValue,
    /// The sort key condition, if any.
    pub sort: Option<SortKeyCondition>,
}

/// One simple condition on one key attribute, before the schema is consulted.
struct Simple<'a> {
    name: &'a str,
    op: Op<'a>,
}

enum Op<'a> {
    Compare(CompareOp, &'a Value),
    Between(&'a Value, &'a Value),
    BeginsWith(&'a Value),
}

fn plain(message: impl Into<String>) -> ExprError {
    ExprError::new(ExprErrorKind::KeyCondition, message)
}

fn invalid_operator(what: &str) -> ExprError {
    plain(format!("Invalid operator used in KeyConditionExpression: {what}"))
}

/// The single top-level attribute an operand names, or an error for nested paths and `size`.
fn key_path(path: &Path) -> Result<&str, ExprError> {
    if path.elems().len() > 1 {
        return Err(plain(
            "KeyConditionExpressions cannot have conditions on nested attributes",
        ));
    }
    Ok(path.top())
}

fn no_nesting(o: &Operand) -> Result<(), ExprError> {
    match o {
        Operand::Size(_) => Err(plain("KeyConditionExpressions cannot contain nested operations")),
        _ => Ok(()),
    }
}

/// The one attribute among the operands, checking there is exactly one.
fn single_attribute<'a>(operands: &[&'a Operand]) -> Result<(usize, &'a str), ExprError> {
    let mut found = None;
    for (i, o) in operands.iter().enumerate() {
        no_nesting(o)?;
        if let Operand::Path(p) = o {
            if found.is_some() {
                return Err(plain(
                    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                ));
            }
            found = Some((i, key_path(p)?));
        }
    }
    found.ok_or_else(|| plain("Invalid condition in KeyConditionExpression: No key attribute specified"))
}

fn literal(o: &Operand) -> Option<&Value> {
    match o {
        Operand::Value(v) => Some(&v.value),
        _ => None,
    }
}

fn flatten<'a>(c: &'a Condition, out: &mut Vec<Simple<'a>>) -> Result<(), ExprError> {
    match c {
        Condition::And(parts) => {
            for p in parts {
                flatten(p, out)?;
            }
            return Ok(());
        }
        Condition::Or(_) => return Err(invalid_operator("OR")),
        Condition::Not(_) => return Err(invalid_operator("NOT")),
        Condition::In { .. } => return Err(invalid_operator("IN")),
        Condition::Compare {
            op: CompareOp::Ne, ..
        } => return Err(invalid_operator("<>")),
        Condition::Function(Function::AttributeExists(_)) => {
            return Err(invalid_operator("attribute_exists"))
        }
        Condition::Function(Function::AttributeNotExists(_)) => {
            return Err(invalid_operator("attribute_not_exists"))
        }
        Condition::Function(Function::AttributeType(..)) => return Err(invalid_operator("attribute_type")),
        Condition::Function(Function::Contains(..)) => return Err(invalid_operator("contains")),
        _ => {}
    }
    let simple = match c {
        Condition::Compare { op, left, right } => {
            let (at, name) = single_attribute(&[left, right])?;
            let (op, other) = if at == 0 {
                (*op, right)
            } else {
                (flipped(*op), left)
            };
            let value = literal(other).ok_or_else(|| {
                plain("Invalid condition in KeyConditionExpression: No key attribute specified")
            })?;
            Simple {
                name,
                op: Op::Compare(op, value),
            }
        }
        Condition::Between { operand, low, high } => {
            no_nesting(operand)?;
            let Operand::Path(p) = operand else {
                return Err(plain(
                    "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute \
                     as its first operand",
                ));
            };
            let name = key_path(p)?;
            let (Some(lo), Some(hi)) = (literal(low), literal(high)) else {
                no_nesting(low)?;
                no_nesting(high)?;
                return Err(plain(
                    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                ));
            };
            Simple {
                name,
                op: Op::Between(lo, hi),
            }
        }
        Condition::Function(Function::BeginsWith(a, b)) => {
            no_nesting(a)?;
            let Operand::Path(p) = a else {
                return Err(plain(
                    "Invalid condition in KeyConditionExpression: begins_with operator must have the key \
                     attribute as its first operand",
                ));
            };
            let name = key_path(p)?;
            let Some(prefix) = literal(b) else {
                no_nesting(b)?;
                return Err(plain(
                    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                ));
            };
            Simple {
                name,
                op: Op::BeginsWith(prefix),
            }
        }
        _ => return Err(plain("Query key condition not supported")),
    };
    if out.iter().any(|s| s.name == simple.name) {
        return Err(plain(
            "KeyConditionExpressions must only contain one condition per key",
        ));
    }
    out.push(simple);
    Ok(())
}

/// `:v < a` is `a > :v`.
fn flipped(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        other => other,
    }
}

fn mismatch() -> ExprError {
    plain("One or more parameter values were invalid: Condition parameter type does not match schema type")
}

fn key_value(value: &Value, ty: ScalarType, name: &str) -> Result<KeyValue, ExprError> {
    let kv = match (ty, value) {
        (ScalarType::S, Value::S(s)) => KeyValue::S(s.clone()),
        (ScalarType::N, Value::N(n)) => KeyValue::N(n.clone()),
        (ScalarType::B, Value::B(b)) => KeyValue::B(b.clone()),
        _ => return Err(mismatch()),
    };
    let empty = match &kv {
        KeyValue::S(s) => s.is_empty(),
        KeyValue::B(b) => b.is_empty(),
        KeyValue::N(_) => false,
    };
    if empty {
        // Wording as moto records it (`exceptions.py`, `KeyIsEmptyStringException`).
        return Err(plain(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain \
             an empty string value. Key: {name}"
        )));
    }
    Ok(kv)
}

/// Checks a parsed KeyConditionExpression against the schema and returns the key range.
pub(crate) fn from_condition(condition: &Condition, schema: &KeySchema) -> Result<KeyCondition, ExprError> {
    let mut simples = Vec::new();
    flatten(condition, &mut simples)?;
    if simples.len() > 2 {
        return Err(plain("Conditions can be of length 1 or 2 only"));
    }
    // The schema checks, in dynalite's `actions/query.js` order: partition key first.
    if schema.sort.is_none() && simples.len() > 1 {
        return Err(plain("Query key condition not supported"));
    }
    let partition_attr = &schema.partition;
    let Some(p) = simples.iter().find(|s| s.name == partition_attr.name) else {
        return Err(plain(format!(
            "Query condition missed key schema element: {}",
            partition_attr.name
        )));
    };
    let partition = match p.op {
        Op::Compare(CompareOp::Eq, v) => key_value(v, partition_attr.ty, &partition_attr.name)?,
        Op::Compare(_, v) | Op::BeginsWith(v) | Op::Between(v, _) => {
            key_value(v, partition_attr.ty, &partition_attr.name)?;
            return Err(plain("Query key condition not supported"));
        }
    };
    let mut sort = None;
    if let Some(sort_attr) = &schema.sort {
        match simples.iter().find(|s| s.name == sort_attr.name) {
            None if simples.len() > 1 => {
                return Err(plain(format!(
                    "Query condition missed key schema element: {}",
                    sort_attr.name
                )))
            }
            None => {}
            Some(s) => {
                let kv = |v: &Value| key_value(v, sort_attr.ty, &sort_attr.name);
                let condition = match s.op {
                    Op::Compare(CompareOp::Eq, v) => SortCondition::Eq(kv(v)?),
                    Op::Compare(CompareOp::Lt, v) => SortCondition::Lt(kv(v)?),
                    Op::Compare(CompareOp::Le, v) => SortCondition::Le(kv(v)?),
                    Op::Compare(CompareOp::Gt, v) => SortCondition::Gt(kv(v)?),
                    Op::Compare(CompareOp::Ge, v) => SortCondition::Ge(kv(v)?),
                    Op::Compare(CompareOp::Ne, _) => return Err(invalid_operator("<>")),
                    Op::Between(lo, hi) => {
                        let (lo, hi) = (kv(lo)?, kv(hi)?);
                        if lo.cmp(&hi) == Ordering::Greater {
                            return Err(ExprError::invalid(
                                ExpressionKind::KeyCondition,
                                ExprErrorKind::Operand,
                                "The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
                            ));
                        }
                        SortCondition::Between(lo, hi)
                    }
                    Op::BeginsWith(v) => {
                        if sort_attr.ty == ScalarType::N {
                            return Err(plain("Query key condition not supported"));
                        }
                        SortCondition::BeginsWith(kv(v)?)
                    }
                };
                sort = Some(SortKeyCondition {
                    name: sort_attr.name.clone(),
                    condition,
                });
            }
        }
    } else if let Some(other) = simples.iter().find(|s| s.name != partition_attr.name) {
        return Err(plain(format!(
            "Query condition missed key schema element: {}",
            other.name
        )));
    }
    Ok(KeyCondition {
        partition_name: partition_attr.name.clone(),
        partition,
        sort,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{parse_key_condition, ExprContext, ExprError};
    use super::*;
    use crate::model::Number;

    fn schema() -> KeySchema {
        KeySchema::composite("pk", ScalarType::S, "sk", ScalarType::N)
    }

    fn parse(text: &str, values: &[(&str, Value)], schema: &KeySchema) -> Result<KeyCondition, ExprError> {
        let values: BTreeMap<String, Value> =
            values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let mut ctx = ExprContext::new(None, (!values.is_empty()).then_some(values)).unwrap();
        parse_key_condition(text, schema, &mut ctx)
    }

    fn n(x: i64) -> Value {
        Value::N(Number::from(x))
    }

    fn kn(x: i64) -> KeyValue {
        KeyValue::N(Number::from(x))
    }

    #[test]
    fn partition_equality_and_each_sort_operator() {
        let v = [(":p", Value::from("a")), (":x", n(1)), (":y", n(5))];
        let k = parse("pk = :p", &v[..1], &schema()).unwrap();
        assert_eq!(k.partition, KeyValue::S("a".into()));
        assert_eq!(k.sort, None);
        for (text, expected) in [
            ("pk = :p AND sk = :x", SortCondition::Eq(kn(1))),
            ("pk = :p AND sk < :x", SortCondition::Lt(kn(1))),
            ("pk = :p AND :x < sk", SortCondition::Gt(kn(1))),
            (":p = pk AND sk >= :x", SortCondition::Ge(kn(1))),
            (
                "sk BETWEEN :x AND :y AND pk = :p",
                SortCondition::Between(kn(1), kn(5)),
            ),
        ] {
            let vals: Vec<(&str, Value)> = v.iter().filter(|(k, _)| text.contains(k)).cloned().collect();
            let k = parse(text, &vals, &schema()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(k.sort.map(|s| s.condition), Some(expected), "{text}");
        }
        let s = KeySchema::composite("pk", ScalarType::S, "sk", ScalarType::S);
        let k = parse(
            "pk = :p AND begins_with(sk, :b)",
            &[(":p", "a".into()), (":b", "x".into())],
            &s,
        )
        .unwrap();
        assert!(k.sort.unwrap().condition.matches(&KeyValue::S("xyz".into())));
    }

    #[test]
    fn what_query_cannot_use_is_refused_with_dynamodbs_words() {
        let cases: &[(&str, &str)] = &[
            ("pk = :p OR sk = :x", "Invalid operator used in KeyConditionExpression: OR"),
            ("NOT pk = :p", "Invalid operator used in KeyConditionExpression: NOT"),
            ("pk <> :p", "Invalid operator used in KeyConditionExpression: <>"),
            ("attribute_exists(pk)", "Invalid operator used in KeyConditionExpression: attribute_exists"),
            ("pk IN (:p)", "Invalid operator used in KeyConditionExpression: IN"),
            ("pk = :p AND sk.a = :x", "KeyConditionExpressions cannot have conditions on nested attributes"),
            ("pk = :p AND size(sk) = :x", "KeyConditionExpressions cannot contain nested operations"),
            ("pk = sk", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
            (":p = :x", "Invalid condition in KeyConditionExpression: No key attribute specified"),
            ("pk = :p AND pk = :p", "KeyConditionExpressions must only contain one condition per key"),
            ("pk = :p AND sk = :x AND z = :x", "Conditions can be of length 1 or 2 only"),
            ("sk = :x", "Query condition missed key schema element: pk"),
            ("pk = :p AND z = :x", "Query condition missed key schema element: sk"),
            ("pk > :p", "Query key condition not supported"),
            ("pk = :x", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ];
        let v = [(":p", Value::from("a")), (":x", n(1))];
        for (text, message) in cases {
            let vals: Vec<(&str, Value)> = v.iter().filter(|(k, _)| text.contains(k)).cloned().collect();
            let err = parse(text, &vals, &schema()).unwrap_err();
            assert_eq!(err.message(), *message, "{text}");
        }
        let hash_only = KeySchema::partition_only("pk", ScalarType::S);
        assert_eq!(
            parse("pk = :p AND sk = :x", &v, &hash_only)
                .unwrap_err()
                .message(),
            "Query key condition not supported"
        );
    }
}
