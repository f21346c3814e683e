//! Evaluating conditions against an item: document paths, operands, `size`, comparisons and the boolean
//! functions, with DynamoDB's semantics. Pure; performs no I/O.
//!
//! The rules (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html>,
//! and ScyllaDB Alternator's `test_condition_expression.py`, which runs against DynamoDB):
//! - a missing attribute equals nothing, not even another missing attribute; `<>` with a missing operand is
//!   true; every ordering comparison with a missing operand is false;
//! - values of different types are unequal and unordered;
//! - only N (numerically), S and B (by bytes; UTF-8 for strings) are ordered; `<` on other types is false;
//! - `size` is the UTF-16 length of an S, the byte length of a B, the member count of a set, L or M; on N,
//!   BOOL, NULL or a missing attribute it has no value and the comparison is false.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{CompareOp, Condition, Function, Operand, Path, PathElem};
use crate::model::{Item, Number, Value, ValueType};

/// The value at `path` in `item`, if there is one.
pub(crate) fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a Value> {
    let mut elems = path.elems().iter();
    let mut current = match elems.next()? {
        PathElem::Attr { name, .. } => item.get(name)?,
        PathElem::Index(_) => return None,
    };
    for elem in elems {
        current = match (elem, current) {
            (PathElem::Attr { name, .. }, Value::M(map)) => map.get(name)?,
            (PathElem::Index(i), Value::L(list)) => list.get(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// DynamoDB's order of two values: numbers numerically, strings by UTF-8 bytes, binary by bytes. `None` for
/// other types or different types.
pub(crate) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::N(x), Value::N(y)) => Some(x.cmp(y)),
        (Value::S(x), Value::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::B(x), Value::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `size()` of a value, or `None` for the types it does not apply to.
pub(crate) fn size_of(value: &Value) -> Option<usize> {
    Some(match value {
        Value::S(s) => s.encode_utf16().count(),
        Value::B(b) => b.len(),
        Value::Ss(s) => s.len(),
        Value::Ns(s) => s.len(),
        Value::Bs(s) => s.len(),
        Value::L(l) => l.len(),
        Value::M(m) => m.len(),
        Value::N(_) | Value::Bool(_) | Value::Null => return None,
    })
}

fn operand_value<'a>(operand: &'a Operand, item: Option<&'a Item>) -> Option<Cow<'a, Value>> {
    match operand {
        Operand::Path(path) => resolve(item?, path).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(&v.value)),
        Operand::Size(inner) => {
            let n = size_of(operand_value(inner, item)?.as_ref())?;
            Some(Cow::Owned(Value::N(Number::from(n as u64))))
        }
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::S(s), Value::S(sub)) => s.contains(sub.as_str()),
        (Value::B(b), Value::B(sub)) => sub.is_empty() || b.windows(sub.len()).any(|w| w == sub.as_slice()),
        (Value::Ss(set), Value::S(x)) => set.contains(x),
        (Value::Ns(set), Value::N(x)) => set.contains(x),
        (Value::Bs(set), Value::B(x)) => set.contains(x),
        (Value::L(list), x) => list.contains(x),
        _ => false,
    }
}

impl Condition {
    /// Whether `item` satisfies the condition. `None` is an absent item (PutItem on a new key): every
    /// attribute is missing.
    pub fn evaluate(&self, item: Option<&Item>) -> bool {
        match self {
            Condition::Compare { op, left, right } => {
                let (Some(a), Some(b)) = (operand_value(left, item), operand_value(right, item)) else {
                    return *op == CompareOp::Ne;
                };
                match op {
                    CompareOp::Eq => a == b,
                    CompareOp::Ne => a != b,
                    CompareOp::Lt => order(&a, &b) == Some(Ordering::Less),
                    CompareOp::Le => matches!(order(&a, &b), Some(Ordering::Less | Ordering::Equal)),
                    CompareOp::Gt => order(&a, &b) == Some(Ordering::Greater),
                    CompareOp::Ge => matches!(order(&a, &b), Some(Ordering::Greater | Ordering::Equal)),
                }
            }
            Condition::Between { operand, low, high } => {
                let (Some(v), Some(lo), Some(hi)) = (
                    operand_value(operand, item),
                    operand_value(low, item),
                    operand_value(high, item),
                ) else {
                    return false;
                };
                matches!(order(&v, &lo), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(order(&v, &hi), Some(Ordering::Less | Ordering::Equal))
            }
            Condition::In { operand, list } => {
                let Some(v) = operand_value(operand, item) else {
                    return false;
                };
                list.iter()
                    .any(|candidate| operand_value(candidate, item).is_some_and(|c| c == v))
            }
            Condition::Function(f) => f.evaluate(item),
            Condition::Not(c) => !c.evaluate(item),
            Condition::And(parts) => parts.iter().all(|c| c.evaluate(item)),
            Condition::Or(parts) => parts.iter().any(|c| c.evaluate(item)),
        }
    }
}

impl Function {
    fn evaluate(&self, item: Option<&Item>) -> bool {
        match self {
            Function::AttributeExists(path) => item.and_then(|i| resolve(i, path)).is_some(),
            Function::AttributeNotExists(path) => item.and_then(|i| resolve(i, path)).is_none(),
            Function::AttributeType(operand, type_name) => {
                match (operand_value(operand, item), operand_value(type_name, item)) {
                    (Some(v), Some(t)) => match t.as_ref() {
                        Value::S(tag) => ValueType::from_tag(tag) == Some(v.value_type()),
                        _ => false,
                    },
                    _ => false,
                }
            }
            Function::BeginsWith(a, b) => match (operand_value(a, item), operand_value(b, item)) {
                (Some(a), Some(b)) => match (a.as_ref(), b.as_ref()) {
                    (Value::S(s), Value::S(prefix)) => s.starts_with(prefix.as_str()),
                    (Value::B(s), Value::B(prefix)) => s.starts_with(prefix),
                    _ => false,
                },
                _ => false,
            },
            Function::Contains(a, b) => match (operand_value(a, item), operand_value(b, item)) {
                (Some(a), Some(b)) => contains(&a, &b),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{parse_condition, ConditionKind, ExprContext};
    use crate::codec::ddb_json;
    use crate::model::{Item, Value};

    fn item() -> Item {
        ddb_json::parse_item(
            r#"{"id":{"S":"a"},"n":{"N":"10"},"s":{"S":"banana"},"b":{"B":"AQID"},"flag":{"BOOL":true},
                "nothing":{"NULL":true},"tags":{"SS":["red","green"]},"nums":{"NS":["1","5"]},
                "letters":{"L":[{"S":"a"},{"S":"b"},{"N":"3"},{"M":{"k":{"S":"v"}}}]},
                "info":{"M":{"nested":{"M":{"deep":{"S":"x"}}},"arr":{"L":[{"M":{"v":{"N":"1"}}},{"M":{"v":{"N":"2"}}}]}}},
                "dotted.name":{"S":"yes"},"emoji":{"S":"é😀"}}"#,
        )
        .unwrap()
    }

    fn holds_on(item: Option<&Item>, text: &str, values: &[(&str, Value)], names: &[(&str, &str)]) -> bool {
        let values: BTreeMap<String, Value> =
            values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let names: BTreeMap<String, String> = names
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut ctx = ExprContext::new(
            (!names.is_empty()).then_some(names),
            (!values.is_empty()).then_some(values),
        )
        .unwrap();
        let c = parse_condition(text, ConditionKind::Condition, &mut ctx)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        c.evaluate(item)
    }

    fn holds(text: &str, values: &[(&str, Value)]) -> bool {
        holds_on(Some(&item()), text, values, &[])
    }

    fn n(s: &str) -> Value {
        Value::N(crate::model::Number::parse(s).unwrap())
    }

    #[test]
    fn numbers_compare_numerically_and_strings_by_utf8_bytes() {
        assert!(holds("n > :v", &[(":v", n("9"))]));
        assert!(holds("n < :v", &[(":v", n("100"))]));
        assert!(holds("n = :v", &[(":v", n("10.0"))]));
        assert!(holds("s > :v", &[(":v", "apple".into())]));
        // U+1F600 is F0 9F 98 80 in UTF-8, after U+FFFD's EF BF BD (UTF-16 would order them the other way).
        assert!(holds("emoji > :v", &[(":v", "é\u{fffd}".into())]));
        assert!(holds("b < :v", &[(":v", Value::B(vec![1, 3]))]));
    }

    #[test]
    fn missing_attributes_are_unequal_to_everything_and_unordered() {
        assert!(holds("absent <> :v", &[(":v", n("1"))]));
        assert!(!holds("absent = :v", &[(":v", n("1"))]));
        assert!(!holds("absent < :v", &[(":v", n("1"))]));
        assert!(!holds("absent = absent2", &[]));
        assert!(holds("absent <> absent2", &[]));
        assert!(!holds("absent BETWEEN n AND n", &[]));
        assert!(!holds_on(None, "id = :v", &[(":v", "a".into())], &[]));
        assert!(holds_on(None, "attribute_not_exists(id)", &[], &[]));
    }

    #[test]
    fn different_types_are_unequal_and_unordered() {
        assert!(!holds("s > :v", &[(":v", n("1"))]));
        assert!(holds("s <> :v", &[(":v", n("1"))]));
        assert!(!holds("n = :v", &[(":v", "10".into())]));
        // Lists and maps compare equal as wholes but never order.
        assert!(!holds("letters > letters[0]", &[]));
        assert!(holds(
            "tags = :v",
            &[(":v", Value::Ss(vec!["green".into(), "red".into()]))]
        ));
    }

    #[test]
    fn between_and_in() {
        assert!(holds(
            "n BETWEEN :lo AND :hi",
            &[(":lo", n("10")), (":hi", n("20"))]
        ));
        assert!(!holds(
            "n BETWEEN :lo AND :hi",
            &[(":lo", n("11")), (":hi", n("20"))]
        ));
        assert!(!holds(
            "s BETWEEN :lo AND :hi",
            &[(":lo", n("1")), (":hi", n("20"))]
        ));
        assert!(holds(
            "s IN (:a, :b)",
            &[(":a", "apple".into()), (":b", "banana".into())]
        ));
        assert!(!holds("s IN (:a)", &[(":a", "apple".into())]));
        assert!(!holds("absent IN (absent2)", &[]));
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let v = [(":yes", n("10")), (":no", n("11"))];
        assert!(holds("n = :yes OR n = :yes AND n = :no", &v));
        assert!(!holds("(n = :yes OR n = :yes) AND n = :no", &v));
        assert!(holds("NOT n = :no AND n = :yes", &v));
        assert!(!holds("not (n = :yes)", &v));
        assert!(holds("NOT NOT n = :yes", &v));
    }

    #[test]
    fn functions_follow_dynamodb() {
        assert!(holds(
            "attribute_exists(nothing) AND attribute_not_exists(absent)",
            &[]
        ));
        assert!(holds("attribute_type(tags, :t)", &[(":t", "SS".into())]));
        assert!(!holds("attribute_type(n, :t)", &[(":t", "S".into())]));
        assert!(holds("begins_with(s, :p)", &[(":p", "ban".into())]));
        assert!(!holds("begins_with(n, :p)", &[(":p", "1".into())]));
        assert!(holds("begins_with(b, :p)", &[(":p", Value::B(vec![1, 2]))]));
        assert!(holds("contains(s, :p)", &[(":p", "nan".into())]));
        assert!(holds("contains(tags, :p)", &[(":p", "red".into())]));
        assert!(!holds("contains(tags, :p)", &[(":p", "blue".into())]));
        assert!(holds("contains(nums, :p)", &[(":p", n("5.0"))]));
        assert!(holds("contains(letters, :p)", &[(":p", n("3"))]));
        let map = ddb_json::parse_value(r#"{"M":{"k":{"S":"v"}}}"#).unwrap();
        assert!(holds("contains(letters, :p)", &[(":p", map)]));
        assert!(!holds("contains(n, :p)", &[(":p", n("1"))]));
    }

    #[test]
    fn size_counts_utf16_units_bytes_and_members() {
        assert!(holds("size(s) = :v", &[(":v", n("6"))]));
        // "é😀": one UTF-16 unit and a surrogate pair.
        assert!(holds("size(emoji) = :v", &[(":v", n("3"))]));
        assert!(holds("size(b) = :v", &[(":v", n("3"))]));
        assert!(holds(
            "size(tags) = :v AND size(letters) = :w AND size(info) = :v",
            &[(":v", n("2")), (":w", n("4"))]
        ));
        assert!(!holds("size(n) = :v", &[(":v", n("2"))]));
        assert!(holds("size(n) <> :v", &[(":v", n("2"))]));
        assert!(!holds("size(flag) >= :v", &[(":v", n("0"))]));
    }

    #[test]
    fn nested_paths_and_dotted_placeholders() {
        assert!(holds("info.nested.deep = :x", &[(":x", "x".into())]));
        assert!(holds("info.arr[1].v = :x", &[(":x", n("2"))]));
        assert!(holds("attribute_not_exists(letters[9])", &[]));
        assert!(holds_on(
            Some(&item()),
            "#d = :y",
            &[(":y", "yes".into())],
            &[("#d", "dotted.name")]
        ));
        assert!(holds_on(
            Some(&item()),
            "#i.#n.deep = :x",
            &[(":x", "x".into())],
            &[("#i", "info"), ("#n", "nested")]
        ));
        assert!(!holds_on(
            Some(&item()),
            "#x = :x",
            &[(":x", "x".into())],
            &[("#x", "info.nested.deep")]
        ));
    }
}
