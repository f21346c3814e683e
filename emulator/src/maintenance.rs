//! Background upkeep on the injected clock: stream records past their 24-hour retention are trimmed, and
//! items whose time-to-live attribute has passed are deleted, each with a REMOVE stream record from the
//! DynamoDB service principal, as DynamoDB's TTL does
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html>).

use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, Value};
use ddbrep_engine::time::Millis;

use crate::dynamodb::records::{self, Actor, ChangeEnv};
use crate::dynamodb::Service;
use crate::storage::items;
use crate::storage::keys::KeyColumns;
use crate::storage::streams;
use crate::storage::StorageError;

/// Most expired items deleted per table in one sweep, so a sweep never holds the writer for long.
const MAX_EXPIRED_PER_SWEEP: usize = 1000;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Stream records trimmed.
    pub trimmed: usize,
    /// Items expired.
    pub expired: usize,
}

/// Runs one sweep at `now`.
pub async fn sweep(svc: &Service, now: Millis) -> Result<SweepReport, StorageError> {
    let trimmed = svc
        .storage
        .write(move |ctx| streams::trim(ctx.conn, now.0))
        .await??;
    let mut expired = 0;
    for table in svc.storage.tables() {
        let Some(ttl) = table.meta.ttl.clone().filter(|t| t.enabled) else {
            continue;
        };
        let needle = format!(
            "{}:{{\"N\"",
            serde_json::to_string(&ttl.attribute).unwrap_or_default()
        );
        let now_secs = now.0 / 1000;
        let mut keys = Vec::new();
        svc.storage.read(|c| {
            items::scan(c, table.meta.id, (0, 1i64 << 32), None, usize::MAX, |row| {
                if row.json.contains(&needle) {
                    if let Ok(item) = ddb_json::parse_item(&row.json) {
                        if is_expired(&item, &ttl.attribute, now_secs) {
                            keys.push(item);
                        }
                    }
                }
                keys.len() < MAX_EXPIRED_PER_SWEEP
            })
        })?;
        if keys.is_empty() {
            continue;
        }
        let region = svc.config.region.clone();
        let rng = svc.rng.clone();
        let policy = svc.config.shard_policy;
        let attribute = ttl.attribute.clone();
        let table = table.clone();
        expired += svc
            .storage
            .write(move |ctx| -> rusqlite::Result<usize> {
                let env = ChangeEnv {
                    region: &region,
                    now,
                    policy,
                    rng: &rng,
                };
                let mut n = 0;
                for item in keys {
                    let Ok(key) = table.key.key_of(&item) else {
                        continue;
                    };
                    // Re-read: the item may have changed since the scan.
                    let current = records::current(ctx.conn, &table, &KeyColumns::of(&key))?;
                    if let Some(cur) = &current {
                        if is_expired(cur.item()?, &attribute, now_secs)
                            && records::apply(ctx, &env, &table, &key, Some(cur), None, Actor::TimeToLive)?
                        {
                            n += 1;
                        }
                    }
                }
                Ok(n)
            })
            .await??;
    }
    Ok(SweepReport { trimmed, expired })
}

/// DynamoDB expires an item when its TTL attribute is a number of epoch seconds in the past; any other type
/// (or a missing attribute) never expires.
fn is_expired(item: &Item, attribute: &str, now_secs: u64) -> bool {
    match item.get(attribute) {
        Some(Value::N(n)) if !n.is_negative() => {
            let text = n.to_string();
            let whole = text.split('.').next().unwrap_or_default();
            whole.parse::<u64>().is_ok_and(|secs| secs < now_secs)
        }
        _ => false,
    }
}
