//! The database schema, as an append-only list of migrations tracked by `PRAGMA user_version`.
//!
//! Never reorder or drop an entry; only append. Each runs once, inside the exclusive transaction that opens
//! the database, so a crash mid-migration leaves the previous version intact.

use rusqlite::Connection;

/// The migrations, oldest first. Entry `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tables, items, secondary index entries, streams, shards, stream records, counters.
    r#"
    CREATE TABLE tables (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        meta        TEXT NOT NULL,             -- TableMeta as JSON
        item_count  INTEGER NOT NULL DEFAULT 0,
        size_bytes  INTEGER NOT NULL DEFAULT 0
    );
    -- One row per item of every table. (h, pk, sk) are the encoded key columns (storage::keys): SQLite's order
    -- over them is Scan order within a table and DynamoDB's sort order within a partition.
    CREATE TABLE items (
        table_id    INTEGER NOT NULL,
        h           INTEGER NOT NULL,
        pk          BLOB NOT NULL,
        sk          BLOB NOT NULL,
        item        TEXT NOT NULL,             -- compact DynamoDB-JSON, attributes in the order written
        size        INTEGER NOT NULL,
        PRIMARY KEY (table_id, h, pk, sk)
    ) WITHOUT ROWID;
    -- Secondary index entries: the index key (ih, ipk, isk) then the base key, maintained in the same
    -- transaction as the base item.
    CREATE TABLE index_entries (
        table_id    INTEGER NOT NULL,
        index_name  TEXT NOT NULL,
        ih          INTEGER NOT NULL,
        ipk         BLOB NOT NULL,
        isk         BLOB NOT NULL,
        h           INTEGER NOT NULL,
        pk          BLOB NOT NULL,
        sk          BLOB NOT NULL,
        PRIMARY KEY (table_id, index_name, ih, ipk, isk, h, pk, sk)
    ) WITHOUT ROWID;
    CREATE TABLE streams (
        arn          TEXT PRIMARY KEY,
        table_name   TEXT NOT NULL,
        table_id     INTEGER,                  -- NULL once the table is deleted
        label        TEXT NOT NULL,
        view_type    TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        disabled_ms  INTEGER                   -- set when the stream is switched off; readable 24 h more
    );
    CREATE TABLE shards (
        stream_arn      TEXT NOT NULL,
        shard_id        TEXT NOT NULL,
        parent_shard_id TEXT,
        first_seq       INTEGER NOT NULL,      -- the first sequence number the shard may hold
        last_seq        INTEGER,               -- set when the shard is closed
        created_ms      INTEGER NOT NULL,
        record_count    INTEGER NOT NULL DEFAULT 0,
        trimmed_seq     INTEGER NOT NULL DEFAULT 0, -- the newest sequence number deleted by retention
        PRIMARY KEY (stream_arn, shard_id)
    ) WITHOUT ROWID;
    CREATE TABLE stream_records (
        stream_arn  TEXT NOT NULL,
        shard_id    TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        created_ms  INTEGER NOT NULL,
        record      TEXT NOT NULL,             -- the GetRecords record as JSON
        PRIMARY KEY (stream_arn, shard_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX stream_records_by_age ON stream_records (created_ms);
    CREATE TABLE counters (
        name   TEXT PRIMARY KEY,
        value  INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO counters (name, value) VALUES ('sequence', 0);
    "#,
    // 2: S3 — buckets, object versions and delete markers, multipart uploads and parts (storage::objects).
    // Keys are BLOBs of their UTF-8 bytes so that SQLite's order is S3's (bytewise). Bodies live in blob
    // files beside the database (s3::blobs), named by `files`, or inline in `body` when small.
    r#"
    CREATE TABLE s3_buckets (
        name        TEXT PRIMARY KEY,
        created_ms  INTEGER NOT NULL,
        versioning  TEXT NOT NULL DEFAULT ''   -- '' (never enabled), 'Enabled' or 'Suspended'
    ) WITHOUT ROWID;
    CREATE TABLE s3_objects (
        id             INTEGER PRIMARY KEY,    -- larger is newer
        bucket         TEXT NOT NULL,
        key            BLOB NOT NULL,
        version_id     TEXT NOT NULL,          -- 'null' when written without versioning
        is_latest      INTEGER NOT NULL,
        delete_marker  INTEGER NOT NULL,
        modified_ms    INTEGER NOT NULL,
        size           INTEGER NOT NULL,
        etag           TEXT NOT NULL,          -- without quotes
        meta           TEXT NOT NULL,          -- ObjectMeta as JSON
        body           BLOB,                   -- the bytes of a small object
        files          TEXT                    -- JSON [[file, length], ...] of a larger one
    );
    CREATE UNIQUE INDEX s3_objects_by_version ON s3_objects (bucket, key, version_id);
    CREATE INDEX s3_objects_by_key ON s3_objects (bucket, key, id);
    CREATE INDEX s3_objects_current ON s3_objects (bucket, key) WHERE is_latest = 1 AND delete_marker = 0;
    CREATE TABLE s3_uploads (
        upload_id     TEXT PRIMARY KEY,
        bucket        TEXT NOT NULL,
        key           BLOB NOT NULL,
        initiated_ms  INTEGER NOT NULL,
        meta          TEXT NOT NULL            -- ObjectMeta the object will have
    ) WITHOUT ROWID;
    CREATE INDEX s3_uploads_by_key ON s3_uploads (bucket, key, initiated_ms);
    CREATE TABLE s3_parts (
        upload_id    TEXT NOT NULL,
        part_number  INTEGER NOT NULL,
        size         INTEGER NOT NULL,
        etag         TEXT NOT NULL,
        modified_ms  INTEGER NOT NULL,
        checksums    TEXT NOT NULL,
        file         TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number)
    ) WITHOUT ROWID;
    "#,
    // 3: the stream pipeline's checkpoints (storage::pipeline): per pipeline and shard, the newest sequence
    // number its handler finished with, and whether the shard is done (closed and fully processed).
    r#"
    CREATE TABLE pipeline_checkpoints (
        pipeline    TEXT NOT NULL,
        stream_arn  TEXT NOT NULL,
        shard_id    TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        finished    INTEGER NOT NULL DEFAULT 0,
        updated_ms  INTEGER NOT NULL,
        PRIMARY KEY (pipeline, stream_arn, shard_id)
    ) WITHOUT ROWID;
    "#,
];

/// Brings the database up to the latest schema version.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}
