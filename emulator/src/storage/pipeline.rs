//! SQL of the stream pipeline's checkpoints: per pipeline and shard, the newest sequence number the
//! handler has finished with (every record up to it is done), and whether the shard is finished (closed,
//! and no record after the checkpoint). Written on the writer after each batch, so a restart resumes after
//! the last finished batch: nothing is lost, and at most the batch in flight at the crash is delivered
//! again (which both handlers take harmlessly).

use rusqlite::{params, Connection, OptionalExtension};

/// One shard's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every record with a sequence number up to this one is done.
    pub seq: i64,
    /// The shard is closed and done.
    pub finished: bool,
}

/// The checkpoint of one shard, if the pipeline has one.
pub fn get(
    conn: &Connection,
    pipeline: &str,
    stream_arn: &str,
    shard_id: &str,
) -> rusqlite::Result<Option<Checkpoint>> {
    conn.prepare_cached(
        "SELECT seq, finished FROM pipeline_checkpoints WHERE pipeline = ?1 AND stream_arn = ?2 AND shard_id = ?3",
    )?
    .query_row(params![pipeline, stream_arn, shard_id], |r| {
        Ok(Checkpoint {
            seq: r.get(0)?,
            finished: r.get::<_, i64>(1)? != 0,
        })
    })
    .optional()
}

/// Whether the pipeline has any checkpoint (it has run on this database before).
pub fn any(conn: &Connection, pipeline: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM pipeline_checkpoints WHERE pipeline = ?1)")?
        .query_row(params![pipeline], |r| r.get(0))
}

/// Sets one shard's checkpoint. A checkpoint never moves back.
pub fn set(
    conn: &Connection,
    pipeline: &str,
    stream_arn: &str,
    shard_id: &str,
    checkpoint: Checkpoint,
    now_ms: u64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO pipeline_checkpoints (pipeline, stream_arn, shard_id, seq, finished, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (pipeline, stream_arn, shard_id) DO UPDATE SET
           seq = MAX(seq, excluded.seq), finished = MAX(finished, excluded.finished), updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        pipeline,
        stream_arn,
        shard_id,
        checkpoint.seq,
        i64::from(checkpoint.finished),
        i64::try_from(now_ms).unwrap_or(i64::MAX)
    ])?;
    Ok(())
}

/// How many records of a shard come after `seq`.
pub fn records_after(conn: &Connection, stream_arn: &str, shard_id: &str, seq: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM stream_records WHERE stream_arn = ?1 AND shard_id = ?2 AND seq > ?3",
    )?
    .query_row(params![stream_arn, shard_id, seq], |r| r.get(0))
}

/// The creation time of the oldest record of a shard after `seq`, if any.
pub fn oldest_after(
    conn: &Connection,
    stream_arn: &str,
    shard_id: &str,
    seq: i64,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT created_ms FROM stream_records WHERE stream_arn = ?1 AND shard_id = ?2 AND seq > ?3
         ORDER BY seq LIMIT 1",
    )?
    .query_row(params![stream_arn, shard_id, seq], |r| r.get(0))
    .optional()
}

/// Whether any record up to `upto` of a table's streams (those with new images, which the pipelines read)
/// is after the pipeline's checkpoint of its shard. One index range probe per shard.
pub fn pending_through(conn: &Connection, pipeline: &str, table: &str, upto: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM shards sh JOIN streams s ON s.arn = sh.stream_arn
         WHERE s.table_name = ?2 AND s.view_type IN ('NEW_IMAGE', 'NEW_AND_OLD_IMAGES')
           AND EXISTS (SELECT 1 FROM stream_records r
             WHERE r.stream_arn = sh.stream_arn AND r.shard_id = sh.shard_id AND r.seq <= ?3
               AND r.seq > COALESCE((SELECT c.seq FROM pipeline_checkpoints c
                 WHERE c.pipeline = ?1 AND c.stream_arn = sh.stream_arn AND c.shard_id = sh.shard_id), 0)))",
    )?
    .query_row(params![pipeline, table, upto], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_never_moves_back() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::storage::schema::migrate(&mut conn).unwrap();
        assert!(!any(&conn, "p").unwrap());
        let cp = |seq, finished| Checkpoint { seq, finished };
        set(&conn, "p", "arn", "s1", cp(10, false), 1).unwrap();
        set(&conn, "p", "arn", "s1", cp(7, false), 2).unwrap();
        assert_eq!(get(&conn, "p", "arn", "s1").unwrap(), Some(cp(10, false)));
        set(&conn, "p", "arn", "s1", cp(12, true), 3).unwrap();
        set(&conn, "p", "arn", "s1", cp(12, false), 4).unwrap();
        assert_eq!(get(&conn, "p", "arn", "s1").unwrap(), Some(cp(12, true)));
        assert!(any(&conn, "p").unwrap());
        assert_eq!(get(&conn, "other", "arn", "s1").unwrap(), None);
    }
}
