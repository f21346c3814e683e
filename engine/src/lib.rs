//! `ddbrep-engine`: the sans-I/O core of ddbrep.
//!
//! - [`model`]: the exact DynamoDB data model (ten types, exact numbers, items, keys, sizes, schemas).
//! - [`codec`]: DynamoDB-JSON, plain JSON and stream events, to and from the model.
//! - [`backup_key`]: the incremental-backup object key, byte-compatible with the original tool.
//! - [`time`]: `Millis`, the only notion of time here; it is always passed in.
//!
//! This crate performs no I/O whatsoever: no sockets, files, clocks or randomness. Drivers in the other
//! crates feed it inputs and carry out the actions it asks for.

pub mod backup_key;
pub mod codec;
pub mod model;
pub mod time;

#[cfg(feature = "testing")]
pub mod testing;
