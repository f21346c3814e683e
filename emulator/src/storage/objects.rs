//! S3 metadata in SQL: buckets, object versions (and delete markers), multipart uploads and their parts.
//!
//! Owns every statement on the `s3_*` tables (migration 2 in `schema`). Writes run on the writer thread
//! (callers pass `WriteCtx::conn`), reads on a pooled reader. Bodies are not here: a row names its body's
//! files (or holds a small body inline), and the files are written, made durable and deleted by
//! `s3::blobs`. A write returns the files it orphaned, for the caller to delete after the commit.
//!
//! # Keys and order
//! Keys are stored as BLOBs of their UTF-8 bytes, so SQLite compares them bytewise: that is S3's list order
//! ("UTF-8 character encoding in lexicographical order"), and it lets a listing skip a whole common prefix
//! with one range bound even where the bound is not valid UTF-8.
//!
//! # Versions
//! Each version is a row; a larger `id` is a newer version. `is_latest` marks the newest row of a key, and a
//! partial index over the latest non-marker rows makes plain listings one index range. A bucket whose
//! versioning was never enabled, or is suspended, writes version `null`, replacing the previous `null`
//! version of the key.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// The smallest part of a multipart upload other than the last (5 MiB), from "Amazon S3 multipart upload
/// limits".
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// The version id of objects written without versioning.
pub const NULL_VERSION: &str = "null";

/// Why an S3 storage operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The bucket does not exist.
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// The bucket exists already (ours: every caller is the same owner).
    #[error("the bucket exists already")]
    BucketExists,
    /// The bucket still holds objects, versions or delete markers.
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    /// The key has no current object.
    #[error("the key does not exist")]
    NoSuchKey,
    /// The upload id is unknown (or already completed or aborted).
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    /// A part in CompleteMultipartUpload was not uploaded, or its ETag differs.
    #[error("part {0} was not uploaded or its ETag does not match")]
    InvalidPart(i32),
    /// The parts of CompleteMultipartUpload are not in ascending order.
    #[error("the part list is not in ascending order")]
    InvalidPartOrder,
    /// A part other than the last is smaller than [`MIN_PART_SIZE`].
    #[error("part {0} is smaller than the minimum part size")]
    EntityTooSmall(i32),
    /// CompleteMultipartUpload named no parts.
    #[error("the part list is empty")]
    NoParts,
    /// A conditional write's condition does not hold.
    #[error("the precondition does not hold")]
    PreconditionFailed,
    /// A stored row could not be read.
    #[error("corrupt S3 metadata: {0}")]
    Corrupt(String),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: every write is version `null`.
    Unversioned,
    /// Every write is a new version.
    Enabled,
    /// Writes are version `null`; older versions are kept.
    Suspended,
}

impl Versioning {
    fn from_sql(text: &str) -> Versioning {
        match text {
            "Enabled" => Versioning::Enabled,
            "Suspended" => Versioning::Suspended,
            _ => Versioning::Unversioned,
        }
    }

    /// The stored (and wire) name; empty when never enabled.
    pub fn as_str(self) -> &'static str {
        match self {
            Versioning::Unversioned => "",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }
}

/// A bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_ms: i64,
    /// Its versioning state.
    pub versioning: Versioning,
}

/// Checksums of a body (base64, as on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// CRC32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    /// CRC32C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// CRC64/NVME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    /// SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What an object keeps besides its bytes: the content headers, user metadata and checksums.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `x-amz-meta-*`, names in lower case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// The checksums of the whole body (for a multipart object: of the parts' checksums, `-N`).
    #[serde(default)]
    pub checksums: Checksums,
    /// The number of parts of a multipart object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRef {
    /// In the row (small bodies).
    Inline(Vec<u8>),
    /// In blob files, in order: name and length of each.
    Files(Vec<(String, u64)>),
}

impl BodyRef {
    /// The blob files it names.
    pub fn files(&self) -> Vec<String> {
        match self {
            BodyRef::Inline(_) => Vec::new(),
            BodyRef::Files(files) => files.iter().map(|(f, _)| f.clone()).collect(),
        }
    }
}

/// One version of an object, or a delete marker.
#[derive(Debug, Clone)]
pub struct ObjectVersion {
    /// The key.
    pub key: String,
    /// The version id (`null` without versioning).
    pub version_id: String,
    /// Whether it is the newest version of its key.
    pub is_latest: bool,
    /// Whether it is a delete marker.
    pub delete_marker: bool,
    /// When it was written.
    pub modified_ms: i64,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// Its metadata.
    pub meta: ObjectMeta,
    /// Its bytes (`None` when not asked for).
    pub body: Option<BodyRef>,
}

/// A new object version to store.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// The key.
    pub key: String,
    /// The size in bytes.
    pub size: u64,
    /// The ETag, without quotes.
    pub etag: String,
    /// The metadata.
    pub meta: ObjectMeta,
    /// The bytes, already durable.
    pub body: BodyRef,
}

/// The conditions of a conditional write.
#[derive(Debug, Clone, Default)]
pub struct WriteCondition {
    /// `If-None-Match: *`: only if the key has no current object.
    pub if_none_match_any: bool,
    /// `If-Match: <etag>`: only if the current object has this ETag (unquoted; `*` for any).
    pub if_match: Option<String>,
}

/// What a write did.
#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    /// The version id written (`None` for an unversioned bucket).
    pub version_id: Option<String>,
    /// Whether a delete marker was written or removed.
    pub delete_marker: bool,
    /// Blob files no row names any more: delete them after the commit.
    pub orphaned: Vec<String>,
}

const VERSION_COLUMNS: &str = "key, version_id, is_latest, delete_marker, modified_ms, size, etag, meta";

fn version_from_row(r: &rusqlite::Row<'_>, with_body: bool) -> rusqlite::Result<ObjectVersion> {
    let key: Vec<u8> = r.get(0)?;
    let meta: String = r.get(7)?;
    let body = if with_body {
        let inline: Option<Vec<u8>> = r.get(8)?;
        let files: Option<String> = r.get(9)?;
        Some(body_from_sql(inline, files.as_deref()))
    } else {
        None
    };
    Ok(ObjectVersion {
        key: String::from_utf8_lossy(&key).into_owned(),
        version_id: r.get(1)?,
        is_latest: r.get(2)?,
        delete_marker: r.get(3)?,
        modified_ms: r.get(4)?,
        size: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
        etag: r.get(6)?,
        meta: serde_json::from_str(&meta).unwrap_or_default(),
        body,
    })
}

fn body_from_sql(inline: Option<Vec<u8>>, files: Option<&str>) -> BodyRef {
    match files {
        Some(files) => BodyRef::Files(serde_json::from_str(files).unwrap_or_default()),
        None => BodyRef::Inline(inline.unwrap_or_default()),
    }
}

fn body_to_sql(body: &BodyRef) -> (Option<&[u8]>, Option<String>) {
    match body {
        BodyRef::Inline(data) => (Some(data.as_slice()), None),
        BodyRef::Files(files) => (None, serde_json::to_string(files).ok()),
    }
}

// ---- buckets ----

/// A bucket, if it exists.
pub fn bucket(conn: &Connection, name: &str) -> rusqlite::Result<Option<Bucket>> {
    conn.prepare_cached("SELECT name, created_ms, versioning FROM s3_buckets WHERE name = ?1")?
        .query_row([name], |r| {
            Ok(Bucket {
                name: r.get(0)?,
                created_ms: r.get(1)?,
                versioning: Versioning::from_sql(&r.get::<_, String>(2)?),
            })
        })
        .optional()
}

/// Every bucket, by name.
pub fn buckets(conn: &Connection) -> rusqlite::Result<Vec<Bucket>> {
    let mut stmt =
        conn.prepare_cached("SELECT name, created_ms, versioning FROM s3_buckets ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(Bucket {
            name: r.get(0)?,
            created_ms: r.get(1)?,
            versioning: Versioning::from_sql(&r.get::<_, String>(2)?),
        })
    })?;
    rows.collect()
}

/// Creates a bucket.
pub fn create_bucket(conn: &Connection, name: &str, now_ms: i64) -> Result<(), ObjectsError> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO s3_buckets (name, created_ms, versioning) VALUES (?1, ?2, '')",
        )?
        .execute(params![name, now_ms])?;
    if inserted == 0 {
        return Err(ObjectsError::BucketExists);
    }
    Ok(())
}

/// Deletes an empty bucket; its unfinished multipart uploads go with it. Returns the orphaned part files.
pub fn delete_bucket(conn: &Connection, name: &str) -> Result<Vec<String>, ObjectsError> {
    if bucket(conn, name)?.is_none() {
        return Err(ObjectsError::NoSuchBucket);
    }
    let any: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM s3_objects WHERE bucket = ?1 LIMIT 1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    if any.is_some() {
        return Err(ObjectsError::BucketNotEmpty);
    }
    let mut orphaned = Vec::new();
    let uploads: Vec<String> = conn
        .prepare_cached("SELECT upload_id FROM s3_uploads WHERE bucket = ?1")?
        .query_map([name], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for upload in uploads {
        orphaned.extend(abort_upload(conn, &upload)?);
    }
    conn.prepare_cached("DELETE FROM s3_buckets WHERE name = ?1")?
        .execute([name])?;
    Ok(orphaned)
}

/// Sets a bucket's versioning (`Enabled` or `Suspended`).
pub fn set_versioning(conn: &Connection, name: &str, state: Versioning) -> Result<(), ObjectsError> {
    let changed = conn
        .prepare_cached("UPDATE s3_buckets SET versioning = ?2 WHERE name = ?1")?
        .execute(params![name, state.as_str()])?;
    if changed == 0 {
        return Err(ObjectsError::NoSuchBucket);
    }
    Ok(())
}

fn require_bucket(conn: &Connection, name: &str) -> Result<Bucket, ObjectsError> {
    bucket(conn, name)?.ok_or(ObjectsError::NoSuchBucket)
}

// ---- objects ----

/// A version of `key`: the given `version_id`, or the latest (which may be a delete marker). With
/// `with_body`, the row's body reference too.
pub fn version(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    with_body: bool,
) -> rusqlite::Result<Option<ObjectVersion>> {
    let body_cols = if with_body { ", body, files" } else { "" };
    match version_id {
        Some(v) => conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS}{body_cols} FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
            ))?
            .query_row(params![bucket, key.as_bytes(), v], |r| version_from_row(r, with_body))
            .optional(),
        None => conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS}{body_cols} FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND is_latest = 1"
            ))?
            .query_row(params![bucket, key.as_bytes()], |r| version_from_row(r, with_body))
            .optional(),
    }
}

fn check_condition(current: Option<&ObjectVersion>, cond: &WriteCondition) -> Result<(), ObjectsError> {
    let live = current.filter(|v| !v.delete_marker);
    if cond.if_none_match_any && live.is_some() {
        return Err(ObjectsError::PreconditionFailed);
    }
    if let Some(expected) = &cond.if_match {
        // "If there's no current object version with the same name, or if the current object version is a
        // delete marker, the request fails with 404 Not Found" (S3 user guide, conditional writes).
        let live = live.ok_or(ObjectsError::NoSuchKey)?;
        if expected != "*" && *expected != live.etag {
            return Err(ObjectsError::PreconditionFailed);
        }
    }
    Ok(())
}

/// Removes the `null` version of a key, if any; returns its files.
fn remove_null_version(conn: &Connection, bucket: &str, key: &str) -> Result<Vec<String>, ObjectsError> {
    let old = version(conn, bucket, key, Some(NULL_VERSION), true)?;
    let Some(old) = old else { return Ok(Vec::new()) };
    conn.prepare_cached("DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = 'null'")?
        .execute(params![bucket, key.as_bytes()])?;
    Ok(old.body.map(|b| b.files()).unwrap_or_default())
}

/// Makes the newest remaining row of a key its latest.
fn refresh_latest(conn: &Connection, bucket: &str, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE s3_objects SET is_latest = (id = (SELECT max(id) FROM s3_objects WHERE bucket = ?1 AND key = ?2))
         WHERE bucket = ?1 AND key = ?2",
    )?
    .execute(params![bucket, key.as_bytes()])?;
    Ok(())
}

fn insert_version(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
    delete_marker: bool,
    now_ms: i64,
    object: Option<&NewObject>,
) -> Result<(), ObjectsError> {
    conn.prepare_cached(
        "UPDATE s3_objects SET is_latest = 0 WHERE bucket = ?1 AND key = ?2 AND is_latest = 1",
    )?
    .execute(params![bucket, key.as_bytes()])?;
    let (size, etag, meta, (inline, files)) = match object {
        Some(o) => (
            i64::try_from(o.size).unwrap_or(i64::MAX),
            o.etag.as_str(),
            serde_json::to_string(&o.meta).map_err(|e| ObjectsError::Corrupt(e.to_string()))?,
            body_to_sql(&o.body),
        ),
        None => (0, "", "{}".to_owned(), (None, None)),
    };
    conn.prepare_cached(
        "INSERT INTO s3_objects (bucket, key, version_id, is_latest, delete_marker, modified_ms, size, etag, meta, body, files)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![bucket, key.as_bytes(), version_id, delete_marker, now_ms, size, etag, meta, inline, files])?;
    Ok(())
}

/// Stores a new version of `object.key` if `cond` holds against the current one. `new_version_id` is used
/// when the bucket is versioned. Runs on the writer, so two conditional writes are serialised and at most
/// one of two racing `If-None-Match: *` writes succeeds.
pub fn put_object(
    conn: &Connection,
    bucket: &str,
    object: &NewObject,
    cond: &WriteCondition,
    new_version_id: &str,
    now_ms: i64,
) -> Result<WriteOutcome, ObjectsError> {
    let b = require_bucket(conn, bucket)?;
    let current = version(conn, bucket, &object.key, None, false)?;
    check_condition(current.as_ref(), cond)?;
    let mut outcome = WriteOutcome::default();
    let version_id = match b.versioning {
        Versioning::Enabled => {
            outcome.version_id = Some(new_version_id.to_owned());
            new_version_id
        }
        Versioning::Suspended => {
            outcome.orphaned = remove_null_version(conn, bucket, &object.key)?;
            outcome.version_id = Some(NULL_VERSION.to_owned());
            NULL_VERSION
        }
        Versioning::Unversioned => {
            outcome.orphaned = remove_null_version(conn, bucket, &object.key)?;
            NULL_VERSION
        }
    };
    insert_version(conn, bucket, &object.key, version_id, false, now_ms, Some(object))?;
    Ok(outcome)
}

/// DeleteObject: with a version id, removes that version for good; without, removes the object (no
/// versioning) or adds a delete marker (versioning enabled or suspended).
pub fn delete_object(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    new_version_id: &str,
    now_ms: i64,
) -> Result<WriteOutcome, ObjectsError> {
    let b = require_bucket(conn, bucket)?;
    let mut outcome = WriteOutcome::default();
    if let Some(v) = version_id {
        let Some(old) = version(conn, bucket, key, Some(v), true)? else {
            // Deleting a version that is not there succeeds (S3 answers 204).
            outcome.version_id = Some(v.to_owned());
            return Ok(outcome);
        };
        conn.prepare_cached("DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3")?
            .execute(params![bucket, key.as_bytes(), v])?;
        if old.is_latest {
            refresh_latest(conn, bucket, key)?;
        }
        outcome.version_id = Some(v.to_owned());
        outcome.delete_marker = old.delete_marker;
        outcome.orphaned = old.body.map(|b| b.files()).unwrap_or_default();
        return Ok(outcome);
    }
    match b.versioning {
        Versioning::Unversioned => {
            outcome.orphaned = remove_null_version(conn, bucket, key)?;
        }
        Versioning::Enabled => {
            insert_version(conn, bucket, key, new_version_id, true, now_ms, None)?;
            outcome.version_id = Some(new_version_id.to_owned());
            outcome.delete_marker = true;
        }
        Versioning::Suspended => {
            outcome.orphaned = remove_null_version(conn, bucket, key)?;
            insert_version(conn, bucket, key, NULL_VERSION, true, now_ms, None)?;
            outcome.version_id = Some(NULL_VERSION.to_owned());
            outcome.delete_marker = true;
        }
    }
    Ok(outcome)
}

/// Every blob file any row names (objects and parts): what the startup sweep must keep.
pub fn referenced_files(conn: &Connection) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut names = std::collections::HashSet::new();
    let mut stmt = conn.prepare("SELECT files FROM s3_objects WHERE files IS NOT NULL")?;
    for files in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let files: Vec<(String, u64)> = serde_json::from_str(&files?).unwrap_or_default();
        names.extend(files.into_iter().map(|(f, _)| f));
    }
    let mut stmt = conn.prepare("SELECT file FROM s3_parts")?;
    for file in stmt.query_map([], |r| r.get::<_, String>(0))? {
        names.insert(file?);
    }
    Ok(names)
}

// ---- listing ----

/// One entry of a listing: an object (or version) or a common prefix.
#[derive(Debug, Clone)]
pub enum Entry<T> {
    /// An object or version.
    Item(T),
    /// Keys that share a prefix up to the delimiter, rolled up.
    Prefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Entries in order.
    pub entries: Vec<Entry<T>>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// The smallest byte string greater than every string that starts with `prefix` (`None`: no such bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// An exclusive upper bound of the keys that start with `prefix`, always present so that SQLite bounds the
/// index range (an optional bound made listings with a prefix scan to the bucket's end). Keys are UTF-8,
/// which never holds the byte 0xFF, so `[0xFF]` is above every key.
fn key_bound(prefix: &[u8]) -> Vec<u8> {
    prefix_end(prefix).unwrap_or_else(|| vec![0xFF])
}

/// The common prefix `key` rolls up into, if any.
fn rolled_up<'k>(key: &'k [u8], prefix: &[u8], delimiter: Option<&[u8]>) -> Option<&'k [u8]> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let at = rest.windows(delimiter.len()).position(|w| w == delimiter)?;
    key.get(..prefix.len() + at + delimiter.len())
}

/// What to list and from where.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys that start with this.
    pub prefix: String,
    /// Roll keys up at the first delimiter after the prefix.
    pub delimiter: Option<String>,
    /// Start after this key or common prefix (exclusive).
    pub after: Option<String>,
    /// The most entries (objects plus prefixes) in the page.
    pub max: usize,
}

/// The current (latest, not deleted) objects of a bucket, in key order, rolled up at the delimiter.
pub fn list_objects(conn: &Connection, bucket: &str, q: &ListQuery) -> rusqlite::Result<Page<ObjectVersion>> {
    let prefix = q.prefix.as_bytes();
    let end = key_bound(prefix);
    let after = q.after.as_deref().map(str::as_bytes);
    let mut lower: Vec<u8> = prefix.to_vec();
    if let Some(after) = after {
        if after >= prefix {
            lower = after.to_vec();
            lower.push(0); // exclusive: the smallest string after `after`
        }
    }
    let mut entries = Vec::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM s3_objects
         WHERE bucket = ?1 AND is_latest = 1 AND delete_marker = 0 AND key >= ?2 AND key < ?3
         ORDER BY key LIMIT ?4"
    ))?;
    let batch = (q.max + 1).min(1001) as i64;
    'outer: loop {
        let rows: Vec<ObjectVersion> = stmt
            .query_map(params![bucket, lower, end, batch], |r| version_from_row(r, false))?
            .collect::<rusqlite::Result<_>>()?;
        let exhausted = (rows.len() as i64) < batch;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if entries.len() > q.max {
                break 'outer;
            }
            let key = row.key.as_bytes().to_vec();
            if let Some(cp) = rolled_up(&key, prefix, q.delimiter.as_deref().map(str::as_bytes)) {
                let cp = cp.to_vec();
                // A prefix at or before the marker was returned on an earlier page.
                if after.is_none_or(|a| cp.as_slice() > a) {
                    entries.push(Entry::Prefix(String::from_utf8_lossy(&cp).into_owned()));
                }
                match prefix_end(&cp) {
                    Some(next) => {
                        lower = next;
                        continue 'outer;
                    }
                    None => break 'outer,
                }
            }
            entries.push(Entry::Item(row));
            lower = key;
            lower.push(0);
        }
        if exhausted {
            break;
        }
    }
    let truncated = entries.len() > q.max;
    entries.truncate(q.max);
    Ok(Page { entries, truncated })
}

/// Where a versions listing resumes.
#[derive(Debug, Clone, Default)]
pub struct VersionsQuery {
    /// Only keys that start with this.
    pub prefix: String,
    /// Roll keys up at the first delimiter after the prefix.
    pub delimiter: Option<String>,
    /// Resume after this key (all its versions, unless `version_marker` is given).
    pub key_marker: Option<String>,
    /// Resume after this version of `key_marker`.
    pub version_marker: Option<String>,
    /// The most entries in the page.
    pub max: usize,
}

/// Every version and delete marker of a bucket: keys in order, each key's versions newest first.
pub fn list_versions(
    conn: &Connection,
    bucket: &str,
    q: &VersionsQuery,
) -> rusqlite::Result<Page<ObjectVersion>> {
    let prefix = q.prefix.as_bytes();
    let end = key_bound(prefix);
    let marker = q.key_marker.as_deref().map(str::as_bytes);
    // Rows of the marker key older than the marker version come first, then keys after the marker key.
    let mut lower: Vec<u8> = prefix.to_vec();
    let mut resume_id: Option<i64> = None;
    if let Some(km) = marker {
        match q.version_marker.as_deref().filter(|v| !v.is_empty()) {
            Some(vm) => {
                resume_id = conn
                    .prepare_cached(
                        "SELECT id FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                    )?
                    .query_row(params![bucket, km, vm], |r| r.get(0))
                    .optional()?;
                lower = km.to_vec();
                if resume_id.is_none() {
                    lower.push(0);
                }
            }
            None => {
                lower = km.to_vec();
                lower.push(0);
            }
        }
        if lower.as_slice() < prefix {
            lower = prefix.to_vec();
            resume_id = None;
        }
    }
    let mut entries = Vec::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS}, id FROM s3_objects
         WHERE bucket = ?1 AND key >= ?2 AND key < ?3
           AND (?5 IS NULL OR key > ?2 OR id < ?5)
         ORDER BY key, id DESC LIMIT ?4"
    ))?;
    let batch = (q.max + 1).min(1001) as i64;
    'outer: loop {
        let rows: Vec<(ObjectVersion, i64)> = stmt
            .query_map(params![bucket, lower, end, batch, resume_id], |r| {
                Ok((version_from_row(r, false)?, r.get(8)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let exhausted = (rows.len() as i64) < batch;
        if rows.is_empty() {
            break;
        }
        for (row, id) in rows {
            if entries.len() > q.max {
                break 'outer;
            }
            let key = row.key.as_bytes().to_vec();
            if let Some(cp) = rolled_up(&key, prefix, q.delimiter.as_deref().map(str::as_bytes)) {
                let cp = cp.to_vec();
                if marker.is_none_or(|m| cp.as_slice() > m) {
                    entries.push(Entry::Prefix(String::from_utf8_lossy(&cp).into_owned()));
                }
                match prefix_end(&cp) {
                    Some(next) => {
                        lower = next;
                        resume_id = None;
                        continue 'outer;
                    }
                    None => break 'outer,
                }
            }
            entries.push(Entry::Item(row));
            lower = key;
            resume_id = Some(id);
        }
        if exhausted {
            break;
        }
    }
    let truncated = entries.len() > q.max;
    entries.truncate(q.max);
    Ok(Page { entries, truncated })
}

// ---- multipart uploads ----

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Its id.
    pub upload_id: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// When it was created.
    pub initiated_ms: i64,
    /// The metadata the object will have.
    pub meta: ObjectMeta,
}

/// An uploaded part.
#[derive(Debug, Clone)]
pub struct Part {
    /// Its number (1 to 10,000).
    pub part_number: i32,
    /// Its size.
    pub size: u64,
    /// Its ETag (the MD5 of its bytes, hex), without quotes.
    pub etag: String,
    /// When it was uploaded.
    pub modified_ms: i64,
    /// Its checksums.
    pub checksums: Checksums,
    /// Its blob file.
    pub file: String,
}

/// Starts a multipart upload.
pub fn create_upload(conn: &Connection, upload: &Upload) -> Result<(), ObjectsError> {
    require_bucket(conn, &upload.bucket)?;
    let meta = serde_json::to_string(&upload.meta).map_err(|e| ObjectsError::Corrupt(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO s3_uploads (upload_id, bucket, key, initiated_ms, meta) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        upload.upload_id,
        upload.bucket,
        upload.key.as_bytes(),
        upload.initiated_ms,
        meta
    ])?;
    Ok(())
}

fn upload_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    let key: Vec<u8> = r.get(2)?;
    let meta: String = r.get(4)?;
    Ok(Upload {
        upload_id: r.get(0)?,
        bucket: r.get(1)?,
        key: String::from_utf8_lossy(&key).into_owned(),
        initiated_ms: r.get(3)?,
        meta: serde_json::from_str(&meta).unwrap_or_default(),
    })
}

/// An upload in progress, if it exists for this bucket and key.
pub fn upload(
    conn: &Connection,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> rusqlite::Result<Option<Upload>> {
    conn.prepare_cached(
        "SELECT upload_id, bucket, key, initiated_ms, meta FROM s3_uploads WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3",
    )?
    .query_row(params![upload_id, bucket, key.as_bytes()], upload_from_row)
    .optional()
}

/// Records an uploaded part (replacing an earlier upload of the same number); returns the replaced file.
pub fn put_part(
    conn: &Connection,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part: &Part,
) -> Result<Vec<String>, ObjectsError> {
    if upload(conn, bucket, key, upload_id)?.is_none() {
        return Err(ObjectsError::NoSuchUpload);
    }
    let old: Option<String> = conn
        .prepare_cached("SELECT file FROM s3_parts WHERE upload_id = ?1 AND part_number = ?2")?
        .query_row(params![upload_id, part.part_number], |r| r.get(0))
        .optional()?;
    let checksums =
        serde_json::to_string(&part.checksums).map_err(|e| ObjectsError::Corrupt(e.to_string()))?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO s3_parts (upload_id, part_number, size, etag, modified_ms, checksums, file)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        upload_id,
        part.part_number,
        i64::try_from(part.size).unwrap_or(i64::MAX),
        part.etag,
        part.modified_ms,
        checksums,
        part.file
    ])?;
    Ok(old.into_iter().collect())
}

fn part_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Part> {
    let checksums: String = r.get(5)?;
    Ok(Part {
        part_number: r.get(0)?,
        size: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        etag: r.get(2)?,
        modified_ms: r.get(3)?,
        file: r.get(4)?,
        checksums: serde_json::from_str(&checksums).unwrap_or_default(),
    })
}

/// The parts of an upload numbered above `after`, in order, at most `max` (+1 to tell if more follow).
pub fn parts(conn: &Connection, upload_id: &str, after: i32, max: usize) -> rusqlite::Result<Vec<Part>> {
    conn.prepare_cached(
        "SELECT part_number, size, etag, modified_ms, file, checksums FROM s3_parts
         WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
    )?
    .query_map(params![upload_id, after, max as i64], part_from_row)?
    .collect()
}

/// Uploads in progress in a bucket, by key then initiation, after the markers; at most `max`.
pub fn uploads(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    key_marker: Option<&str>,
    upload_marker: Option<&str>,
    max: usize,
) -> rusqlite::Result<Vec<Upload>> {
    let mut stmt = conn.prepare_cached(
        "SELECT upload_id, bucket, key, initiated_ms, meta FROM s3_uploads
         WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2
         ORDER BY key, initiated_ms, upload_id",
    )?;
    let all = stmt.query_map(params![bucket, prefix.as_bytes()], upload_from_row)?;
    let mut out = Vec::new();
    let mut past_marker = key_marker.is_none();
    for u in all {
        let u = u?;
        if !past_marker {
            let km = key_marker.unwrap_or_default();
            past_marker = match upload_marker {
                Some(um) => u.key.as_str() > km || (u.key == km && u.upload_id.as_str() > um),
                None => u.key.as_str() > km,
            };
            if !past_marker {
                continue;
            }
        }
        out.push(u);
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// Aborts an upload: its rows go, its part files are returned for deletion.
pub fn abort_upload(conn: &Connection, upload_id: &str) -> Result<Vec<String>, ObjectsError> {
    let files: Vec<String> = conn
        .prepare_cached("SELECT file FROM s3_parts WHERE upload_id = ?1")?
        .query_map([upload_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.prepare_cached("DELETE FROM s3_parts WHERE upload_id = ?1")?
        .execute([upload_id])?;
    let removed = conn
        .prepare_cached("DELETE FROM s3_uploads WHERE upload_id = ?1")?
        .execute([upload_id])?;
    if removed == 0 {
        return Err(ObjectsError::NoSuchUpload);
    }
    Ok(files)
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    /// Its number.
    pub part_number: i32,
    /// The ETag the client saw, without quotes.
    pub etag: String,
}

/// What CompleteMultipartUpload stored.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The object's ETag (`md5-of-part-md5s-N`).
    pub etag: String,
    /// Its size.
    pub size: u64,
    /// The write's outcome (version id, orphaned files: parts not named and replaced versions).
    pub outcome: WriteOutcome,
    /// The upload's metadata.
    pub meta: ObjectMeta,
}

/// Completes an upload: checks the part list, makes the object from the named parts' files (in order),
/// and drops the upload. `combine` computes the object's ETag and checksums from the parts.
#[allow(clippy::too_many_arguments)]
pub fn complete_upload(
    conn: &Connection,
    bucket: &str,
    key: &str,
    upload_id: &str,
    named: &[CompletedPart],
    cond: &WriteCondition,
    new_version_id: &str,
    now_ms: i64,
    combine: impl FnOnce(&[Part], &mut ObjectMeta) -> String,
) -> Result<Completed, ObjectsError> {
    let up = upload(conn, bucket, key, upload_id)?.ok_or(ObjectsError::NoSuchUpload)?;
    if named.is_empty() {
        return Err(ObjectsError::NoParts);
    }
    let stored: BTreeMap<i32, Part> = parts(conn, upload_id, 0, 10_001)?
        .into_iter()
        .map(|p| (p.part_number, p))
        .collect();
    let mut chosen: Vec<Part> = Vec::with_capacity(named.len());
    let mut previous = 0;
    for n in named {
        if n.part_number <= previous {
            return Err(ObjectsError::InvalidPartOrder);
        }
        previous = n.part_number;
        let part = stored
            .get(&n.part_number)
            .filter(|p| p.etag == n.etag)
            .ok_or(ObjectsError::InvalidPart(n.part_number))?;
        chosen.push(part.clone());
    }
    if let Some((_, init)) = chosen.split_last() {
        if let Some(small) = init.iter().find(|p| p.size < MIN_PART_SIZE) {
            return Err(ObjectsError::EntityTooSmall(small.part_number));
        }
    }
    let mut meta = up.meta.clone();
    let etag = combine(&chosen, &mut meta);
    meta.parts = Some(chosen.len() as u32);
    let size = chosen.iter().map(|p| p.size).sum();
    let object = NewObject {
        key: key.to_owned(),
        size,
        etag: etag.clone(),
        meta: meta.clone(),
        body: BodyRef::Files(chosen.iter().map(|p| (p.file.clone(), p.size)).collect()),
    };
    let mut outcome = put_object(conn, bucket, &object, cond, new_version_id, now_ms)?;
    // Parts uploaded but not named are dropped with the upload.
    let used: std::collections::HashSet<&str> = chosen.iter().map(|p| p.file.as_str()).collect();
    for p in stored.values() {
        if !used.contains(p.file.as_str()) {
            outcome.orphaned.push(p.file.clone());
        }
    }
    conn.prepare_cached("DELETE FROM s3_parts WHERE upload_id = ?1")?
        .execute([upload_id])?;
    conn.prepare_cached("DELETE FROM s3_uploads WHERE upload_id = ?1")?
        .execute([upload_id])?;
    Ok(Completed {
        etag,
        size,
        outcome,
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_string_past_the_prefix() {
        assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }

    #[test]
    fn keys_roll_up_at_the_first_delimiter_after_the_prefix() {
        assert_eq!(rolled_up(b"a/b/c", b"", Some(b"/")), Some(&b"a/"[..]));
        assert_eq!(rolled_up(b"a/b/c", b"a/", Some(b"/")), Some(&b"a/b/"[..]));
        assert_eq!(rolled_up(b"a/b", b"a/", Some(b"/")), None);
        assert_eq!(rolled_up(b"a--b", b"", Some(b"--")), Some(&b"a--"[..]));
        assert_eq!(rolled_up(b"a/b", b"", None), None);
    }
}
