//! Codecs between the model and outside text: DynamoDB-JSON (the wire form), plain JSON (the DocumentClient
//! convention), and DynamoDB stream events. Decoders never panic, check every model rule, and name the path
//! of what they refuse.

pub mod ddb_json;
pub mod history_text;
pub mod plain_json;
pub mod stream_event;

use serde_json::Value as Json;

use crate::model::{KeyError, ModelError};

/// Why a text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or JSON of the wrong shape for the message (with serde_json's line and column).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// JSON that breaks a DynamoDB rule, with the attribute's path.
    #[error("{0}")]
    Model(#[from] ModelError),
    /// A key that does not fit the table's key schema.
    #[error("{0}")]
    Key(#[from] KeyError),
}

impl DecodeError {
    pub(crate) fn json(e: serde_json::Error) -> DecodeError {
        DecodeError::Json(e.to_string())
    }
}

/// "a string", "an array", …: for messages.
pub(crate) fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
