//! Table descriptions: the shape of CreateTable's input and DescribeTable's `Table`, as far as ddbrep reads
//! them (key schema, attribute definitions, indexes, throughput, stream settings), and the key schema they
//! define.
//!
//! Field names are the wire's (PascalCase); fields ddbrep does not use are ignored when read, so a full
//! DescribeTable answer parses as well as a hand-written `table.json`.

use serde::{Deserialize, Serialize};

use super::key::{KeyAttribute, KeySchema, ScalarType};

/// Why a description does not define a valid key schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// No or several HASH elements, several RANGE elements, or more than two elements.
    #[error("invalid KeySchema: {0}")]
    KeySchema(String),
    /// A key attribute without an AttributeDefinition.
    #[error("key attribute {0:?} has no AttributeDefinition")]
    Undefined(String),
    /// An AttributeType other than S, N or B.
    #[error("attribute {name:?} has type {ty:?}; key attributes must be S, N or B")]
    BadType {
        /// The attribute.
        name: String,
        /// The type given.
        ty: String,
    },
    /// The JSON is not a table description.
    #[error("not a table description: {0}")]
    Json(String),
}

/// `AttributeDefinition`: a key attribute's name and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    /// Name.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// `KeySchemaElement`: one key attribute and its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    /// Name.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// `ProvisionedThroughput` (as given, or as described).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedThroughput {
    /// Read capacity units.
    pub read_capacity_units: u64,
    /// Write capacity units.
    pub write_capacity_units: u64,
}

/// `Projection` of a secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection_type: Option<String>,
    /// With `INCLUDE`: the extra attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_key_attributes: Option<Vec<String>>,
}

/// A global or local secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecondaryIndex {
    /// Index name.
    pub index_name: String,
    /// The index's key.
    pub key_schema: Vec<KeySchemaElement>,
    /// What the index holds.
    #[serde(default)]
    pub projection: Projection,
    /// A GSI's own throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<ProvisionedThroughput>,
}

/// `StreamSpecification`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    /// Whether the stream is on.
    pub stream_enabled: bool,
    /// `KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE` or `NEW_AND_OLD_IMAGES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<String>,
}

/// A table description: CreateTable's input, or DescribeTable's `Table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDescription {
    /// Table name (absent in a bare schema file such as the original's `table.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    /// Types of the key attributes (of the table and its indexes).
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// The table's key.
    pub key_schema: Vec<KeySchemaElement>,
    /// `PROVISIONED` or `PAY_PER_REQUEST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<String>,
    /// Provisioned capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<ProvisionedThroughput>,
    /// Global secondary indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_secondary_indexes: Option<Vec<SecondaryIndex>>,
    /// Local secondary indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_secondary_indexes: Option<Vec<SecondaryIndex>>,
    /// Stream settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_specification: Option<StreamSpecification>,
}

impl TableDescription {
    /// Parses a table description from JSON: a bare description (`table.json`, CreateTable input) or a
    /// DescribeTable answer (`{"Table": {...}}`).
    pub fn parse_json(text: &str) -> Result<TableDescription, SchemaError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Described {
            table: TableDescription,
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SchemaError::Json(e.to_string()))?;
        let described = value.get("Table").is_some() && value.get("KeySchema").is_none();
        let parsed = if described {
            serde_json::from_value::<Described>(value).map(|d| d.table)
        } else {
            serde_json::from_value::<TableDescription>(value)
        };
        let table = parsed.map_err(|e| SchemaError::Json(e.to_string()))?;
        table.key()?;
        Ok(table)
    }

    /// The table's key schema, checked against the attribute definitions.
    pub fn key(&self) -> Result<KeySchema, SchemaError> {
        key_schema_from(&self.key_schema, &self.attribute_definitions)
    }
}

/// Builds and checks a key schema from its elements and the attribute definitions.
pub fn key_schema_from(
    elements: &[KeySchemaElement],
    definitions: &[AttributeDefinition],
) -> Result<KeySchema, SchemaError> {
    let attribute = |element: &KeySchemaElement| -> Result<KeyAttribute, SchemaError> {
        let def = definitions
            .iter()
            .find(|d| d.attribute_name == element.attribute_name)
            .ok_or_else(|| SchemaError::Undefined(element.attribute_name.clone()))?;
        let ty = ScalarType::from_tag(&def.attribute_type).ok_or_else(|| SchemaError::BadType {
            name: def.attribute_name.clone(),
            ty: def.attribute_type.clone(),
        })?;
        Ok(KeyAttribute {
            name: element.attribute_name.clone(),
            ty,
        })
    };
    match elements {
        [hash] if hash.key_type == "HASH" => Ok(KeySchema {
            partition: attribute(hash)?,
            sort: None,
        }),
        [hash, range] if hash.key_type == "HASH" && range.key_type == "RANGE" => {
            if hash.attribute_name == range.attribute_name {
                return Err(SchemaError::KeySchema(
                    "HASH and RANGE name the same attribute".into(),
                ));
            }
            Ok(KeySchema {
                partition: attribute(hash)?,
                sort: Some(attribute(range)?),
            })
        }
        [] => Err(SchemaError::KeySchema("no key attributes".into())),
        [_] => Err(SchemaError::KeySchema(
            "a single key attribute must have KeyType HASH".into(),
        )),
        [_, _] => Err(SchemaError::KeySchema(
            "two key attributes must be HASH then RANGE".into(),
        )),
        _ => Err(SchemaError::KeySchema(format!(
            "{} key attributes; at most 2",
            elements.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_table_answers_parse_too() {
        let text = r#"{"Table":{"TableName":"t","TableStatus":"ACTIVE","ItemCount":0,
            "AttributeDefinitions":[{"AttributeName":"id","AttributeType":"B"}],
            "KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}}"#;
        let t = TableDescription::parse_json(text).unwrap();
        assert_eq!(t.table_name.as_deref(), Some("t"));
        assert_eq!(t.key().unwrap(), KeySchema::partition_only("id", ScalarType::B));
    }

    #[test]
    fn bad_schemas_are_refused() {
        let defs = vec![AttributeDefinition {
            attribute_name: "a".into(),
            attribute_type: "S".into(),
        }];
        let el = |n: &str, t: &str| KeySchemaElement {
            attribute_name: n.into(),
            key_type: t.into(),
        };
        assert!(matches!(
            key_schema_from(&[el("a", "RANGE")], &defs),
            Err(SchemaError::KeySchema(_))
        ));
        assert_eq!(
            key_schema_from(&[el("b", "HASH")], &defs),
            Err(SchemaError::Undefined("b".into()))
        );
        let bool_def = vec![AttributeDefinition {
            attribute_name: "a".into(),
            attribute_type: "BOOL".into(),
        }];
        assert!(matches!(
            key_schema_from(&[el("a", "HASH")], &bool_def),
            Err(SchemaError::BadType { .. })
        ));
        assert!(matches!(
            key_schema_from(&[el("a", "HASH"), el("a", "RANGE")], &defs),
            Err(SchemaError::KeySchema(_))
        ));
    }
}
