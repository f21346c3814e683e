//! Item rows: get, put, delete, and the range reads behind Scan and Query. Items are stored as their compact
//! DynamoDB-JSON, so reads hand the text straight to the response.

use std::ops::Bound;

use rusqlite::{params, Connection, OptionalExtension};

use super::keys::KeyColumns;

/// A stored item: its key columns, its DynamoDB-JSON and its size.
#[derive(Debug, Clone)]
pub struct StoredItem {
    /// Key columns.
    pub key: KeyColumns,
    /// Compact DynamoDB-JSON.
    pub json: String,
    /// Item size in bytes.
    pub size: i64,
}

/// The item at a key.
pub fn get(conn: &Connection, table_id: i64, key: &KeyColumns) -> rusqlite::Result<Option<StoredItem>> {
    conn.prepare_cached(
        "SELECT item, size FROM items WHERE table_id = ?1 AND h = ?2 AND pk = ?3 AND sk = ?4",
    )?
    .query_row(params![table_id, key.h, key.pk, key.sk], |r| {
        Ok(StoredItem {
            key: key.clone(),
            json: r.get(0)?,
            size: r.get(1)?,
        })
    })
    .optional()
}

/// Writes an item (replacing any at its key). The caller accounts for the table's counters
/// (`WriteCtx::count`).
pub fn put(conn: &Connection, table_id: i64, item: &StoredItem) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO items (table_id, h, pk, sk, item, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (table_id, h, pk, sk) DO UPDATE SET item = excluded.item, size = excluded.size",
    )?
    .execute(params![
        table_id,
        item.key.h,
        item.key.pk,
        item.key.sk,
        item.json,
        item.size
    ])?;
    Ok(())
}

/// Deletes the item at a key. The caller accounts for the table's counters.
pub fn delete(conn: &Connection, table_id: i64, key: &KeyColumns) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM items WHERE table_id = ?1 AND h = ?2 AND pk = ?3 AND sk = ?4")?
        .execute(params![table_id, key.h, key.pk, key.sk])?;
    Ok(())
}

/// Adds to a table's item count and size (once per group commit, for all of its writes).
pub fn add_to_counters(conn: &Connection, table_id: i64, count: i64, size: i64) -> rusqlite::Result<()> {
    if count == 0 && size == 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE tables SET item_count = item_count + ?2, size_bytes = size_bytes + ?3 WHERE id = ?1",
    )?
    .execute(params![table_id, count, size])?;
    Ok(())
}

/// A table's item count and size.
pub fn counters(conn: &Connection, table_id: i64) -> rusqlite::Result<(i64, i64)> {
    conn.prepare_cached("SELECT item_count, size_bytes FROM tables WHERE id = ?1")?
        .query_row(params![table_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map(|o| o.unwrap_or((0, 0)))
}

/// Items of a table in Scan order (partition hash, partition key, sort key) within the hash range
/// `[h_start, h_end)`, strictly after `after`, at most `limit` (stopping early once `max_bytes` of items
/// were read). Calls `each` per row; returns how many rows were read.
pub fn scan(
    conn: &Connection,
    table_id: i64,
    (h_start, h_end): (i64, i64),
    after: Option<&KeyColumns>,
    limit: usize,
    mut each: impl FnMut(StoredItem) -> bool,
) -> rusqlite::Result<()> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut visit = |rows: &mut rusqlite::Rows<'_>| -> rusqlite::Result<()> {
        while let Some(r) = rows.next()? {
            let item = StoredItem {
                key: KeyColumns {
                    h: r.get(0)?,
                    pk: r.get(1)?,
                    sk: r.get(2)?,
                },
                json: r.get(3)?,
                size: r.get(4)?,
            };
            if !each(item) {
                break;
            }
        }
        Ok(())
    };
    match after {
        None => {
            let mut stmt = conn.prepare_cached(
                "SELECT h, pk, sk, item, size FROM items WHERE table_id = ?1 AND h >= ?2 AND h < ?3
                 ORDER BY h, pk, sk LIMIT ?4",
            )?;
            let mut rows = stmt.query(params![table_id, h_start, h_end, limit])?;
            visit(&mut rows)
        }
        Some(k) => {
            let mut stmt = conn.prepare_cached(
                "SELECT h, pk, sk, item, size FROM items WHERE table_id = ?1 AND h < ?3
                 AND (h, pk, sk) > (?4, ?5, ?6) AND h >= ?2
                 ORDER BY h, pk, sk LIMIT ?7",
            )?;
            let mut rows = stmt.query(params![table_id, h_start, h_end, k.h, k.pk, k.sk, limit])?;
            visit(&mut rows)
        }
    }
}

/// Items of one partition with sort keys in `range`, in sort-key order (`forward`) or reverse, strictly
/// beyond `after` in that direction, at most `limit`. Calls `each` per row until it returns false.
#[allow(clippy::too_many_arguments)]
pub fn query(
    conn: &Connection,
    table_id: i64,
    h: i64,
    pk: &[u8],
    range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    forward: bool,
    after: Option<&[u8]>,
    limit: usize,
    mut each: impl FnMut(StoredItem) -> bool,
) -> rusqlite::Result<()> {
    let mut sql = String::from("SELECT sk, item, size FROM items WHERE table_id = ?1 AND h = ?2 AND pk = ?3");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> =
        vec![Box::new(table_id), Box::new(h), Box::new(pk.to_vec())];
    let bound = |op: &str, v: Vec<u8>, args: &mut Vec<Box<dyn rusqlite::ToSql>>, sql: &mut String| {
        args.push(Box::new(v));
        sql.push_str(&format!(" AND sk {op} ?{}", args.len()));
    };
    match range.0 {
        Bound::Included(v) => bound(">=", v, &mut args, &mut sql),
        Bound::Excluded(v) => bound(">", v, &mut args, &mut sql),
        Bound::Unbounded => {}
    }
    match range.1 {
        Bound::Included(v) => bound("<=", v, &mut args, &mut sql),
        Bound::Excluded(v) => bound("<", v, &mut args, &mut sql),
        Bound::Unbounded => {}
    }
    if let Some(after) = after {
        bound(
            if forward { ">" } else { "<" },
            after.to_vec(),
            &mut args,
            &mut sql,
        );
    }
    sql.push_str(if forward {
        " ORDER BY sk ASC"
    } else {
        " ORDER BY sk DESC"
    });
    args.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let sk: Vec<u8> = r.get(0)?;
        let item = StoredItem {
            key: KeyColumns {
                h,
                pk: pk.to_vec(),
                sk,
            },
            json: r.get(1)?,
            size: r.get(2)?,
        };
        if !each(item) {
            break;
        }
    }
    Ok(())
}

/// Deletes every item and index entry of a table.
pub fn drop_table_rows(conn: &Connection, table_id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM items WHERE table_id = ?1", params![table_id])?;
    conn.execute("DELETE FROM index_entries WHERE table_id = ?1", params![table_id])?;
    Ok(())
}

/// An index entry joined with its item: the index key columns and the stored item.
#[derive(Debug, Clone)]
pub struct IndexedItem {
    /// Index key columns.
    pub index_key: KeyColumns,
    /// The base item.
    pub item: StoredItem,
}

/// Entries of a secondary index in index order, joined with their items: all of them within the index hash
/// range (Scan) or one index partition with its sort key in `range` (Query), strictly beyond `after` (index
/// key, then base key) in the reading direction.
#[allow(clippy::too_many_arguments)]
pub fn index_read(
    conn: &Connection,
    table_id: i64,
    index: &str,
    partition: IndexPartition<'_>,
    forward: bool,
    after: Option<&(KeyColumns, KeyColumns)>,
    mut each: impl FnMut(IndexedItem) -> bool,
) -> rusqlite::Result<()> {
    let mut sql = String::from(
        "SELECT e.ih, e.ipk, e.isk, i.h, i.pk, i.sk, i.item, i.size FROM index_entries e
         JOIN items i ON i.table_id = e.table_id AND i.h = e.h AND i.pk = e.pk AND i.sk = e.sk
         WHERE e.table_id = ?1 AND e.index_name = ?2",
    );
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(table_id), Box::new(index.to_owned())];
    let push = |clause: &str,
                values: Vec<Box<dyn rusqlite::ToSql>>,
                sql: &mut String,
                args: &mut Vec<Box<dyn rusqlite::ToSql>>| {
        let mut clause = clause.to_owned();
        for v in values {
            args.push(v);
            clause = clause.replacen('?', &format!("?{}", args.len()), 1);
        }
        sql.push_str(" AND ");
        sql.push_str(&clause);
    };
    match partition {
        IndexPartition::HashRange(start, end) => {
            push("e.ih >= ?", vec![Box::new(start)], &mut sql, &mut args);
            push("e.ih < ?", vec![Box::new(end)], &mut sql, &mut args);
        }
        IndexPartition::Partition { ih, ipk, range } => {
            push("e.ih = ?", vec![Box::new(ih)], &mut sql, &mut args);
            push("e.ipk = ?", vec![Box::new(ipk.to_vec())], &mut sql, &mut args);
            match range.0 {
                Bound::Included(v) => push("e.isk >= ?", vec![Box::new(v)], &mut sql, &mut args),
                Bound::Excluded(v) => push("e.isk > ?", vec![Box::new(v)], &mut sql, &mut args),
                Bound::Unbounded => {}
            }
            match range.1 {
                Bound::Included(v) => push("e.isk <= ?", vec![Box::new(v)], &mut sql, &mut args),
                Bound::Excluded(v) => push("e.isk < ?", vec![Box::new(v)], &mut sql, &mut args),
                Bound::Unbounded => {}
            }
        }
    }
    if let Some((ik, bk)) = after {
        let op = if forward { ">" } else { "<" };
        push(
            &format!("(e.ih, e.ipk, e.isk, e.h, e.pk, e.sk) {op} (?, ?, ?, ?, ?, ?)"),
            vec![
                Box::new(ik.h),
                Box::new(ik.pk.clone()),
                Box::new(ik.sk.clone()),
                Box::new(bk.h),
                Box::new(bk.pk.clone()),
                Box::new(bk.sk.clone()),
            ],
            &mut sql,
            &mut args,
        );
    }
    sql.push_str(if forward {
        " ORDER BY e.ih, e.ipk, e.isk, e.h, e.pk, e.sk"
    } else {
        " ORDER BY e.ih DESC, e.ipk DESC, e.isk DESC, e.h DESC, e.pk DESC, e.sk DESC"
    });
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let entry = IndexedItem {
            index_key: KeyColumns {
                h: r.get(0)?,
                pk: r.get(1)?,
                sk: r.get(2)?,
            },
            item: StoredItem {
                key: KeyColumns {
                    h: r.get(3)?,
                    pk: r.get(4)?,
                    sk: r.get(5)?,
                },
                json: r.get(6)?,
                size: r.get(7)?,
            },
        };
        if !each(entry) {
            break;
        }
    }
    Ok(())
}

/// Which part of an index to read.
#[derive(Debug, Clone)]
pub enum IndexPartition<'a> {
    /// A Scan's hash range `[start, end)`.
    HashRange(i64, i64),
    /// A Query's partition and sort key range.
    Partition {
        /// Index partition hash.
        ih: i64,
        /// Encoded index partition key.
        ipk: &'a [u8],
        /// Sort key range.
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    },
}
