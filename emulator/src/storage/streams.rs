//! Streams, shards and stream records.
//!
//! Sequence numbers come from one database-wide counter, printed as 21-digit decimals (`10^20 + n`), so they
//! increase across every shard and stream and always have at least 21 digits, as AWS's do. Each stream has
//! one open shard; it closes after `ShardPolicy::max_records` records or `max_age_ms`, and a child shard whose
//! parent is the closed one takes over, as DynamoDB's shards roll over.

use rusqlite::{params, Connection, OptionalExtension};

/// When an open shard is closed and a child opened.
#[derive(Debug, Clone, Copy)]
pub struct ShardPolicy {
    /// Most records in one shard.
    pub max_records: i64,
    /// Oldest a shard may get, in milliseconds (DynamoDB rolls shards over about every 4 hours).
    pub max_age_ms: u64,
}

impl Default for ShardPolicy {
    fn default() -> ShardPolicy {
        ShardPolicy {
            max_records: 100_000,
            max_age_ms: 4 * 60 * 60 * 1000,
        }
    }
}

/// Stream records are kept for 24 hours
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>).
pub const RETENTION_MS: u64 = 24 * 60 * 60 * 1000;

const SEQUENCE_BASE: u128 = 100_000_000_000_000_000_000;

/// The printed form of a sequence counter value: at least 21 digits.
pub fn sequence_text(seq: i64) -> String {
    (SEQUENCE_BASE + u128::try_from(seq).unwrap_or(0)).to_string()
}

/// The counter value of a printed sequence number, if it is one of ours.
pub fn parse_sequence(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 39 {
        return None;
    }
    let n: u128 = text.parse().ok()?;
    i64::try_from(n.checked_sub(SEQUENCE_BASE)?).ok()
}

/// A stream row.
#[derive(Debug, Clone)]
pub struct StreamRow {
    /// ARN.
    pub arn: String,
    /// Table name.
    pub table_name: String,
    /// Label.
    pub label: String,
    /// View type.
    pub view_type: String,
    /// Creation time.
    pub created_ms: u64,
    /// When it was switched off.
    pub disabled_ms: Option<u64>,
}

/// A shard row.
#[derive(Debug, Clone)]
pub struct ShardRow {
    /// Shard id.
    pub shard_id: String,
    /// Parent shard id.
    pub parent_shard_id: Option<String>,
    /// First sequence number it may hold.
    pub first_seq: i64,
    /// Last sequence number it holds, once closed.
    pub last_seq: Option<i64>,
    /// Creation time.
    pub created_ms: u64,
    /// The newest sequence number retention deleted from it (0: none).
    pub trimmed_seq: i64,
}

/// Creates a stream and its first shard.
pub fn create_stream(
    conn: &Connection,
    row: &StreamRow,
    table_id: i64,
    first_shard_id: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO streams (arn, table_name, table_id, label, view_type, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![row.arn, row.table_name, table_id, row.label, row.view_type, row.created_ms as i64],
    )?;
    let next = current_sequence(conn)? + 1;
    conn.execute(
        "INSERT INTO shards (stream_arn, shard_id, parent_shard_id, first_seq, created_ms) VALUES (?1, ?2, NULL, ?3, ?4)",
        params![row.arn, first_shard_id, next, row.created_ms as i64],
    )?;
    Ok(())
}

/// Switches a stream off: no more records; its shards close; what it holds stays readable for 24 hours.
pub fn disable_stream(conn: &Connection, arn: &str, now_ms: u64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE streams SET disabled_ms = ?2 WHERE arn = ?1 AND disabled_ms IS NULL",
        params![arn, now_ms as i64],
    )?;
    let last = current_sequence(conn)?;
    conn.execute(
        "UPDATE shards SET last_seq = ?2 WHERE stream_arn = ?1 AND last_seq IS NULL",
        params![arn, last],
    )?;
    Ok(())
}

/// Marks a deleted table's streams as detached from it (they stay readable until they expire).
pub fn detach_table(conn: &Connection, table_id: i64, now_ms: u64) -> rusqlite::Result<()> {
    let arns: Vec<String> = conn
        .prepare("SELECT arn FROM streams WHERE table_id = ?1")?
        .query_map(params![table_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for arn in arns {
        disable_stream(conn, &arn, now_ms)?;
    }
    conn.execute(
        "UPDATE streams SET table_id = NULL WHERE table_id = ?1",
        params![table_id],
    )?;
    Ok(())
}

fn current_sequence(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT value FROM counters WHERE name = 'sequence'")?
        .query_row([], |r| r.get(0))
}

/// Appends one record to a stream's open shard (rolling the shard over first when the policy says so).
/// `record` gets the sequence number's text and returns the record JSON. `new_shard_id` is called when a
/// child shard is opened.
pub fn append(
    conn: &Connection,
    stream_arn: &str,
    now_ms: u64,
    policy: ShardPolicy,
    new_shard_id: impl FnOnce() -> String,
    record: impl FnOnce(&str) -> String,
) -> rusqlite::Result<()> {
    let seq: i64 = conn
        .prepare_cached("UPDATE counters SET value = value + 1 WHERE name = 'sequence' RETURNING value")?
        .query_row([], |r| r.get(0))?;
    let open: Option<(String, i64, i64)> = conn
        .prepare_cached(
            "SELECT shard_id, record_count, created_ms FROM shards WHERE stream_arn = ?1 AND last_seq IS NULL",
        )?
        .query_row(params![stream_arn], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let shard_id = match open {
        Some((id, count, created))
            if count < policy.max_records && now_ms.saturating_sub(created as u64) < policy.max_age_ms =>
        {
            id
        }
        previous => {
            let child = new_shard_id();
            let parent = previous.as_ref().map(|(id, _, _)| id.clone());
            if let Some(parent) = &parent {
                conn.prepare_cached(
                    "UPDATE shards SET last_seq = ?3 WHERE stream_arn = ?1 AND shard_id = ?2",
                )?
                .execute(params![stream_arn, parent, seq - 1])?;
            }
            conn.prepare_cached(
                "INSERT INTO shards (stream_arn, shard_id, parent_shard_id, first_seq, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![stream_arn, child, parent, seq, now_ms as i64])?;
            child
        }
    };
    let json = record(&sequence_text(seq));
    conn.prepare_cached(
        "INSERT INTO stream_records (stream_arn, shard_id, seq, created_ms, record) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![stream_arn, shard_id, seq, now_ms as i64, json])?;
    conn.prepare_cached(
        "UPDATE shards SET record_count = record_count + 1 WHERE stream_arn = ?1 AND shard_id = ?2",
    )?
    .execute(params![stream_arn, shard_id])?;
    Ok(())
}

/// Every stream, newest first, optionally of one table.
pub fn list_streams(conn: &Connection, table: Option<&str>) -> rusqlite::Result<Vec<StreamRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT arn, table_name, label, view_type, created_ms, disabled_ms FROM streams
         WHERE ?1 IS NULL OR table_name = ?1 ORDER BY created_ms DESC, arn",
    )?;
    let rows = stmt.query_map(params![table], stream_row)?;
    rows.collect()
}

/// One stream by ARN.
pub fn get_stream(conn: &Connection, arn: &str) -> rusqlite::Result<Option<StreamRow>> {
    conn.prepare_cached(
        "SELECT arn, table_name, label, view_type, created_ms, disabled_ms FROM streams WHERE arn = ?1",
    )?
    .query_row(params![arn], stream_row)
    .optional()
}

fn stream_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StreamRow> {
    Ok(StreamRow {
        arn: r.get(0)?,
        table_name: r.get(1)?,
        label: r.get(2)?,
        view_type: r.get(3)?,
        created_ms: r.get::<_, i64>(4)? as u64,
        disabled_ms: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
    })
}

/// A stream's shards in creation order (parents before children).
pub fn shards(conn: &Connection, arn: &str) -> rusqlite::Result<Vec<ShardRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT shard_id, parent_shard_id, first_seq, last_seq, created_ms, trimmed_seq FROM shards
         WHERE stream_arn = ?1 ORDER BY first_seq, shard_id",
    )?;
    let rows = stmt.query_map(params![arn], |r| {
        Ok(ShardRow {
            shard_id: r.get(0)?,
            parent_shard_id: r.get(1)?,
            first_seq: r.get(2)?,
            last_seq: r.get(3)?,
            created_ms: r.get::<_, i64>(4)? as u64,
            trimmed_seq: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// The current value of the sequence counter (the newest sequence number handed out).
pub fn latest_sequence(conn: &Connection) -> rusqlite::Result<i64> {
    current_sequence(conn)
}

/// Records of a shard with sequence numbers from `from` (inclusive), at most `limit`.
pub fn records(
    conn: &Connection,
    arn: &str,
    shard_id: &str,
    from: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, record FROM stream_records WHERE stream_arn = ?1 AND shard_id = ?2 AND seq >= ?3
         ORDER BY seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![arn, shard_id, from, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    rows.collect()
}

/// The oldest sequence number still held by a shard, if any.
pub fn oldest_sequence(conn: &Connection, arn: &str, shard_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT MIN(seq) FROM stream_records WHERE stream_arn = ?1 AND shard_id = ?2")?
        .query_row(params![arn, shard_id], |r| r.get(0))
}

/// The newest sequence number a shard holds, if any.
pub fn records_newest(conn: &Connection, arn: &str, shard_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT MAX(seq) FROM stream_records WHERE stream_arn = ?1 AND shard_id = ?2")?
        .query_row(params![arn, shard_id], |r| r.get(0))
}

/// Deletes records older than the retention period, and streams (with their shards) disabled for longer.
pub fn trim(conn: &Connection, now_ms: u64) -> rusqlite::Result<usize> {
    let cutoff = now_ms.saturating_sub(RETENTION_MS) as i64;
    conn.execute(
        "UPDATE shards SET trimmed_seq = MAX(trimmed_seq, (SELECT COALESCE(MAX(seq), 0) FROM stream_records r
         WHERE r.stream_arn = shards.stream_arn AND r.shard_id = shards.shard_id AND r.created_ms < ?1))",
        params![cutoff],
    )?;
    let n = conn.execute(
        "DELETE FROM stream_records WHERE created_ms < ?1",
        params![cutoff],
    )?;
    conn.execute(
        "DELETE FROM shards WHERE stream_arn IN (SELECT arn FROM streams WHERE disabled_ms IS NOT NULL AND disabled_ms < ?1)",
        params![cutoff],
    )?;
    conn.execute(
        "DELETE FROM streams WHERE disabled_ms IS NOT NULL AND disabled_ms < ?1",
        params![cutoff],
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_have_21_digits_and_round_trip() {
        assert_eq!(sequence_text(1), "100000000000000000001");
        assert_eq!(sequence_text(1).len(), 21);
        assert_eq!(parse_sequence(&sequence_text(123_456)), Some(123_456));
        assert_eq!(parse_sequence("42"), None);
        assert_eq!(parse_sequence("x"), None);
    }
}
