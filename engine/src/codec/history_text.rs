//! The text of incremental-record-history, one block per object version (BRIEF §3): an empty line,
//! `Modified: <ISO-8601>`, 34 dashes, the item as 2-space-indented plain JSON (binary as base64) or
//! `Record was deleted` for a delete marker, and an empty line. The `--json` form is one JSON object per
//! version and line, the item in exact DynamoDB-JSON.

use serde_json::json;

use super::{ddb_json, plain_json};
use crate::model::Item;
use crate::time::Millis;

/// The line under `Modified:`, as the original printed it.
pub const RULE: &str = "----------------------------------";

/// One version's block: `\nModified: …\n----…\n<item or "Record was deleted">\n\n`.
pub fn version_block(modified: Millis, item: Option<&Item>) -> String {
    let body = match item {
        Some(item) => plain_json::item_to_pretty_string(item),
        None => "Record was deleted".to_owned(),
    };
    format!("\nModified: {}\n{RULE}\n{body}\n\n", modified.to_rfc3339())
}

/// One version as a JSON line: `{"modified":"…","versionId":"…","deleted":false,"item":{…DynamoDB-JSON…}}`.
pub fn version_json_line(modified: Millis, version_id: &str, item: Option<&Item>) -> String {
    let item_json = item.map_or_else(|| "null".to_owned(), ddb_json::item_to_string);
    format!(
        "{{\"modified\":{},\"versionId\":{},\"deleted\":{},\"item\":{item_json}}}\n",
        json!(modified.to_rfc3339()),
        json!(version_id),
        item.is_none(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    #[test]
    fn a_version_prints_as_the_original_printed_it() {
        let item: Item = [("id", Value::from("a")), ("b", Value::B(b"hi".to_vec()))]
            .into_iter()
            .collect();
        assert_eq!(RULE.len(), 34);
        assert_eq!(
            version_block(Millis(1_795_591_600_180), Some(&item)),
            "\nModified: 2026-11-25T07:26:40.180Z\n----------------------------------\n{\n  \"id\": \"a\",\n  \"b\": \"aGk=\"\n}\n\n"
        );
        assert_eq!(
            version_block(Millis(0), None),
            "\nModified: 1970-01-01T00:00:00.000Z\n----------------------------------\nRecord was deleted\n\n"
        );
    }

    #[test]
    fn the_json_form_keeps_exact_dynamodb_json() {
        let item: Item = [(
            "n",
            Value::N(crate::model::Number::parse("1.50").unwrap_or_else(|_| crate::model::Number::zero())),
        )]
        .into_iter()
        .collect();
        assert_eq!(
            version_json_line(Millis(0), "v1", Some(&item)),
            "{\"modified\":\"1970-01-01T00:00:00.000Z\",\"versionId\":\"v1\",\"deleted\":false,\"item\":{\"n\":{\"N\":\"1.5\"}}}\n"
        );
    }
}
