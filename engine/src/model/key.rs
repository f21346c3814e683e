//! Keys: the key schema of a table, key values and their order, and extracting a valid key from an item.
//!
//! DynamoDB's key rules
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-partition-sort-keys>):
//! key attributes are scalar (S, N or B), never empty, the partition key at most 2048 bytes and the sort key
//! at most 1024 bytes. Key values sort as DynamoDB sorts them: numbers numerically, strings and binary by
//! their bytes (UTF-8 for strings).

use std::cmp::Ordering;
use std::fmt;

use super::item::Item;
use super::number::Number;
use super::value::Value;

/// Largest partition key value, in bytes.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// Largest sort key value, in bytes.
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// The three types a key attribute may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScalarType {
    /// String.
    S,
    /// Number.
    N,
    /// Binary.
    B,
}

impl ScalarType {
    /// The wire tag.
    pub fn tag(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }

    /// The type for a wire tag (`"S"`, `"N"`, `"B"`), if it is one.
    pub fn from_tag(tag: &str) -> Option<ScalarType> {
        match tag {
            "S" => Some(ScalarType::S),
            "N" => Some(ScalarType::N),
            "B" => Some(ScalarType::B),
            _ => None,
        }
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Which key a key attribute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// The partition ("hash") key.
    Partition,
    /// The sort ("range") key.
    Sort,
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyRole::Partition => "partition key",
            KeyRole::Sort => "sort key",
        })
    }
}

/// Why an item has no valid key, or a key is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A key attribute is absent.
    #[error("missing the key attribute {name:?}")]
    Missing {
        /// The key attribute's name.
        name: String,
    },
    /// A key attribute has the wrong type.
    #[error("type mismatch for key attribute {name:?}: expected {expected}, found {found}")]
    WrongType {
        /// The key attribute's name.
        name: String,
        /// Its type in the schema.
        expected: ScalarType,
        /// The type given.
        found: &'static str,
    },
    /// An empty string or binary key value.
    #[error("the key attribute {name:?} is empty; key values must have at least one byte")]
    Empty {
        /// The key attribute's name.
        name: String,
    },
    /// A key value over DynamoDB's size limit.
    #[error("the {role} {name:?} is {size} bytes, over the maximum of {max} bytes")]
    TooLarge {
        /// Partition or sort key.
        role: KeyRole,
        /// The key attribute's name.
        name: String,
        /// Its size.
        size: usize,
        /// The limit for its role.
        max: usize,
    },
    /// A key given with attributes that are not in the key schema.
    #[error("the key has attribute {name:?}, which is not in the table's key schema")]
    Extra {
        /// The extra attribute.
        name: String,
    },
}

/// A key attribute's value: string, number or binary.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    /// String.
    S(String),
    /// Number.
    N(Number),
    /// Binary.
    B(Vec<u8>),
}

impl KeyValue {
    /// The value's type.
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            KeyValue::S(_) => ScalarType::S,
            KeyValue::N(_) => ScalarType::N,
            KeyValue::B(_) => ScalarType::B,
        }
    }

    /// Size in bytes, as DynamoDB limits key sizes (UTF-8 length, byte length, number size).
    pub fn size(&self) -> usize {
        match self {
            KeyValue::S(s) => s.len(),
            KeyValue::N(n) => super::size::number_size(n),
            KeyValue::B(b) => b.len(),
        }
    }

    /// The same value as an attribute value.
    pub fn to_value(&self) -> Value {
        match self {
            KeyValue::S(s) => Value::S(s.clone()),
            KeyValue::N(n) => Value::N(n.clone()),
            KeyValue::B(b) => Value::B(b.clone()),
        }
    }
}

/// DynamoDB's order: numbers numerically, strings and binary bytewise. Values of different types (which one
/// key attribute never holds) order S < N < B.
impl Ord for KeyValue {
    fn cmp(&self, other: &KeyValue) -> Ordering {
        match (self, other) {
            (KeyValue::S(a), KeyValue::S(b)) => a.as_bytes().cmp(b.as_bytes()),
            (KeyValue::N(a), KeyValue::N(b)) => a.cmp(b),
            (KeyValue::B(a), KeyValue::B(b)) => a.cmp(b),
            _ => self.scalar_type().cmp(&other.scalar_type()),
        }
    }
}

impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &KeyValue) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::S(s) => write!(f, "S({s:?})"),
            KeyValue::N(n) => write!(f, "N({n})"),
            KeyValue::B(b) => write!(f, "B({})", hex::encode(b)),
        }
    }
}

/// A key attribute in a schema: its name and type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: String,
    /// Attribute type.
    pub ty: ScalarType,
}

/// A table's (or index's) primary key: a partition key, and optionally a sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeySchema {
    /// The partition key.
    pub partition: KeyAttribute,
    /// The sort key, if the table has one.
    pub sort: Option<KeyAttribute>,
}

/// One named key attribute with its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPart {
    /// Attribute name.
    pub name: String,
    /// Its value.
    pub value: KeyValue,
}

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// The partition key attribute.
    pub partition: KeyPart,
    /// The sort key attribute, for tables that have one.
    pub sort: Option<KeyPart>,
}

/// Keys of one table order as DynamoDB orders them: partition value, then sort value.
impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.partition
            .value
            .cmp(&other.partition.value)
            .then_with(|| {
                let a = self.sort.as_ref().map(|p| &p.value);
                let b = other.sort.as_ref().map(|p| &p.value);
                a.cmp(&b)
            })
            // Names last, so that the order agrees with equality even across schemas.
            .then_with(|| self.partition.name.cmp(&other.partition.name))
            .then_with(|| {
                let a = self.sort.as_ref().map(|p| &p.name);
                let b = other.sort.as_ref().map(|p| &p.name);
                a.cmp(&b)
            })
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Key {
    /// The key's attributes, partition first.
    pub fn parts(&self) -> impl Iterator<Item = &KeyPart> {
        std::iter::once(&self.partition).chain(self.sort.as_ref())
    }

    /// The key as an item of its key attributes (partition first).
    pub fn to_item(&self) -> Item {
        self.parts()
            .map(|p| (p.name.clone(), p.value.to_value()))
            .collect()
    }
}

impl KeySchema {
    /// A schema with only a partition key.
    pub fn partition_only(name: impl Into<String>, ty: ScalarType) -> KeySchema {
        KeySchema {
            partition: KeyAttribute {
                name: name.into(),
                ty,
            },
            sort: None,
        }
    }

    /// A schema with a partition and a sort key.
    pub fn composite(
        partition: impl Into<String>,
        partition_ty: ScalarType,
        sort: impl Into<String>,
        sort_ty: ScalarType,
    ) -> KeySchema {
        KeySchema {
            partition: KeyAttribute {
                name: partition.into(),
                ty: partition_ty,
            },
            sort: Some(KeyAttribute {
                name: sort.into(),
                ty: sort_ty,
            }),
        }
    }

    /// The key attributes, partition first.
    pub fn attributes(&self) -> impl Iterator<Item = &KeyAttribute> {
        std::iter::once(&self.partition).chain(self.sort.as_ref())
    }

    /// Whether `name` is one of the key attributes.
    pub fn is_key_attribute(&self, name: &str) -> bool {
        self.attributes().any(|a| a.name == name)
    }

    /// The valid key of an item: every key attribute present, of the schema's type, non-empty and within
    /// the size limits. Other attributes are ignored.
    pub fn key_of(&self, item: &Item) -> Result<Key, KeyError> {
        let partition = key_part(&self.partition, KeyRole::Partition, item)?;
        let sort = match &self.sort {
            Some(attr) => Some(key_part(attr, KeyRole::Sort, item)?),
            None => None,
        };
        Ok(Key { partition, sort })
    }

    /// A key given on its own (GetItem's `Key`, a key on the command line): exactly the key attributes.
    pub fn parse_key(&self, key: &Item) -> Result<Key, KeyError> {
        if let Some((name, _)) = key.iter().find(|(name, _)| !self.is_key_attribute(name)) {
            return Err(KeyError::Extra { name: name.clone() });
        }
        self.key_of(key)
    }
}

fn key_part(attr: &KeyAttribute, role: KeyRole, item: &Item) -> Result<KeyPart, KeyError> {
    let value = item.get(&attr.name).ok_or_else(|| KeyError::Missing {
        name: attr.name.clone(),
    })?;
    let value = match (attr.ty, value) {
        (ScalarType::S, Value::S(s)) => KeyValue::S(s.clone()),
        (ScalarType::N, Value::N(n)) => KeyValue::N(n.clone()),
        (ScalarType::B, Value::B(b)) => KeyValue::B(b.clone()),
        (expected, other) => {
            return Err(KeyError::WrongType {
                name: attr.name.clone(),
                expected,
                found: other.value_type().tag(),
            })
        }
    };
    let empty = match &value {
        KeyValue::S(s) => s.is_empty(),
        KeyValue::B(b) => b.is_empty(),
        KeyValue::N(_) => false,
    };
    if empty {
        return Err(KeyError::Empty {
            name: attr.name.clone(),
        });
    }
    let max = match role {
        KeyRole::Partition => MAX_PARTITION_KEY_BYTES,
        KeyRole::Sort => MAX_SORT_KEY_BYTES,
    };
    let size = value.size();
    if size > max {
        return Err(KeyError::TooLarge {
            role,
            name: attr.name.clone(),
            size,
            max,
        });
    }
    Ok(KeyPart {
        name: attr.name.clone(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> KeySchema {
        KeySchema::composite("hash", ScalarType::S, "range", ScalarType::N)
    }

    fn item(pairs: &[(&str, Value)]) -> Item {
        pairs.iter().cloned().collect()
    }

    #[test]
    fn extracts_a_composite_key_and_ignores_other_attributes() {
        let it = item(&[("x", 1.into()), ("range", 7.into()), ("hash", "h".into())]);
        let key = schema().key_of(&it).unwrap();
        assert_eq!(key.partition.value, KeyValue::S("h".into()));
        assert_eq!(key.sort.unwrap().value, KeyValue::N(Number::from(7i64)));
    }

    #[test]
    fn refuses_missing_wrong_typed_empty_and_oversized_keys() {
        let s = schema();
        assert_eq!(
            s.key_of(&item(&[("hash", "h".into())])),
            Err(KeyError::Missing { name: "range".into() })
        );
        assert!(matches!(
            s.key_of(&item(&[("hash", 1.into()), ("range", 1.into())])),
            Err(KeyError::WrongType {
                expected: ScalarType::S,
                found: "N",
                ..
            })
        ));
        assert_eq!(
            s.key_of(&item(&[("hash", "".into()), ("range", 1.into())])),
            Err(KeyError::Empty { name: "hash".into() })
        );
        let big = "x".repeat(2049);
        assert!(matches!(
            s.key_of(&item(&[("hash", big.as_str().into()), ("range", 1.into())])),
            Err(KeyError::TooLarge {
                role: KeyRole::Partition,
                size: 2049,
                max: 2048,
                ..
            })
        ));
        let ok = "x".repeat(2048);
        assert!(s
            .key_of(&item(&[("hash", ok.as_str().into()), ("range", 1.into())]))
            .is_ok());
        let bs = KeySchema::composite("h", ScalarType::S, "r", ScalarType::B);
        let r = Value::B(vec![0; 1025]);
        assert!(matches!(
            bs.key_of(&item(&[("h", "a".into()), ("r", r)])),
            Err(KeyError::TooLarge {
                role: KeyRole::Sort,
                max: 1024,
                ..
            })
        ));
        assert_eq!(
            s.parse_key(&item(&[
                ("hash", "h".into()),
                ("range", 1.into()),
                ("x", 1.into())
            ])),
            Err(KeyError::Extra { name: "x".into() })
        );
    }

    #[test]
    fn key_values_sort_as_dynamodb_sorts_them() {
        let n = |s: &str| KeyValue::N(Number::parse(s).unwrap());
        assert!(n("9") < n("10"));
        assert!(n("-10") < n("-9"));
        assert!(KeyValue::S("Z".into()) < KeyValue::S("a".into()));
        // UTF-8 byte order, not UTF-16 code unit order: U+FFFD (EF BF BD) sorts before U+1F600 (F0 9F 98 80).
        assert!(KeyValue::S("\u{fffd}".into()) < KeyValue::S("\u{1f600}".into()));
        assert!(KeyValue::B(vec![0x7f]) < KeyValue::B(vec![0x80]));
        assert!(KeyValue::B(vec![1]) < KeyValue::B(vec![1, 0]));
    }
}
