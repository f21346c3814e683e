//! `Value`: one DynamoDB attribute value, of the ten types S, N, B, SS, NS, BS, M, L, NULL and BOOL.
//!
//! Values keep the order they were received in (map attributes, set members), because the backup body
//! format is "as received"; equality is canonical: maps and sets compare regardless of order, numbers
//! numerically. Binary is raw bytes here; base64 exists only on the wire.
//!
//! A `Value` built through the codecs or [`Value::validate`] obeys DynamoDB's rules (sets non-empty and
//! without duplicates, nesting at most 32 levels); constructing variants by hand skips those checks.

use std::fmt;
use std::hash::{BuildHasherDefault, DefaultHasher};

use indexmap::IndexMap;

use super::error::{ModelError, ModelErrorKind, PathSeg};
use super::number::Number;

/// A map of attribute names to values, in the order received (`M`, and an item's top level).
///
/// Hashed with a fixed-key hasher: iteration order is insertion order either way, and the engine takes no
/// randomness from the OS.
pub type Map = IndexMap<String, Value, BuildHasherDefault<DefaultHasher>>;

/// The deepest nesting of `M` and `L` DynamoDB accepts: "up to 32 levels deep"
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-attributes>).
pub const MAX_NESTING_DEPTH: usize = 32;

/// One DynamoDB attribute value.
#[derive(Clone)]
pub enum Value {
    /// String (UTF-8; may be empty except in keys).
    S(String),
    /// Number, exact.
    N(Number),
    /// Binary, raw bytes (may be empty except in keys).
    B(Vec<u8>),
    /// String set: non-empty, no duplicates, unordered.
    Ss(Vec<String>),
    /// Number set: non-empty, no numerically equal members, unordered.
    Ns(Vec<Number>),
    /// Binary set: non-empty, no duplicates, unordered.
    Bs(Vec<Vec<u8>>),
    /// Map of names to values.
    M(Map),
    /// Ordered list of values.
    L(Vec<Value>),
    /// Null (DynamoDB only has `{"NULL": true}`).
    Null,
    /// Boolean.
    Bool(bool),
}

/// The ten DynamoDB types, by their wire tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    /// `S`
    S,
    /// `N`
    N,
    /// `B`
    B,
    /// `SS`
    Ss,
    /// `NS`
    Ns,
    /// `BS`
    Bs,
    /// `M`
    M,
    /// `L`
    L,
    /// `NULL`
    Null,
    /// `BOOL`
    Bool,
}

impl ValueType {
    /// The wire tag: `"S"`, `"SS"`, `"NULL"`, …
    pub fn tag(self) -> &'static str {
        match self {
            ValueType::S => "S",
            ValueType::N => "N",
            ValueType::B => "B",
            ValueType::Ss => "SS",
            ValueType::Ns => "NS",
            ValueType::Bs => "BS",
            ValueType::M => "M",
            ValueType::L => "L",
            ValueType::Null => "NULL",
            ValueType::Bool => "BOOL",
        }
    }

    /// The type named by a wire tag, if any.
    pub fn from_tag(tag: &str) -> Option<ValueType> {
        Some(match tag {
            "S" => ValueType::S,
            "N" => ValueType::N,
            "B" => ValueType::B,
            "SS" => ValueType::Ss,
            "NS" => ValueType::Ns,
            "BS" => ValueType::Bs,
            "M" => ValueType::M,
            "L" => ValueType::L,
            "NULL" => ValueType::Null,
            "BOOL" => ValueType::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl Value {
    /// This value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::S(_) => ValueType::S,
            Value::N(_) => ValueType::N,
            Value::B(_) => ValueType::B,
            Value::Ss(_) => ValueType::Ss,
            Value::Ns(_) => ValueType::Ns,
            Value::Bs(_) => ValueType::Bs,
            Value::M(_) => ValueType::M,
            Value::L(_) => ValueType::L,
            Value::Null => ValueType::Null,
            Value::Bool(_) => ValueType::Bool,
        }
    }

    /// Checks DynamoDB's rules on this value and everything inside it: sets non-empty and free of duplicates,
    /// nesting of `M`/`L` at most [`MAX_NESTING_DEPTH`] levels (this value being level `depth`, 1 at an item's
    /// top level). Errors name the path below this value.
    pub fn validate(&self, depth: usize) -> Result<(), ModelError> {
        match self {
            Value::Ss(_) | Value::Ns(_) | Value::Bs(_) => self
                .validate_set_members()
                .map_err(|e| e.within(PathSeg::Tag(self.value_type()))),
            Value::M(map) => {
                if depth > MAX_NESTING_DEPTH {
                    return Err(ModelError::new(ModelErrorKind::NestingTooDeep));
                }
                for (name, v) in map {
                    v.validate(depth + 1).map_err(|e| {
                        e.within(PathSeg::Attr(name.clone()))
                            .within(PathSeg::Tag(ValueType::M))
                    })?;
                }
                Ok(())
            }
            Value::L(list) => {
                if depth > MAX_NESTING_DEPTH {
                    return Err(ModelError::new(ModelErrorKind::NestingTooDeep));
                }
                for (i, v) in list.iter().enumerate() {
                    v.validate(depth + 1)
                        .map_err(|e| e.within(PathSeg::Index(i)).within(PathSeg::Tag(ValueType::L)))?;
                }
                Ok(())
            }
            Value::S(_) | Value::N(_) | Value::B(_) | Value::Null | Value::Bool(_) => Ok(()),
        }
    }
}

impl Value {
    /// For a set: non-empty and no two members equal; the error's path is the member's index. Other values
    /// pass.
    pub(crate) fn validate_set_members(&self) -> Result<(), ModelError> {
        match self {
            Value::Ss(set) => check_set(ValueType::Ss, set, |s| format!("{s:?}")),
            Value::Ns(set) => check_set(ValueType::Ns, set, |n| n.to_string()),
            Value::Bs(set) => check_set(ValueType::Bs, set, |b| format!("{} bytes", b.len())),
            _ => Ok(()),
        }
    }
}

/// Non-empty, and no two members equal. The error points at the second of two equal members.
fn check_set<T: Ord>(ty: ValueType, set: &[T], show: impl Fn(&T) -> String) -> Result<(), ModelError> {
    if set.is_empty() {
        return Err(ModelError::new(ModelErrorKind::EmptySet(ty)));
    }
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.sort_by(|&a, &b| set[a].cmp(&set[b]).then(a.cmp(&b)));
    for w in order.windows(2) {
        if set[w[0]] == set[w[1]] {
            let (at, value) = (w[1], show(&set[w[1]]));
            return Err(ModelError::new(ModelErrorKind::DuplicateInSet { value }).within(PathSeg::Index(at)));
        }
    }
    Ok(())
}

/// Order-insensitive equality of two sets without duplicates.
fn set_eq<T: Ord>(a: &[T], b: &[T]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a: Vec<&T> = a.iter().collect();
    let mut b: Vec<&T> = b.iter().collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Canonical equality: sets and maps regardless of order, numbers numerically.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::S(a), Value::S(b)) => a == b,
            (Value::N(a), Value::N(b)) => a == b,
            (Value::B(a), Value::B(b)) => a == b,
            (Value::Ss(a), Value::Ss(b)) => set_eq(a, b),
            (Value::Ns(a), Value::Ns(b)) => set_eq(a, b),
            (Value::Bs(a), Value::Bs(b)) => set_eq(a, b),
            // IndexMap's equality ignores order.
            (Value::M(a), Value::M(b)) => a == b,
            (Value::L(a), Value::L(b)) => a == b,
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::S(s) => write!(f, "S({s:?})"),
            Value::N(n) => write!(f, "N({n})"),
            Value::B(b) => write!(f, "B({})", hex::encode(b)),
            Value::Ss(s) => write!(f, "SS({s:?})"),
            Value::Ns(s) => write!(f, "NS({s:?})"),
            Value::Bs(s) => {
                f.write_str("BS")?;
                f.debug_list().entries(s.iter().map(hex::encode)).finish()
            }
            Value::M(m) => {
                f.write_str("M")?;
                f.debug_map().entries(m.iter()).finish()
            }
            Value::L(l) => {
                f.write_str("L")?;
                f.debug_list().entries(l.iter()).finish()
            }
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "BOOL({b})"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::S(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::S(s)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::N(n)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::N(Number::from(n))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn sets_are_equal_regardless_of_order() {
        assert_eq!(
            Value::Ss(vec!["a".into(), "b".into()]),
            Value::Ss(vec!["b".into(), "a".into()])
        );
        assert_eq!(
            Value::Ns(vec![num("1"), num("2.50")]),
            Value::Ns(vec![num("2.5"), num("1.0")])
        );
        assert_ne!(
            Value::Ss(vec!["a".into()]),
            Value::Ss(vec!["a".into(), "b".into()])
        );
        assert_ne!(
            Value::L(vec![1.into(), 2.into()]),
            Value::L(vec![2.into(), 1.into()])
        );
    }

    #[test]
    fn duplicate_numbers_are_found_numerically() {
        let e = Value::Ns(vec![num("1"), num("2"), num("1.0")])
            .validate(1)
            .unwrap_err();
        assert_eq!(e.to_string(), "NS[2]: duplicate value 1");
    }

    #[test]
    fn empty_sets_are_refused() {
        let e = Value::Bs(vec![]).validate(1).unwrap_err();
        assert_eq!(e.kind, ModelErrorKind::EmptySet(ValueType::Bs));
    }

    #[test]
    fn nesting_beyond_32_levels_is_refused() {
        let mut v = Value::Null;
        for _ in 0..32 {
            v = Value::L(vec![v]);
        }
        assert!(v.validate(1).is_ok());
        let deeper = Value::L(vec![v]);
        assert_eq!(
            deeper.validate(1).unwrap_err().kind,
            ModelErrorKind::NestingTooDeep
        );
    }
}
