//! One change to one item, written whole: the item row, its secondary index entries, and its stream record,
//! all inside the writer job's savepoint (so in one transaction). A write that changes nothing writes
//! nothing and makes no stream record, as DynamoDB.

use std::cell::OnceCell;

use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, Key, KeySchema};
use ddbrep_engine::time::Millis;
use rusqlite::{params, Connection};

use crate::clock::Rng;
use crate::storage::catalog::Table;
use crate::storage::items::{self, StoredItem};
use crate::storage::keys::KeyColumns;
use crate::storage::streams::{self, ShardPolicy};
use crate::storage::WriteCtx;
use crate::time_fmt;

/// What a change needs besides the item: where and when it happens.
pub struct ChangeEnv<'a> {
    /// Region, for stream records.
    pub region: &'a str,
    /// Time of the change.
    pub now: Millis,
    /// When shards roll over.
    pub policy: ShardPolicy,
    /// For event and shard ids.
    pub rng: &'a Rng,
}

/// Who made a change, when it is not a user: TTL deletions carry the DynamoDB service principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A request.
    User,
    /// A time-to-live expiry.
    TimeToLive,
}

/// The item stored at a key, parsed only when something needs its attributes (a condition, an index, a
/// stream, ReturnValues): a plain overwrite never pays for parsing the old item.
pub struct Current {
    /// The stored row.
    pub stored: StoredItem,
    item: OnceCell<Item>,
}

impl Current {
    /// The stored item's attributes.
    pub fn item(&self) -> rusqlite::Result<&Item> {
        if let Some(item) = self.item.get() {
            return Ok(item);
        }
        let item = ddb_json::parse_item(&self.stored.json).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?;
        Ok(self.item.get_or_init(|| item))
    }

    /// The stored item's size.
    pub fn size(&self) -> usize {
        usize::try_from(self.stored.size).unwrap_or(0)
    }
}

/// The item stored at a key.
pub fn current(conn: &Connection, table: &Table, cols: &KeyColumns) -> rusqlite::Result<Option<Current>> {
    Ok(items::get(conn, table.meta.id, cols)?.map(|stored| Current {
        stored,
        item: OnceCell::new(),
    }))
}

/// The parsed old item, when there is one.
pub fn old_item(old: Option<&Current>) -> rusqlite::Result<Option<&Item>> {
    old.map(Current::item).transpose()
}

/// Writes `new` (or deletes, when `None`) at `key`, where `old` is what is there now. Returns whether
/// anything changed.
pub fn apply(
    ctx: &WriteCtx<'_>,
    env: &ChangeEnv<'_>,
    table: &Table,
    key: &Key,
    old: Option<&Current>,
    new: Option<&Item>,
    actor: Actor,
) -> rusqlite::Result<bool> {
    let conn = ctx.conn;
    let cols = KeyColumns::of(key);
    let new_stored = new.map(|item| StoredItem {
        key: cols.clone(),
        json: ddb_json::item_to_string(item),
        size: i64::try_from(item.size()).unwrap_or(i64::MAX),
    });
    // Unchanged: the same text (cheap), or canonically equal (parses the old item).
    let unchanged = match (old, new, &new_stored) {
        (None, None, _) => true,
        (Some(o), Some(n), Some(stored)) => o.stored.json == stored.json || o.item()? == n,
        _ => false,
    };
    if unchanged {
        return Ok(false);
    }
    match (&new_stored, old) {
        (Some(stored), Some(o)) => {
            items::put(conn, table.meta.id, stored)?;
            ctx.count(table.meta.id, 0, stored.size - o.stored.size);
        }
        (Some(stored), None) => {
            items::put(conn, table.meta.id, stored)?;
            ctx.count(table.meta.id, 1, stored.size);
        }
        (None, Some(o)) => {
            items::delete(conn, table.meta.id, &cols)?;
            ctx.count(table.meta.id, -1, -o.stored.size);
        }
        (None, None) => {}
    }
    for index in &table.meta.indexes {
        let Some(schema) = table.index_keys.get(&index.name) else {
            continue;
        };
        let before = old_item(old)?.and_then(|item| index_columns(schema, item));
        let after = new.and_then(|item| index_columns(schema, item));
        if before == after {
            continue;
        }
        // The entry's index key, then the base item's key.
        let run = |sql: &str, entry: KeyColumns| -> rusqlite::Result<()> {
            conn.prepare_cached(sql)?.execute(params![
                table.meta.id,
                index.name,
                entry.h,
                entry.pk,
                entry.sk,
                cols.h,
                cols.pk,
                cols.sk
            ])?;
            Ok(())
        };
        if let Some(entry) = before {
            run(
                "DELETE FROM index_entries WHERE table_id = ?1 AND index_name = ?2 AND ih = ?3 AND ipk = ?4
                 AND isk = ?5 AND h = ?6 AND pk = ?7 AND sk = ?8",
                entry,
            )?;
        }
        if let Some(entry) = after {
            run(
                "INSERT OR REPLACE INTO index_entries (table_id, index_name, ih, ipk, isk, h, pk, sk)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                entry,
            )?;
        }
    }
    if let Some(stream) = table.active_stream() {
        let event_name = match (old, new) {
            (None, Some(_)) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            _ => "REMOVE",
        };
        let view = stream.view_type.as_str();
        let keys_json = ddb_json::item_to_string(&key.to_item());
        let new_image = new_stored
            .as_ref()
            .map(|s| s.json.clone())
            .filter(|_| matches!(view, "NEW_IMAGE" | "NEW_AND_OLD_IMAGES"));
        let old_image = old
            .map(|o| o.stored.json.clone())
            .filter(|_| matches!(view, "OLD_IMAGE" | "NEW_AND_OLD_IMAGES"));
        let size = keys_json.len()
            + new_image.as_ref().map_or(0, String::len)
            + old_image.as_ref().map_or(0, String::len);
        let event_id = env.rng.string(b"0123456789abcdef", 32);
        let seconds = time_fmt::epoch_whole_seconds(env.now);
        let region = env.region;
        let new_shard = || shard_id(env);
        streams::append(conn, &stream.arn, env.now.0, env.policy, new_shard, |seq| {
            let mut out = String::with_capacity(256 + size);
            out.push_str(&format!(
                r#"{{"eventID":"{event_id}","eventName":"{event_name}","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":{},"dynamodb":{{"ApproximateCreationDateTime":{seconds},"Keys":{keys_json}"#,
                json_string(region)
            ));
            if let Some(image) = &new_image {
                out.push_str(&format!(r#","NewImage":{image}"#));
            }
            if let Some(image) = &old_image {
                out.push_str(&format!(r#","OldImage":{image}"#));
            }
            out.push_str(&format!(
                r#","SequenceNumber":"{seq}","SizeBytes":{size},"StreamViewType":"{view}"}}"#
            ));
            if actor == Actor::TimeToLive {
                out.push_str(r#","userIdentity":{"PrincipalId":"dynamodb.amazonaws.com","Type":"Service"}"#);
            }
            out.push('}');
            out
        })?;
    }
    Ok(true)
}

/// A shard id in AWS's shape: `shardId-<20-digit creation time>-<8 hex>`.
pub fn shard_id(env: &ChangeEnv<'_>) -> String {
    format!(
        "shardId-{:020}-{}",
        env.now.0,
        env.rng.string(b"0123456789abcdef", 8)
    )
}

fn index_columns(schema: &KeySchema, item: &Item) -> Option<KeyColumns> {
    schema.key_of(item).ok().map(|k| KeyColumns::of(&k))
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
