//! The streaming decoder behind [`super::parse_item`] and the `Deserialize` impls: serde visitors that build
//! the model straight from the text, with no `serde_json::Value` tree in between (which cost a map and a
//! tag string per attribute value, and a copy of every string).
//!
//! It checks every rule [`super::value_from_json`] checks and names the same path. One difference is
//! inherent in streaming: a value's body is decoded before the decoder can know whether a second type tag
//! follows, so `{"N":"x","S":"a"}` is refused for its number rather than for having two types.
//!
//! serde's error type cannot carry a [`ModelError`], so the visitor that finds one leaves it in a
//! [`Found`], each enclosing level prepends its path segment as the error passes through, and the top level
//! takes it out.

use std::cell::RefCell;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::BASE64;
use crate::model::{
    Item, Map, ModelError, ModelErrorKind, Number, PathSeg, Value, ValueType, MAX_NESTING_DEPTH,
};

/// The key under which serde_json (with `arbitrary_precision`) hands a number it cannot fit in 64 bits to
/// `visit_map`: seen where an object was expected, it means a number was found.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The `visit_*` methods of a visitor that wants an object (`$expected`), for every other kind of JSON value.
macro_rules! not_an_object {
    ($expected:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(self.found.wrong("a string", $expected))
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(self.found.wrong("a boolean", $expected))
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(self.found.wrong("a number", $expected))
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(self.found.wrong("a number", $expected))
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(self.found.wrong("a number", $expected))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(self.found.wrong("null", $expected))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(self.found.wrong("an array", $expected))
        }
    };
}

/// Where a decode leaves the model error that stopped it.
#[derive(Debug, Default)]
pub(super) struct Found(RefCell<Option<ModelError>>);

impl Found {
    fn fail<E: de::Error>(&self, e: ModelError) -> E {
        *self.0.borrow_mut() = Some(e);
        E::custom("a value breaks a DynamoDB rule")
    }

    fn wrong<E: de::Error>(&self, found: &'static str, expected: &'static str) -> E {
        self.fail(ModelError::new(ModelErrorKind::WrongJson { expected, found }))
    }

    /// Passes an error up one level, prepending `seg` to the path of the model error it carries.
    fn within<'a, E>(&'a self, seg: impl FnOnce() -> PathSeg + 'a) -> impl FnOnce(E) -> E + 'a {
        move |e| {
            let mut slot = self.0.borrow_mut();
            if let Some(m) = slot.take() {
                *slot = Some(m.within(seg()));
            }
            e
        }
    }

    /// The model error of a failed decode (none if the failure was the JSON's own).
    pub(super) fn take(&self) -> Option<ModelError> {
        self.0.borrow_mut().take()
    }
}

/// An item: an object of attribute names to values.
pub(super) struct ItemSeed<'a>(pub(super) &'a Found);

const ATTRIBUTES: &str = "an object of attributes";

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Item;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(ItemVisitor { found: self.0 })
    }
}

struct ItemVisitor<'a> {
    found: &'a Found,
}

impl<'de> Visitor<'de> for ItemVisitor<'_> {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ATTRIBUTES)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
        Ok(Item::from_map(attributes(self.found, map, 0, ATTRIBUTES)?))
    }

    not_an_object!(ATTRIBUTES);
}

/// The entries of an item or an `M` (its values at level `depth + 1`).
fn attributes<'de, A: MapAccess<'de>>(
    found: &Found,
    mut map: A,
    depth: usize,
    expected: &'static str,
) -> Result<Map, A::Error> {
    let mut out = Map::with_capacity_and_hasher(map.size_hint().unwrap_or(0), Default::default());
    while let Some(name) = map.next_key::<String>()? {
        if out.is_empty() && name == NUMBER_TOKEN {
            return Err(found.wrong("a number", expected));
        }
        let value = map
            .next_value_seed(ValueSeed {
                found,
                depth: depth + 1,
            })
            .map_err(found.within(|| PathSeg::Attr(name.clone())))?;
        out.insert(name, value);
    }
    Ok(out)
}

/// One attribute value, `{"S":"…"}`, at nesting level `depth` (1 for an item's attribute).
pub(super) struct ValueSeed<'a> {
    pub(super) found: &'a Found,
    pub(super) depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

const VALUE_OBJECT: &str = "an attribute value object such as {\"S\":\"…\"}";

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(VALUE_OBJECT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let found = self.found;
        let Some(tag) = map.next_key_seed(TagSeed)? else {
            return Err(found.fail(ModelError::new(ModelErrorKind::NoType)));
        };
        let tag_name = match &tag {
            Tag::Unknown(name) => name.clone(),
            _ => String::new(),
        };
        let value = match tag {
            Tag::Number => return Err(found.wrong("a number", VALUE_OBJECT)),
            Tag::Known(ty) => map
                .next_value_seed(Body {
                    found,
                    ty,
                    depth: self.depth,
                })
                .map_err(found.within(|| PathSeg::Tag(ty)))
                .map(Some)?,
            Tag::Unknown(_) => map.next_value::<IgnoredAny>().map(|_| None)?,
        };
        let more = rest(&mut map)?;
        match (value, tag_name) {
            _ if more > 0 => Err(found.fail(ModelError::new(ModelErrorKind::SeveralTypes(more + 1)))),
            (Some(value), _) => Ok(value),
            (None, name) => Err(found.fail(ModelError::new(ModelErrorKind::UnknownType(name)))),
        }
    }

    not_an_object!(VALUE_OBJECT);
}

/// How many entries a map has left (skipping them).
fn rest<'de, A: MapAccess<'de>>(map: &mut A) -> Result<usize, A::Error> {
    let mut n = 0;
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// A value's type tag, read without allocating unless it is unknown.
enum Tag {
    Known(ValueType),
    Unknown(String),
    Number,
}

struct TagSeed;

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Tag;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tag, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TagSeed {
    type Value = Tag;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a type tag")
    }

    fn visit_str<E: de::Error>(self, tag: &str) -> Result<Tag, E> {
        Ok(match ValueType::from_tag(tag) {
            Some(ty) => Tag::Known(ty),
            None if tag == NUMBER_TOKEN => Tag::Number,
            None => Tag::Unknown(tag.to_owned()),
        })
    }
}

/// The body of a value whose tag is `ty`.
struct Body<'a> {
    found: &'a Found,
    ty: ValueType,
    depth: usize,
}

impl Body<'_> {
    fn expected(&self) -> &'static str {
        match self.ty {
            ValueType::S | ValueType::N | ValueType::B => "a string",
            ValueType::Ss | ValueType::Ns | ValueType::Bs | ValueType::L => "an array",
            ValueType::M => "an object",
            ValueType::Null => "true",
            ValueType::Bool => "a boolean",
        }
    }

    fn nesting<E: de::Error>(&self) -> Result<(), E> {
        if self.depth > MAX_NESTING_DEPTH {
            return Err(self.found.fail(ModelError::new(ModelErrorKind::NestingTooDeep)));
        }
        Ok(())
    }

    /// An `N` or `B` from its text (an `S` takes its string as it is).
    fn scalar<E: de::Error>(&self, text: &str) -> Result<Value, E> {
        match self.ty {
            ValueType::N => Number::parse(text)
                .map(Value::N)
                .map_err(|e| self.found.fail(ModelError::from(e))),
            ValueType::B => BASE64.decode(text).map(Value::B).map_err(|e| {
                self.found
                    .fail(ModelError::new(ModelErrorKind::InvalidBase64(e.to_string())))
            }),
            _ => Err(self.wrong("a string")),
        }
    }

    fn wrong<E: de::Error>(&self, found: &'static str) -> E {
        self.found.wrong(found, self.expected())
    }
}

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        match self.ty {
            ValueType::S => Ok(Value::S(v.to_owned())),
            _ => self.scalar(v),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        match self.ty {
            ValueType::S => Ok(Value::S(v)),
            _ => self.scalar(&v),
        }
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        match self.ty {
            ValueType::Bool => Ok(Value::Bool(b)),
            ValueType::Null if b => Ok(Value::Null),
            ValueType::Null => Err(self.found.fail(ModelError::new(ModelErrorKind::NullNotTrue))),
            _ => Err(self.wrong("a boolean")),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let found = self.found;
        let value = match self.ty {
            ValueType::L => {
                self.nesting()?;
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                loop {
                    let i = list.len();
                    let element = ValueSeed {
                        found,
                        depth: self.depth + 1,
                    };
                    match seq
                        .next_element_seed(element)
                        .map_err(found.within(|| PathSeg::Index(i)))?
                    {
                        Some(v) => list.push(v),
                        None => break Value::L(list),
                    }
                }
            }
            ValueType::Ss => Value::Ss(members(found, &mut seq, ValueType::S, |v| match v {
                Value::S(s) => Some(s),
                _ => None,
            })?),
            ValueType::Ns => Value::Ns(members(found, &mut seq, ValueType::N, |v| match v {
                Value::N(n) => Some(n),
                _ => None,
            })?),
            ValueType::Bs => Value::Bs(members(found, &mut seq, ValueType::B, |v| match v {
                Value::B(b) => Some(b),
                _ => None,
            })?),
            _ => return Err(self.wrong("an array")),
        };
        // Sets: non-empty, no duplicates (the caller adds the type tag to the path).
        value
            .validate_set_members()
            .map_err(|e| self.found.fail::<A::Error>(e))?;
        Ok(value)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        if self.ty != ValueType::M {
            // A big number arrives as a map too; `attributes` below says which it was.
            return Err(self.wrong(peek_kind(map)?));
        }
        self.nesting()?;
        Ok(Value::M(attributes(self.found, map, self.depth, "an object")?))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Err(self.wrong("null"))
    }
}

/// Whether a map handed to a visitor is an object or serde_json's wrapper of a big number.
fn peek_kind<'de, A: MapAccess<'de>>(mut map: A) -> Result<&'static str, A::Error> {
    let first = map.next_key_seed(TagSeed)?;
    Ok(match first {
        Some(Tag::Number) => "a number",
        _ => "an object",
    })
}

/// The members of an `SS`, `NS` or `BS`, each decoded as a scalar of type `member` and unwrapped by `take`.
fn members<'de, A: SeqAccess<'de>, T>(
    found: &Found,
    seq: &mut A,
    member: ValueType,
    take: impl Fn(Value) -> Option<T>,
) -> Result<Vec<T>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
    loop {
        let i = out.len();
        let body = Body {
            found,
            ty: member,
            depth: 0,
        };
        match seq
            .next_element_seed(body)
            .map_err(found.within(|| PathSeg::Index(i)))?
        {
            // A scalar body of type `member` is always a value of that type.
            Some(v) => out.extend(take(v)),
            None => return Ok(out),
        }
    }
}
