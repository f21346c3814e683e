//! `ddbrep-engine`: the sans-I/O core of ddbrep.
//!
//! - [`model`]: the exact DynamoDB data model (ten types, exact numbers, items, keys, sizes, schemas).
//! - [`codec`]: DynamoDB-JSON, plain JSON and stream events, to and from the model.
//! - [`expr`]: the DynamoDB expression language (conditions, updates, projections, key conditions).
//! - [`backup_key`]: the incremental-backup object key, byte-compatible with the original tool.
//! - [`time`]: `Millis`, the only notion of time here; it is always passed in.
//!
//! ```
//! use ddbrep_engine::backup_key;
//! use ddbrep_engine::codec::ddb_json;
//! use ddbrep_engine::model::{KeySchema, ScalarType};
//!
//! let item = ddb_json::parse_item(r#"{"id":{"S":"abc"},"n":{"N":"12345678901234567890123456789012345678"}}"#)?;
//! let key = KeySchema::partition_only("id", ScalarType::S).key_of(&item)?;
//! // The incremental backup's object name, byte-compatible with the original tool:
//! assert_eq!(
//!     backup_key::object_key("backups", "mytable", &key),
//!     "backups/mytable/8f6d96a2442d76bb99e39f6d179ac31b313bf5e31bcd8caa62c44690bf465115",
//! );
//! // Numbers keep all 38 digits.
//! assert_eq!(ddb_json::item_to_string(&item), r#"{"id":{"S":"abc"},"n":{"N":"12345678901234567890123456789012345678"}}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate performs no I/O whatsoever: no sockets, files, clocks or randomness. Drivers in the other
//! crates feed it inputs and carry out the actions it asks for.

pub mod backfill;
pub mod backup_key;
pub mod codec;
pub mod diff;
pub mod dump;
pub mod expr;
pub mod history;
pub mod io;
pub mod model;
mod reconcile;
pub mod record;
pub mod rekey;
pub mod restore;
pub mod retry;
pub mod snapshot;
pub mod stream;
pub mod time;

#[cfg(feature = "testing")]
pub mod testing;
