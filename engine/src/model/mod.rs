//! The exact DynamoDB data model: values of the ten types, numbers as exact decimals, items, keys and
//! their order, item sizes, table descriptions. Pure data; performs no I/O.
//!
//! Everything here follows DynamoDB's documented rules; where a choice was ours (normalised number text,
//! attribute order, the exact item-size formula for numbers) DESIGN.md says what and why.

mod arith;
mod error;
mod item;
mod key;
mod number;
mod size;
mod table;
mod value;

pub use error::{AttrPath, ModelError, ModelErrorKind, PathSeg};
pub use item::Item;
pub use key::{
    Key, KeyAttribute, KeyError, KeyPart, KeyRole, KeySchema, KeyValue, ScalarType, MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
};
pub use number::{Number, NumberError, MAX_EXPONENT, MAX_SIGNIFICANT_DIGITS, MIN_EXPONENT};
pub use size::{item_size, number_size, value_size, MAX_ITEM_SIZE};
pub use table::{
    key_schema_from, AttributeDefinition, KeySchemaElement, Projection, ProvisionedThroughput, SchemaError,
    SecondaryIndex, StreamSpecification, TableDescription,
};
pub use value::{Map, Value, ValueType, MAX_NESTING_DEPTH};
