//! ListTables: names in order, paginated with ExclusiveStartTableName / LastEvaluatedTableName.

use serde::Deserialize;
use serde_json::json;

use crate::dynamodb::error::DdbError;
use crate::dynamodb::{wire, Request, Service};

/// Most names in one answer, and the default.
const MAX_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    exclusive_start_table_name: Option<String>,
    limit: Option<i64>,
}

pub fn run(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let limit = match input.limit {
        None => MAX_LIMIT,
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value {}",
                if n < 1 { "greater than or equal to 1" } else { "less than or equal to 100" }
            )))
        }
    };
    let names: Vec<String> = svc
        .storage
        .table_names()
        .into_iter()
        .filter(|n| {
            input
                .exclusive_start_table_name
                .as_ref()
                .is_none_or(|start| n > start)
        })
        .collect();
    let page: Vec<&String> = names.iter().take(limit).collect();
    let mut out = json!({ "TableNames": page });
    if names.len() > limit {
        if let (Some(map), Some(last)) = (out.as_object_mut(), page.last()) {
            map.insert("LastEvaluatedTableName".into(), json!(last));
        }
    }
    wire::output(&out)
}
