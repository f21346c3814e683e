//! DynamoDB-JSON, the wire form of attribute values: `{"S":"abc"}`, `{"N":"1.5"}`, `{"B":"aGVsbG8="}`,
//! `{"M":{"k":{"BOOL":true}}}`.
//!
//! `Value` and `Item` implement `Serialize` and `Deserialize` in this form, so they can sit in any serde
//! struct of a wire message. Decoding checks every DynamoDB rule on values (one type per value, numbers,
//! base64, sets, `NULL: true`, 32 nesting levels) and names the path of the first bad attribute. Encoding is
//! compact, in the order attributes were received, numbers in DynamoDB's normalised text, binary as standard
//! padded base64 (once).
//!
//! Text is decoded in one streaming pass ([`decode`]); [`item_from_json`] and [`value_from_json`] check the
//! same rules on JSON a caller has already parsed (a request body it needed as a whole anyway).

mod decode;

use base64::Engine as _;
use serde::de::DeserializeSeed;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

use super::{json_kind, DecodeError};
use crate::model::{
    Item, Key, Map, ModelError, ModelErrorKind, Number, PathSeg, Value, ValueType, MAX_NESTING_DEPTH,
};

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Parses an item (`{"id":{"S":"a"},…}`) from DynamoDB-JSON text.
pub fn parse_item(text: &str) -> Result<Item, DecodeError> {
    parse_with(text, |found, de| decode::ItemSeed(found).deserialize(de))
}

/// Parses one attribute value (`{"S":"a"}`) from DynamoDB-JSON text.
pub fn parse_value(text: &str) -> Result<Value, DecodeError> {
    parse_with(text, |found, de| {
        decode::ValueSeed { found, depth: 1 }.deserialize(de)
    })
}

/// Runs a streaming decode over the whole of `text`: a model error comes back as one, with its path.
fn parse_with<T>(
    text: &str,
    decode: impl FnOnce(
        &decode::Found,
        &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
    ) -> serde_json::Result<T>,
) -> Result<T, DecodeError> {
    let found = decode::Found::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let decoded = decode(&found, &mut de).and_then(|t| de.end().map(|()| t));
    decoded.map_err(|e| {
        found
            .take()
            .map_or_else(|| DecodeError::json(e), DecodeError::Model)
    })
}

/// An item from parsed JSON: an object of attribute names to DynamoDB-JSON values.
pub fn item_from_json(json: &Json) -> Result<Item, ModelError> {
    let Json::Object(object) = json else {
        return Err(wrong(json, "an object of attributes"));
    };
    let mut map = Map::with_capacity_and_hasher(object.len(), Default::default());
    for (name, v) in object {
        let value = value_from_json(v, 1).map_err(|e| e.within(PathSeg::Attr(name.clone())))?;
        map.insert(name.clone(), value);
    }
    Ok(Item::from_map(map))
}

/// One attribute value from parsed JSON; `depth` is its nesting level (1 for an item's attribute).
pub fn value_from_json(json: &Json, depth: usize) -> Result<Value, ModelError> {
    let Json::Object(object) = json else {
        return Err(wrong(json, "an attribute value object such as {\"S\":\"…\"}"));
    };
    let mut entries = object.iter();
    let (tag, body) = match (entries.next(), object.len()) {
        (None, _) => return Err(ModelError::new(ModelErrorKind::NoType)),
        (Some(entry), 1) => entry,
        (Some(_), n) => return Err(ModelError::new(ModelErrorKind::SeveralTypes(n))),
    };
    let ty =
        ValueType::from_tag(tag).ok_or_else(|| ModelError::new(ModelErrorKind::UnknownType(tag.clone())))?;
    decode_typed(ty, body, depth).map_err(|e| e.within(PathSeg::Tag(ty)))
}

fn decode_typed(ty: ValueType, body: &Json, depth: usize) -> Result<Value, ModelError> {
    let value = match ty {
        ValueType::S => Value::S(string(body)?.to_owned()),
        ValueType::N => Value::N(Number::parse(string(body)?)?),
        ValueType::B => Value::B(binary(body)?),
        ValueType::Ss => Value::Ss(members(body, |j| Ok(string(j)?.to_owned()))?),
        ValueType::Ns => Value::Ns(members(body, |j| Ok(Number::parse(string(j)?)?))?),
        ValueType::Bs => Value::Bs(members(body, binary)?),
        ValueType::M => {
            let Json::Object(object) = body else {
                return Err(wrong(body, "an object"));
            };
            if depth > MAX_NESTING_DEPTH {
                return Err(ModelError::new(ModelErrorKind::NestingTooDeep));
            }
            let mut map = Map::with_capacity_and_hasher(object.len(), Default::default());
            for (name, v) in object {
                let value =
                    value_from_json(v, depth + 1).map_err(|e| e.within(PathSeg::Attr(name.clone())))?;
                map.insert(name.clone(), value);
            }
            Value::M(map)
        }
        ValueType::L => {
            let Json::Array(array) = body else {
                return Err(wrong(body, "an array"));
            };
            if depth > MAX_NESTING_DEPTH {
                return Err(ModelError::new(ModelErrorKind::NestingTooDeep));
            }
            let mut list = Vec::with_capacity(array.len());
            for (i, v) in array.iter().enumerate() {
                list.push(value_from_json(v, depth + 1).map_err(|e| e.within(PathSeg::Index(i)))?);
            }
            Value::L(list)
        }
        ValueType::Null => match body {
            Json::Bool(true) => Value::Null,
            Json::Bool(false) => return Err(ModelError::new(ModelErrorKind::NullNotTrue)),
            other => return Err(wrong(other, "true")),
        },
        ValueType::Bool => match body {
            Json::Bool(b) => Value::Bool(*b),
            other => return Err(wrong(other, "a boolean")),
        },
    };
    // Sets: non-empty, no duplicates (the caller adds the type tag to the path).
    value.validate_set_members()?;
    Ok(value)
}

fn wrong(found: &Json, expected: &'static str) -> ModelError {
    ModelError::new(ModelErrorKind::WrongJson {
        expected,
        found: json_kind(found),
    })
}

fn string(json: &Json) -> Result<&str, ModelError> {
    match json {
        Json::String(s) => Ok(s),
        other => Err(wrong(other, "a string")),
    }
}

fn binary(json: &Json) -> Result<Vec<u8>, ModelError> {
    BASE64
        .decode(string(json)?)
        .map_err(|e| ModelError::new(ModelErrorKind::InvalidBase64(e.to_string())))
}

fn members<T>(json: &Json, each: impl Fn(&Json) -> Result<T, ModelError>) -> Result<Vec<T>, ModelError> {
    let Json::Array(array) = json else {
        return Err(wrong(json, "an array"));
    };
    array
        .iter()
        .enumerate()
        .map(|(i, j)| each(j).map_err(|e| e.within(PathSeg::Index(i))))
        .collect()
}

/// The compact DynamoDB-JSON text of an item, attributes in their order.
pub fn item_to_string(item: &Item) -> String {
    // Serialising our own types into a String cannot fail.
    serde_json::to_string(item).unwrap_or_default()
}

/// The compact DynamoDB-JSON text of a value.
pub fn value_to_string(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The compact DynamoDB-JSON of a key with its attributes sorted by name, byte for byte what the backup
/// object key hashes: `{"hash":{"S":"a"},"range":{"N":"1"}}`.
pub fn key_to_sorted_string(key: &Key) -> String {
    let mut parts: Vec<_> = key.parts().collect();
    parts.sort_by(|a, b| a.name.cmp(&b.name));
    let item: Item = parts
        .into_iter()
        .map(|p| (p.name.clone(), p.value.to_value()))
        .collect();
    item_to_string(&item)
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        let tag = self.value_type().tag();
        match self {
            Value::S(s) => map.serialize_entry(tag, s)?,
            Value::N(n) => map.serialize_entry(tag, &Displayed(n))?,
            Value::B(b) => map.serialize_entry(tag, &BASE64.encode(b))?,
            Value::Ss(set) => map.serialize_entry(tag, set)?,
            Value::Ns(set) => map.serialize_entry(tag, &Seq(set.iter().map(Displayed)))?,
            Value::Bs(set) => map.serialize_entry(tag, &Seq(set.iter().map(|b| BASE64.encode(b))))?,
            Value::M(m) => map.serialize_entry(tag, m)?,
            Value::L(l) => map.serialize_entry(tag, l)?,
            Value::Null => map.serialize_entry(tag, &true)?,
            Value::Bool(b) => map.serialize_entry(tag, b)?,
        }
        map.end()
    }
}

impl Serialize for Item {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        let found = decode::Found::default();
        let seed = decode::ValueSeed {
            found: &found,
            depth: 1,
        };
        seed.deserialize(deserializer).map_err(|e| with_rule(e, &found))
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        let found = decode::Found::default();
        decode::ItemSeed(&found)
            .deserialize(deserializer)
            .map_err(|e| with_rule(e, &found))
    }
}

/// A failed decode's error, replaced by the model error that caused it if there was one.
fn with_rule<E: serde::de::Error>(e: E, found: &decode::Found) -> E {
    found.take().map_or(e, E::custom)
}

/// Serialises through `Display` (numbers as their normalised text).
struct Displayed<T>(T);

impl<T: std::fmt::Display> Serialize for Displayed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Serialises an iterator as a sequence.
struct Seq<I>(I);

impl<I: Iterator<Item = T> + Clone, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let iter = self.0.clone();
        let mut seq = serializer.serialize_seq(iter.size_hint().1)?;
        for item in iter {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_type_and_encodes_it_back_byte_for_byte() {
        let text = concat!(
            r#"{"s":{"S":"a\"b"},"n":{"N":"-12.5"},"b":{"B":"aGVsbG8="},"ss":{"SS":["x","y"]},"#,
            r#""ns":{"NS":["1","2.5"]},"bs":{"BS":["AA==","AQ=="]},"m":{"M":{"k":{"NULL":true}}},"#,
            r#""l":{"L":[{"BOOL":false},{"S":""}]},"e":{"B":""}}"#
        );
        let item = parse_item(text).unwrap();
        assert_eq!(item.get("b"), Some(&Value::B(b"hello".to_vec())));
        assert_eq!(item_to_string(&item), text);
    }

    #[test]
    fn numbers_come_back_normalised() {
        let item = parse_item(r#"{"n":{"N":"0012.500"},"s":{"NS":["1e2","-0"]}}"#).unwrap();
        assert_eq!(
            item_to_string(&item),
            r#"{"n":{"N":"12.5"},"s":{"NS":["100","0"]}}"#
        );
    }

    #[test]
    fn errors_name_the_path() {
        let cases = [
            (r#"{"tags":{"SS":["a","b","a"]}}"#, r#"item.tags.SS[2]: duplicate value "a""#),
            (r#"{"m":{"M":{"x":{"L":[{"N":"1"},{"N":"abc"}]}}}}"#, r#"item.m.M.x.L[1].N: not a number: "abc""#),
            (r#"{"b":{"B":"***"}}"#, "item.b.B: invalid base64: Invalid symbol 42, offset 0."),
            (r#"{"z":{"NULL":false}}"#, "item.z.NULL: NULL must be true"),
            (r#"{"z":{}}"#, "item.z: empty attribute value: it must contain exactly one of S, N, B, SS, NS, BS, M, L, NULL, BOOL"),
            (r#"{"z":{"S":"a","N":"1"}}"#, "item.z: attribute value has 2 types; it must contain exactly one"),
            (r#"{"z":{"X":"a"}}"#, r#"item.z: unknown type "X"; expected one of S, N, B, SS, NS, BS, M, L, NULL, BOOL"#),
            (r#"{"z":{"N":1}}"#, "item.z.N: expected a string, found a number"),
            (r#"{"z":{"SS":[]}}"#, "item.z.SS: empty SS set: sets must have at least one member"),
            (r#"{"z":{"NS":["1","1.00"]}}"#, "item.z.NS[1]: duplicate value 1"),
            (r#"{"z":{"N":"1e126"}}"#, "item.z.N: number magnitude larger than supported range (above 9.99E+125)"),
            (r#"[1]"#, "item: expected an object of attributes, found an array"),
            (r#"1.5"#, "item: expected an object of attributes, found a number"),
            (r#"{"z":{"N":1.5}}"#, "item.z.N: expected a string, found a number"),
            (r#"{"z":{"S":null}}"#, "item.z.S: expected a string, found null"),
            (r#"{"z":{"M":"x"}}"#, "item.z.M: expected an object, found a string"),
            (r#"{"z":{"L":{"a":{"S":"b"}}}}"#, "item.z.L: expected an array, found an object"),
            (r#"{"z":{"NULL":"yes"}}"#, "item.z.NULL: expected true, found a string"),
            (r#"{"z":{"BOOL":1}}"#, "item.z.BOOL: expected a boolean, found a number"),
            (r#"{"z":{"SS":[1]}}"#, "item.z.SS[0]: expected a string, found a number"),
            (r#"{"z":{"BS":["AA==",{"B":"AA=="}]}}"#, "item.z.BS[1]: expected a string, found an object"),
            (r#"{"z":{"S":12345678901234567890123}}"#, "item.z.S: expected a string, found a number"),
            (r#"{"z":{"X":"a","S":"b"}}"#, "item.z: attribute value has 2 types; it must contain exactly one"),
            (r#"{"z":1e400}"#, "item.z: expected an attribute value object such as {\"S\":\"…\"}, found a number"),
            (r#"{"z":[{"S":"a"}]}"#, "item.z: expected an attribute value object such as {\"S\":\"…\"}, found an array"),
            (r#"{"a":{"L":[{"S":"x"},{"M":{"k":{"SS":["p","p"]}}}]}}"#, r#"item.a.L[1].M.k.SS[1]: duplicate value "p""#),
        ];
        for (text, message) in cases {
            // The streaming decoder and the one over parsed JSON agree, message for message.
            let err = match parse_item(text) {
                Err(DecodeError::Model(e)) => e.under("item"),
                other => panic!("{text}: {other:?}"),
            };
            assert_eq!(err.to_string(), message, "{text}");
            let json: Json = serde_json::from_str(text).unwrap();
            assert_eq!(item_from_json(&json).unwrap_err().under("item"), err, "{text}");
            // Inside a serde struct the message survives, with serde_json's position.
            let inside = serde_json::from_str::<Vec<Item>>(&format!("[{text}]")).unwrap_err();
            let bare = message
                .strip_prefix("item.")
                .or_else(|| message.strip_prefix("item: "));
            assert!(inside.to_string().starts_with(bare.unwrap()), "{inside}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_streaming_decoder_reads_what_the_encoder_writes(item in crate::testing::item(6)) {
            let text = item_to_string(&item);
            let decoded = parse_item(&text).unwrap();
            proptest::prop_assert_eq!(item_to_string(&decoded), text.clone());
            let json: Json = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(item_from_json(&json).unwrap(), decoded.clone());
            let inside: Vec<Item> = serde_json::from_str(&format!("[{text},{text}]")).unwrap();
            proptest::prop_assert_eq!(&inside[1], &decoded);
        }
    }

    #[test]
    fn nesting_is_limited_to_32_levels() {
        let nest = |levels: usize| {
            let mut v = r#"{"S":"x"}"#.to_owned();
            for _ in 0..levels {
                v = format!(r#"{{"L":[{v}]}}"#);
            }
            format!(r#"{{"a":{v}}}"#)
        };
        assert!(parse_item(&nest(32)).is_ok());
        let e = parse_item(&nest(33)).unwrap_err();
        assert!(e.to_string().ends_with("nesting exceeds 32 levels"), "{e}");
        // Far deeper than serde_json's own recursion limit: an error, not a stack overflow.
        let e = parse_item(&nest(10_000)).unwrap_err();
        assert!(e.to_string().ends_with("nesting exceeds 32 levels"), "{e}");
        let parsed: Json = serde_json::from_str(&nest(40)).unwrap();
        assert!(item_from_json(&parsed).is_err());
    }

    #[test]
    fn bad_json_is_an_error_with_a_position() {
        let e = parse_item(r#"{"a":{"S":"x"}"#).unwrap_err();
        assert!(
            matches!(e, DecodeError::Json(ref m) if m.contains("line 1")),
            "{e}"
        );
    }

    #[test]
    fn key_json_sorts_attributes_by_name() {
        let schema = crate::model::KeySchema::composite(
            "range",
            crate::model::ScalarType::S,
            "hash",
            crate::model::ScalarType::N,
        );
        let item = parse_item(r#"{"range":{"S":"r"},"hash":{"N":"1.0"}}"#).unwrap();
        let key = schema.key_of(&item).unwrap();
        assert_eq!(
            key_to_sorted_string(&key),
            r#"{"hash":{"N":"1"},"range":{"S":"r"}}"#
        );
    }
}
