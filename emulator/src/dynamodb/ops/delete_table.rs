//! DeleteTable: removes the table, its items and index entries; its streams stay readable for 24 hours.

use serde::Deserialize;
use serde_json::json;

use super::describe_table::describe;
use crate::dynamodb::error::DdbError;
use crate::dynamodb::{wire, Request, Service};
use crate::storage::{items, streams};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    table_name: String,
}

pub async fn run(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: Input = wire::input(body)?;
    let now = req.now;
    let name = input.table_name.clone();
    let (table, count, size) = svc
        .storage
        .write(move |ctx| {
            let table = ctx.table(&name).ok_or_else(|| DdbError::table_not_found(&name))?;
            if table.meta.deletion_protection {
                return Err(DdbError::validation(
                    "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
                ));
            }
            let (count, size) = items::counters(ctx.conn, table.meta.id).map_err(DdbError::internal)?;
            items::drop_table_rows(ctx.conn, table.meta.id).map_err(DdbError::internal)?;
            streams::detach_table(ctx.conn, table.meta.id, now.0).map_err(DdbError::internal)?;
            ctx.conn.execute("DELETE FROM tables WHERE id = ?1", [table.meta.id]).map_err(DdbError::internal)?;
            ctx.remove_table(&name);
            Ok((table, count, size))
        })
        .await
        .map_err(DdbError::internal)??;
    wire::output(&json!({ "TableDescription": describe(svc, &table, "DELETING", count, size) }))
}
