//! Applying an UpdateExpression to an item: SET, REMOVE, ADD and DELETE with DynamoDB's semantics and
//! errors. Pure; performs no I/O.
//!
//! The rules (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html>,
//! and dynalite's `test/updateItem.js`, run against DynamoDB):
//! - every operand is read from the item as it was before the update (`SET a = b, b = a` swaps);
//! - SET on a list index past the end appends; several appends to one list go in index order;
//! - REMOVE of a missing attribute does nothing; list indexes all refer to the list before the update, so
//!   `REMOVE a[1], a[3]` removes the original second and fourth elements;
//! - ADD creates a missing attribute with the value, adds numbers exactly and unites sets;
//! - DELETE takes members out of a set, removes the attribute when none are left, and does nothing when the
//!   attribute is missing;
//! - a path through a missing map or list, or into a value that is not a map or list, is "invalid for
//!   update"; reading a missing attribute (outside `if_not_exists`) is an error too.
//!
//! The whole update is applied to a copy: on error the item is left as it was.

use std::cmp::Ordering;
use std::fmt;

use super::ast::{Clause, Path, PathElem, SetValue, UpdateOperand, ValueRef};
use super::eval::resolve;
use super::projection::ProjectionExpr;
use super::{ExprError, ExprErrorKind};
use crate::model::{Item, KeySchema, ModelErrorKind, Number, NumberError, Value};

/// A parsed UpdateExpression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateExpr {
    clauses: Vec<Clause>,
}

fn invalid_path() -> ExprError {
    ExprError::new(
        ExprErrorKind::InvalidUpdatePath,
        "The document path provided in the update expression is invalid for update",
    )
}

fn incorrect_type() -> ExprError {
    ExprError::new(
        ExprErrorKind::IncorrectDataType,
        "An operand in the update expression has an incorrect data type",
    )
}

fn number_error(e: NumberError) -> ExprError {
    // DynamoDB's wording for numbers it cannot store (dynalite `validations/index.js`, moto `models/table.py`).
    let message = match e {
        NumberError::Overflow => {
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        }
        NumberError::Underflow => {
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        }
        _ => "Attempting to store more than 38 significant digits in a Number",
    };
    ExprError::new(ExprErrorKind::Number, message)
}

impl UpdateExpr {
    pub(crate) fn from_clauses(clauses: Vec<Clause>) -> UpdateExpr {
        UpdateExpr { clauses }
    }

    /// The clauses, in the order written.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Every path the update writes or removes, in the order written.
    pub fn target_paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        for clause in &self.clauses {
            match clause {
                Clause::Set(actions) => out.extend(actions.iter().map(|(p, _)| p)),
                Clause::Remove(paths) => out.extend(paths.iter()),
                Clause::Add(actions) | Clause::Delete(actions) => out.extend(actions.iter().map(|(p, _)| p)),
            }
        }
        out
    }

    /// A projection of exactly the paths this update touches: applied to the item before and after the
    /// update it gives `ReturnValues` `UPDATED_OLD` and `UPDATED_NEW`.
    pub fn updated_projection(&self) -> ProjectionExpr {
        ProjectionExpr::from_paths(self.target_paths().into_iter().cloned().collect())
    }

    /// Refuses an update that writes or removes a key attribute, or anything inside one.
    pub fn check_key_attributes(&self, key: &KeySchema) -> Result<(), ExprError> {
        match self.target_paths().into_iter().find(|p| key.is_key_attribute(p.top())) {
            Some(path) => Err(ExprError::new(
                ExprErrorKind::KeyAttribute,
                format!(
                    "One or more parameter values were invalid: Cannot update attribute {}. This attribute is \
                     part of the key",
                    path.top()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Applies the update to `item` (for a key that did not exist yet: an item of just the key attributes).
    /// On error `item` is unchanged. The result passes `Item::validate_values`; the caller
    /// checks the item size limit.
    pub fn apply(&self, item: &mut Item, key: &KeySchema) -> Result<(), ExprError> {
        self.check_key_attributes(key)?;
        let mut next = item.clone();
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut adds = Vec::new();
        let mut deletes = Vec::new();
        for clause in &self.clauses {
            match clause {
                Clause::Set(actions) => {
                    for (path, value) in actions {
                        sets.push((path, set_value(value, item)?));
                    }
                }
                Clause::Remove(paths) => removes.extend(paths.iter()),
                Clause::Add(actions) => adds.extend(actions.iter()),
                Clause::Delete(actions) => deletes.extend(actions.iter()),
            }
        }
        // Appends to a list go in index order, after the in-place writes
        // ("the elements are sorted in order by element number", Update expressions page).
        sets.sort_by_key(|(path, _)| match path.elems().last() {
            Some(PathElem::Index(i)) => (1, *i),
            _ => (0, 0),
        });
        for (path, value) in sets {
            set_at(&mut next, path, value)?;
        }
        // Later positions first, so that every index refers to the list as it was.
        removes.sort_by(|a, b| path_order(b, a));
        for path in removes {
            remove_at(&mut next, path)?;
        }
        for (path, ValueRef { value, .. }) in adds {
            let merged = match resolve(&next, path) {
                None => value.clone(),
                Some(current) => add_values(current, value)?,
            };
            set_at(&mut next, path, merged)?;
        }
        for (path, ValueRef { value, .. }) in deletes {
            match resolve(&next, path) {
                None => check_parent(&next, path)?,
                Some(current) => match delete_members(current, value)? {
                    Some(rest) => set_at(&mut next, path, rest)?,
                    None => remove_at(&mut next, path)?,
                },
            }
        }
        next.validate_values().map_err(|e| {
            let message = match e.kind {
                ModelErrorKind::NestingTooDeep => "Nesting Levels have exceeded supported limits".to_owned(),
                _ => format!("One or more parameter values were invalid: {e}"),
            };
            ExprError::new(ExprErrorKind::InvalidItem, message)
        })?;
        *item = next;
        Ok(())
    }
}

impl fmt::Display for UpdateExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{clause}")?;
        }
        Ok(())
    }
}

fn set_value(value: &SetValue, item: &Item) -> Result<Value, ExprError> {
    match value {
        SetValue::Operand(o) => operand(o, item),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let (Value::N(x), Value::N(y)) = (operand(a, item)?, operand(b, item)?) else {
                return Err(incorrect_type());
            };
            let result = if matches!(value, SetValue::Plus(..)) {
                x.checked_add(&y)
            } else {
                x.checked_sub(&y)
            };
            result.map(Value::N).map_err(number_error)
        }
    }
}

fn operand(o: &UpdateOperand, item: &Item) -> Result<Value, ExprError> {
    match o {
        UpdateOperand::Path(path) => resolve(item, path).cloned().ok_or_else(|| {
            ExprError::new(
                ExprErrorKind::MissingAttribute,
                "The provided expression refers to an attribute that does not exist in the item",
            )
        }),
        UpdateOperand::Value(v) => Ok(v.value.clone()),
        UpdateOperand::IfNotExists(path, fallback) => match resolve(item, path) {
            Some(v) => Ok(v.clone()),
            None => operand(fallback, item),
        },
        UpdateOperand::ListAppend(a, b) => match (operand(a, item)?, operand(b, item)?) {
            (Value::L(mut x), Value::L(y)) => {
                x.extend(y);
                Ok(Value::L(x))
            }
            _ => Err(incorrect_type()),
        },
    }
}

/// The value at `elems` for changing in place.
fn value_mut<'a>(item: &'a mut Item, elems: &[PathElem]) -> Option<&'a mut Value> {
    let (first, rest) = elems.split_first()?;
    let mut current = item.as_map_mut().get_mut(first.name()?)?;
    for elem in rest {
        current = match (elem, current) {
            (PathElem::Attr { name, .. }, Value::M(map)) => map.get_mut(name)?,
            (PathElem::Index(i), Value::L(list)) => list.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Writes `value` at `path`; the container it goes into must exist.
fn set_at(item: &mut Item, path: &Path, value: Value) -> Result<(), ExprError> {
    let Some((last, parent)) = path.elems().split_last() else {
        return Err(invalid_path());
    };
    if parent.is_empty() {
        let name = last.name().ok_or_else(invalid_path)?;
        item.insert(name, value);
        return Ok(());
    }
    match (value_mut(item, parent).ok_or_else(invalid_path)?, last) {
        (Value::M(map), PathElem::Attr { name, .. }) => {
            map.insert(name.clone(), value);
        }
        (Value::L(list), PathElem::Index(i)) => match list.get_mut(*i) {
            Some(slot) => *slot = value,
            None => list.push(value),
        },
        _ => return Err(invalid_path()),
    }
    Ok(())
}

/// Removes what is at `path`, if anything; the container it is in must exist.
fn remove_at(item: &mut Item, path: &Path) -> Result<(), ExprError> {
    let Some((last, parent)) = path.elems().split_last() else {
        return Err(invalid_path());
    };
    if parent.is_empty() {
        item.remove(last.name().ok_or_else(invalid_path)?);
        return Ok(());
    }
    match (value_mut(item, parent).ok_or_else(invalid_path)?, last) {
        (Value::M(map), PathElem::Attr { name, .. }) => {
            map.shift_remove(name);
        }
        (Value::L(list), PathElem::Index(i)) => {
            if *i < list.len() {
                list.remove(*i);
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

/// The container `path` points into must exist and be of the right kind.
fn check_parent(item: &Item, path: &Path) -> Result<(), ExprError> {
    let Some((last, parent)) = path.elems().split_last() else {
        return Err(invalid_path());
    };
    if parent.is_empty() {
        return Ok(());
    }
    let parent = Path(parent.to_vec());
    match (resolve(item, &parent), last) {
        (Some(Value::M(_)), PathElem::Attr { .. }) | (Some(Value::L(_)), PathElem::Index(_)) => Ok(()),
        _ => Err(invalid_path()),
    }
}

/// Lexicographic order of paths, step by step; for sorting REMOVE targets.
fn path_order(a: &Path, b: &Path) -> Ordering {
    for (x, y) in a.elems().iter().zip(b.elems()) {
        let o = match (x, y) {
            (PathElem::Attr { name: m, .. }, PathElem::Attr { name: n, .. }) => m.cmp(n),
            (PathElem::Index(m), PathElem::Index(n)) => m.cmp(n),
            (PathElem::Attr { .. }, PathElem::Index(_)) => Ordering::Less,
            (PathElem::Index(_), PathElem::Attr { .. }) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.elems().len().cmp(&b.elems().len())
}

fn union<T: PartialEq + Clone>(current: &[T], more: &[T]) -> Vec<T> {
    let mut out = current.to_vec();
    for m in more {
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

/// ADD to an existing value: numbers add, sets unite.
fn add_values(current: &Value, value: &Value) -> Result<Value, ExprError> {
    Ok(match (current, value) {
        (Value::N(a), Value::N(b)) => Value::N(a.checked_add(b).map_err(number_error)?),
        (Value::Ss(a), Value::Ss(b)) => Value::Ss(union(a, b)),
        (Value::Ns(a), Value::Ns(b)) => Value::Ns(union::<Number>(a, b)),
        (Value::Bs(a), Value::Bs(b)) => Value::Bs(union(a, b)),
        _ => return Err(incorrect_type()),
    })
}

/// DELETE from an existing set: what is left, or `None` when nothing is.
fn delete_members(current: &Value, value: &Value) -> Result<Option<Value>, ExprError> {
    fn rest<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    }
    let left = match (current, value) {
        (Value::Ss(a), Value::Ss(b)) => Value::Ss(rest(a, b)),
        (Value::Ns(a), Value::Ns(b)) => Value::Ns(rest(a, b)),
        (Value::Bs(a), Value::Bs(b)) => Value::Bs(rest(a, b)),
        _ => return Err(incorrect_type()),
    };
    let empty = match &left {
        Value::Ss(s) => s.is_empty(),
        Value::Ns(s) => s.is_empty(),
        Value::Bs(s) => s.is_empty(),
        _ => false,
    };
    Ok((!empty).then_some(left))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{parse_update, ExprContext, ExprErrorKind};
    use crate::codec::ddb_json;
    use crate::model::{Item, KeySchema, ScalarType, Value};

    fn schema() -> KeySchema {
        KeySchema::partition_only("id", ScalarType::S)
    }

    fn item(json: &str) -> Item {
        ddb_json::parse_item(json).unwrap()
    }

    fn v(json: &str) -> Value {
        ddb_json::parse_value(json).unwrap()
    }

    fn ctx(values: &[(&str, &str)], names: &[(&str, &str)]) -> ExprContext {
        let values: BTreeMap<String, Value> = values.iter().map(|(k, j)| (k.to_string(), v(j))).collect();
        let names: BTreeMap<String, String> = names
            .iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect();
        ExprContext::new(
            (!names.is_empty()).then_some(names),
            (!values.is_empty()).then_some(values),
        )
        .unwrap()
    }

    fn run(start: &str, text: &str, values: &[(&str, &str)]) -> Result<Item, super::ExprError> {
        let mut c = ctx(values, &[]);
        let update = parse_update(text, &mut c).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut it = item(start);
        update.apply(&mut it, &schema())?;
        Ok(it)
    }

    fn json(it: &Item) -> String {
        ddb_json::item_to_string(it)
    }

    #[test]
    fn set_writes_top_level_and_nested_attributes() {
        let it = run(
            r#"{"id":{"S":"k"},"info":{"M":{"a":{"N":"1"}}},"l":{"L":[{"N":"1"},{"N":"2"}]}}"#,
            "SET a = :a, info.b = :b, l[0] = :z",
            &[
                (":a", r#"{"S":"A"}"#),
                (":b", r#"{"N":"2"}"#),
                (":z", r#"{"N":"0"}"#),
            ],
        )
        .unwrap();
        assert_eq!(
            json(&it),
            r#"{"id":{"S":"k"},"info":{"M":{"a":{"N":"1"},"b":{"N":"2"}}},"l":{"L":[{"N":"0"},{"N":"2"}]},"a":{"S":"A"}}"#
        );
    }

    #[test]
    fn set_on_a_list_index_past_the_end_appends_in_index_order() {
        let it = run(
            r#"{"id":{"S":"k"},"l":{"L":[{"N":"1"}]}}"#,
            "SET l[9] = :b, l[5] = :a",
            &[(":a", r#"{"S":"a"}"#), (":b", r#"{"S":"b"}"#)],
        )
        .unwrap();
        assert_eq!(
            json(&it),
            r#"{"id":{"S":"k"},"l":{"L":[{"N":"1"},{"S":"a"},{"S":"b"}]}}"#
        );
    }

    #[test]
    fn operands_read_the_item_before_the_update() {
        let it = run(
            r#"{"id":{"S":"k"},"a":{"N":"1"},"b":{"N":"2"}}"#,
            "SET a = b, b = a",
            &[],
        )
        .unwrap();
        assert_eq!(json(&it), r#"{"id":{"S":"k"},"a":{"N":"2"},"b":{"N":"1"}}"#);
    }

    #[test]
    fn arithmetic_if_not_exists_and_list_append() {
        let it = run(
            r#"{"id":{"S":"k"},"f":{"N":"0.1"},"l":{"L":[{"N":"1"}]}}"#,
            "SET f = f + :f, c = if_not_exists(c, :zero) - :one, l = list_append(:l, l), m = list_append(if_not_exists(m, :e), :l)",
            &[(":f", r#"{"N":"0.2"}"#), (":zero", r#"{"N":"0"}"#), (":one", r#"{"N":"1"}"#), (":l", r#"{"L":[{"S":"x"}]}"#), (":e", r#"{"L":[]}"#)],
        )
        .unwrap();
        assert_eq!(
            json(&it),
            r#"{"id":{"S":"k"},"f":{"N":"0.3"},"l":{"L":[{"S":"x"},{"N":"1"}]},"c":{"N":"-1"},"m":{"L":[{"S":"x"}]}}"#
        );
    }

    #[test]
    fn remove_shifts_later_elements_and_uses_original_indexes() {
        let it = run(
            r#"{"id":{"S":"k"},"l":{"L":[{"N":"0"},{"N":"1"},{"N":"2"},{"N":"3"},{"N":"4"}]},"gone":{"N":"1"}}"#,
            "REMOVE l[3], l[1], gone, absent, l[99]",
            &[],
        )
        .unwrap();
        assert_eq!(
            json(&it),
            r#"{"id":{"S":"k"},"l":{"L":[{"N":"0"},{"N":"2"},{"N":"4"}]}}"#
        );
    }

    #[test]
    fn add_creates_adds_and_unites() {
        let it = run(
            r#"{"id":{"S":"k"},"n":{"N":"5"},"s":{"SS":["a","b"]}}"#,
            "ADD n :n, s :s, fresh :n, ns :ns",
            &[
                (":n", r#"{"N":"-7.5"}"#),
                (":s", r#"{"SS":["b","c"]}"#),
                (":ns", r#"{"NS":["1"]}"#),
            ],
        )
        .unwrap();
        assert_eq!(
            json(&it),
            r#"{"id":{"S":"k"},"n":{"N":"-2.5"},"s":{"SS":["a","b","c"]},"fresh":{"N":"-7.5"},"ns":{"NS":["1"]}}"#
        );
    }

    #[test]
    fn delete_removes_members_and_the_attribute_when_empty() {
        let it = run(
            r#"{"id":{"S":"k"},"s":{"SS":["a","b"]},"t":{"NS":["1","2"]}}"#,
            "DELETE s :a, t :all, absent :a",
            &[(":a", r#"{"SS":["a","z"]}"#), (":all", r#"{"NS":["2","1.0"]}"#)],
        )
        .unwrap();
        assert_eq!(json(&it), r#"{"id":{"S":"k"},"s":{"SS":["b"]}}"#);
    }

    #[test]
    fn set_on_missing_map_path_is_invalid() {
        for text in [
            "SET m.a = :v",
            "SET l[1] = :v",
            "SET s.a = :v",
            "SET m2[0] = :v",
            "REMOVE y.a",
            "REMOVE s[1]",
            "ADD y.a :n",
            "DELETE y.a :ss",
            "DELETE m2[1] :ss",
        ] {
            let err = run(
                r#"{"id":{"S":"k"},"s":{"S":"x"},"m2":{"M":{}}}"#,
                text,
                &[
                    (":v", r#"{"N":"1"}"#),
                    (":n", r#"{"N":"1"}"#),
                    (":ss", r#"{"SS":["a"]}"#),
                ],
            )
            .unwrap_err();
            assert_eq!(err.kind(), ExprErrorKind::InvalidUpdatePath, "{text}");
            assert_eq!(
                err.message(),
                "The document path provided in the update expression is invalid for update"
            );
        }
    }

    #[test]
    fn wrong_runtime_types_are_incorrect_data_types() {
        for text in [
            "SET e = s + :n",
            "SET e = list_append(s, :l)",
            "ADD s :n",
            "ADD ns :ss",
            "DELETE ns :ss",
            "DELETE s :ss",
        ] {
            let err = run(
                r#"{"id":{"S":"k"},"s":{"S":"x"},"ns":{"NS":["1"]}}"#,
                text,
                &[
                    (":n", r#"{"N":"1"}"#),
                    (":l", r#"{"L":[]}"#),
                    (":ss", r#"{"SS":["a"]}"#),
                ],
            )
            .unwrap_err();
            assert_eq!(
                err.message(),
                "An operand in the update expression has an incorrect data type",
                "{text}"
            );
        }
    }

    #[test]
    fn reading_a_missing_attribute_is_an_error_and_the_item_is_unchanged() {
        let mut c = ctx(&[(":v", r#"{"N":"1"}"#)], &[]);
        let update = parse_update("SET a = :v, c = b", &mut c).unwrap();
        let mut it = item(r#"{"id":{"S":"k"}}"#);
        let err = update.apply(&mut it, &schema()).unwrap_err();
        assert_eq!(
            err.message(),
            "The provided expression refers to an attribute that does not exist in the item"
        );
        assert_eq!(json(&it), r#"{"id":{"S":"k"}}"#);
    }

    #[test]
    fn updating_a_key_attribute_is_refused() {
        for text in ["SET id = :v", "REMOVE id", "ADD id.b :v", "SET x = :v REMOVE #i"] {
            let mut c = ctx(&[(":v", r#"{"N":"1"}"#)], &[("#i", "id")]);
            let update = match parse_update(text, &mut c) {
                Ok(u) => u,
                Err(e) => panic!("{text}: {e}"),
            };
            let err = update
                .apply(&mut item(r#"{"id":{"S":"k"}}"#), &schema())
                .unwrap_err();
            assert_eq!(
                err.message(),
                "One or more parameter values were invalid: Cannot update attribute id. This attribute is part of the key"
            );
        }
    }

    #[test]
    fn arithmetic_out_of_range_is_refused() {
        let err = run(
            r#"{"id":{"S":"k"},"n":{"N":"9.9999999999999999999999999999999999999E+125"}}"#,
            "ADD n :n",
            &[(":n", r#"{"N":"1E+125"}"#)],
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        );
    }

    #[test]
    fn updated_projection_selects_the_touched_parts() {
        let mut c = ctx(&[(":v", r#"{"N":"1"}"#)], &[]);
        let update = parse_update("SET m.a = :v REMOVE z", &mut c).unwrap();
        let before = item(r#"{"id":{"S":"k"},"m":{"M":{"a":{"N":"0"},"b":{"N":"0"}}},"z":{"N":"3"}}"#);
        assert_eq!(
            json(&update.updated_projection().apply(&before)),
            r#"{"m":{"M":{"a":{"N":"0"}}},"z":{"N":"3"}}"#
        );
    }
}
