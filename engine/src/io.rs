//! The action vocabulary every job shares: the requests a job asks its driver to make on a table or an
//! object store, the results the driver feeds back, and the [`Job`] trait one driver loop runs them all by.
//!
//! Nothing here performs I/O. The words are DynamoDB's and S3's (Scan, BatchGetItem, BatchWriteItem,
//! PutObject with `If-Match`, …) but the types are the engine's own model types, never an SDK's: a driver
//! maps each [`TableOp`] / [`ObjectOp`] to one SDK call, maps the answer to a [`TableResult`] /
//! [`ObjectResult`], and maps an SDK error to a [`StoreError`].
//!
//! # The driver contract
//!
//! ```text
//! loop {
//!     while let Some(action) = job.poll() {
//!         match action {
//!             Action::Table { id, slot, op } => start op on the table in `slot`; later
//!                                              job.handle(Input::Table { id, result }, now)
//!             Action::Object { id, op }      => start op on the bucket; later job.handle(Input::Object{..}, now)
//!             Action::Emit { stream, bytes } => append bytes to output stream `stream` (gzip, upload: driver's)
//!             Action::Report(event)          => format and print the event
//!             Action::Done(summary)          => finish the output streams; return summary
//!         }
//!     }
//!     wait for the first of: a started request finishing, the instant job.poll_timeout();
//!     on the deadline: job.handle_timeout(now)
//! }
//! ```
//!
//! - Requests may run concurrently and complete in any order; every `id` handed out must be answered
//!   exactly once (a result or a [`StoreError`]). A job never has more than its plan's `max_in_flight`
//!   requests outstanding, so a driver needs no limit of its own.
//! - The driver does **not** retry: it reports throttling ([`StoreError::Throttled`]: DynamoDB's
//!   `ProvisionedThroughputExceededException`, `ThrottlingException`, `RequestLimitExceeded`; S3's `SlowDown`
//!   / 503) and other retryable failures ([`StoreError::Transient`]: 5xx, timeouts, connection resets), and
//!   the job retries with its seeded backoff. Everything else is [`StoreError::Fatal`]. (The SDK's own retry
//!   layer may stay on; the job's retries come on top.)
//! - A `handle_timeout` call earlier than `poll_timeout()` is harmless, and so is a late one.

use std::collections::BTreeMap;

use crate::model::{Item, Key};
use crate::time::Millis;

/// Identifies one request a job handed out; the driver gives it back with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Which table a request is for. Single-table jobs use [`TableSlot::Primary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableSlot {
    /// The source of truth (diff's primary, the table a dump or backfill reads).
    Primary,
    /// The copy (diff's and replicate's replica).
    Replica,
}

/// Largest number of keys in one BatchGetItem
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html>).
pub const MAX_BATCH_GET: usize = 100;

/// Largest number of requests in one BatchWriteItem
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html>).
pub const MAX_BATCH_WRITE: usize = 25;

/// One request on a table.
#[derive(Debug, Clone, PartialEq)]
pub enum TableOp {
    /// Scan one page: `Segment`/`TotalSegments` (always sent; `0` of `1` for a whole table),
    /// `ExclusiveStartKey`, `Limit`, `ConsistentRead`. Answered by [`TableResult::Page`].
    Scan {
        /// This segment, `0..total_segments`.
        segment: u32,
        /// The number of segments.
        total_segments: u32,
        /// The previous page's `LastEvaluatedKey`.
        start: Option<Item>,
        /// `Limit`, if any.
        limit: Option<u32>,
        /// `ConsistentRead`.
        consistent: bool,
    },
    /// BatchGetItem of at most [`MAX_BATCH_GET`] distinct keys. Answered by [`TableResult::Items`].
    BatchGet {
        /// The keys.
        keys: Vec<Key>,
        /// `ConsistentRead`.
        consistent: bool,
    },
    /// BatchWriteItem of at most [`MAX_BATCH_WRITE`] writes, at most one per key. Answered by
    /// [`TableResult::Written`].
    BatchWrite {
        /// The writes.
        writes: Vec<Write>,
    },
    /// GetItem. Answered by [`TableResult::Item`].
    Get {
        /// The key.
        key: Key,
        /// `ConsistentRead`.
        consistent: bool,
    },
    /// PutItem or DeleteItem with a `ConditionExpression` built from `expect` (see [`Expect`]). Answered
    /// by [`TableResult::Written`] (with nothing unprocessed) or [`TableResult::ConditionFailed`].
    ConditionalWrite {
        /// The write.
        write: Write,
        /// What the item must be for the write to happen.
        expect: Expect,
    },
}

/// One write: PutItem or DeleteItem (also one entry of a BatchWriteItem).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Put this item.
    Put(Item),
    /// Delete the item with this key.
    Delete(Key),
}

/// The condition of a [`TableOp::ConditionalWrite`]: the state of the item the job last observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// The item must not exist: `attribute_not_exists(<partition key>)`.
    Absent,
    /// The item must be this one: see [`Expect::condition`].
    Equals(Item),
}

/// A condition as DynamoDB takes it: `ConditionExpression`, `ExpressionAttributeNames`,
/// `ExpressionAttributeValues`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `ConditionExpression`.
    pub expression: String,
    /// `ExpressionAttributeNames`.
    pub names: BTreeMap<String, String>,
    /// `ExpressionAttributeValues`.
    pub values: Item,
}

/// Longest `ConditionExpression` DynamoDB accepts (4 KB,
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-expression-parameters>).
const MAX_EXPRESSION_BYTES: usize = 4096;

impl Expect {
    /// The DynamoDB condition for this expectation, for a driver that talks to a real table.
    ///
    /// `Absent` is `attribute_not_exists` on the partition key. `Equals(item)` is `attribute = :value` for
    /// every attribute of the item; when that expression would exceed DynamoDB's 4 KB limit, it narrows to
    /// the key attributes' existence. A condition expression cannot say "and no other attribute", so a
    /// replica that gained an attribute since it was read still passes: the condition only narrows the
    /// window for a stale overwrite; the re-read of the primary after each write (see `diff.rs`) is what
    /// closes it.
    pub fn condition(&self, partition_key: &str) -> Condition {
        let mut names = BTreeMap::new();
        let mut values = Item::new();
        names.insert("#k".to_owned(), partition_key.to_owned());
        let key_exists = "attribute_exists(#k)".to_owned();
        let expression = match self {
            Expect::Absent => "attribute_not_exists(#k)".to_owned(),
            Expect::Equals(item) => {
                let mut clauses = vec![key_exists.clone()];
                for (i, (name, value)) in item.iter().enumerate() {
                    names.insert(format!("#a{i}"), name.clone());
                    values.insert(format!(":v{i}"), value.clone());
                    clauses.push(format!("#a{i} = :v{i}"));
                }
                let full = clauses.join(" AND ");
                if full.len() > MAX_EXPRESSION_BYTES {
                    names.retain(|k, _| k == "#k");
                    values = Item::new();
                    key_exists
                } else {
                    full
                }
            }
        };
        Condition {
            expression,
            names,
            values,
        }
    }
}

/// The precondition of a PutObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectCondition {
    /// None: overwrite whatever is there.
    None,
    /// `If-None-Match: *`: only if no object exists.
    IfNoneMatch,
    /// `If-Match: <etag>`: only if the current object has this ETag.
    IfMatch(String),
}

/// One request on the object store (one bucket).
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectOp {
    /// PutObject. Answered by [`ObjectResult::Put`] or [`ObjectResult::PreconditionFailed`] (412).
    Put {
        /// Object key.
        key: String,
        /// Body, as is (the driver neither compresses nor encodes it).
        body: Vec<u8>,
        /// User metadata (`x-amz-meta-*`), names without the prefix.
        metadata: BTreeMap<String, String>,
        /// Precondition.
        condition: ObjectCondition,
    },
    /// GetObject, of one version if given. Answered by [`ObjectResult::Got`] or [`ObjectResult::NotFound`]
    /// (no such key, no such version, or the current version is a delete marker).
    Get {
        /// Object key.
        key: String,
        /// `versionId`.
        version_id: Option<String>,
    },
    /// GetObject of the byte range `start..start + len` of the current version (`Range: bytes=…`), for
    /// reading a large object in pieces. Answered by [`ObjectResult::Range`] (fewer bytes at the end of the
    /// object, none past it) or [`ObjectResult::NotFound`].
    GetRange {
        /// Object key.
        key: String,
        /// The first byte.
        start: u64,
        /// How many bytes at most.
        len: u64,
    },
    /// DeleteObject (a delete marker on a versioned bucket). Answered by [`ObjectResult::Deleted`].
    Delete {
        /// Object key.
        key: String,
    },
    /// ListObjectsV2, one page. Answered by [`ObjectResult::Listing`].
    List {
        /// `prefix`.
        prefix: String,
        /// `continuation-token` from the previous page.
        continuation: Option<String>,
    },
    /// ListObjectVersions, one page. Answered by [`ObjectResult::Versions`].
    ListVersions {
        /// `prefix`.
        prefix: String,
        /// `key-marker` from the previous page.
        key_marker: Option<String>,
        /// `version-id-marker` from the previous page.
        version_marker: Option<String>,
    },
}

/// The answer to a [`TableOp`].
#[derive(Debug, Clone, PartialEq)]
pub enum TableResult {
    /// A scan page: the items and `LastEvaluatedKey` (absent on the last page).
    Page {
        /// Items.
        items: Vec<Item>,
        /// `LastEvaluatedKey`.
        last_key: Option<Item>,
    },
    /// BatchGetItem: the items found (any order) and `UnprocessedKeys`. A requested key that is neither
    /// found nor unprocessed does not exist.
    Items {
        /// Items found.
        items: Vec<Item>,
        /// `UnprocessedKeys`.
        unprocessed: Vec<Key>,
    },
    /// BatchWriteItem's `UnprocessedItems` (empty for a conditional write that happened).
    Written {
        /// Writes not applied.
        unprocessed: Vec<Write>,
    },
    /// GetItem.
    Item(Option<Item>),
    /// `ConditionalCheckFailedException`.
    ConditionFailed,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Object key.
    pub key: String,
    /// ETag, as S3 prints it (quotes included or not: the job only passes it back).
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
}

/// One entry of a version listing (object versions and delete markers together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// Object key.
    pub key: String,
    /// `VersionId` (`null` for objects written before versioning was enabled).
    pub version_id: String,
    /// `LastModified`.
    pub last_modified: Millis,
    /// Whether this is a delete marker.
    pub delete_marker: bool,
    /// `IsLatest`.
    pub is_latest: bool,
}

/// The answer to an [`ObjectOp`].
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectResult {
    /// PutObject done.
    Put {
        /// The new ETag.
        etag: String,
        /// The new version, on a versioned bucket.
        version_id: Option<String>,
    },
    /// GetObject.
    Got {
        /// The body.
        body: Vec<u8>,
        /// ETag.
        etag: String,
        /// Version.
        version_id: Option<String>,
        /// `Last-Modified`.
        last_modified: Millis,
        /// User metadata.
        metadata: BTreeMap<String, String>,
    },
    /// A byte range of an object.
    Range {
        /// The bytes.
        bytes: Vec<u8>,
        /// The object's whole size.
        size: u64,
    },
    /// No such object (or version).
    NotFound,
    /// 412: a PutObject precondition failed.
    PreconditionFailed,
    /// DeleteObject done.
    Deleted,
    /// One ListObjectsV2 page.
    Listing {
        /// Objects, in key order.
        objects: Vec<ObjectInfo>,
        /// `NextContinuationToken`, if truncated.
        next: Option<String>,
    },
    /// One ListObjectVersions page.
    Versions {
        /// Versions and delete markers, each key's newest first.
        versions: Vec<ObjectVersion>,
        /// `NextKeyMarker`, if truncated.
        next_key_marker: Option<String>,
        /// `NextVersionIdMarker`, if truncated.
        next_version_marker: Option<String>,
    },
}

/// A failed request, as the driver classifies it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Throttled: retried with backoff.
    #[error("throttled")]
    Throttled,
    /// A failure worth retrying (5xx, timeout, connection reset): retried with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The request itself was refused as invalid (DynamoDB's `ValidationException`): not retried. A job
    /// that sent several items in one request may split it to find the one refused.
    #[error("{0}")]
    Rejected(String),
    /// Anything else (missing table or bucket, access denied): the job stops.
    #[error("{0}")]
    Fatal(String),
}

impl StoreError {
    /// Whether the job retries after this error.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Throttled | StoreError::Transient(_))
    }
}

/// What a job stopped on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A request failed in a way not worth retrying.
    #[error("{op} failed: {error}")]
    Store {
        /// The request, e.g. `Scan`, `PutObject`.
        op: &'static str,
        /// The error.
        error: StoreError,
    },
    /// A request kept failing.
    #[error("{op} failed {attempts} times, last: {last}")]
    RetriesExhausted {
        /// The request.
        op: &'static str,
        /// How many times it was tried.
        attempts: u32,
        /// The last error (throttling or unprocessed leftovers show as `throttled`).
        last: StoreError,
    },
    /// The driver answered with a result of the wrong kind, or the data broke a rule the job relies on
    /// (an item without a valid key).
    #[error("{0}")]
    Protocol(String),
    /// The plan cannot be run.
    #[error("invalid plan: {0}")]
    Plan(String),
}

/// A finished request, fed back to the job.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The answer to an [`Action::Table`].
    Table {
        /// The request's id.
        id: RequestId,
        /// Its outcome.
        result: Result<TableResult, StoreError>,
    },
    /// The answer to an [`Action::Object`].
    Object {
        /// The request's id.
        id: RequestId,
        /// Its outcome.
        result: Result<ObjectResult, StoreError>,
    },
}

/// What a job asks of its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<E, S> {
    /// Run `op` on the table in `slot`; answer with [`Input::Table`].
    Table {
        /// The request's id.
        id: RequestId,
        /// Which table.
        slot: TableSlot,
        /// The request.
        op: TableOp,
    },
    /// Run `op` on the bucket; answer with [`Input::Object`].
    Object {
        /// The request's id.
        id: RequestId,
        /// The request.
        op: ObjectOp,
    },
    /// Append bytes to one of the job's output streams (a dump's segment file, a snapshot, history text).
    /// The plan says which streams exist; a stream exists even if nothing is ever emitted to it.
    Emit {
        /// Which output.
        stream: u32,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Something to tell the user, formatted by the caller.
    Report(E),
    /// The job has finished (successfully or not, as the summary says); `poll` returns `None` from now on.
    Done(S),
}

/// What every job is, so that one driver loop runs them all. See the module documentation for the loop.
pub trait Job {
    /// The job's reports.
    type Event;
    /// What the job ends with.
    type Summary;
    /// Feeds in a finished request. Call `poll` until `None` afterwards.
    fn handle(&mut self, input: Input, now: Millis);
    /// Tells the job the time has come (a backoff or a rate limit elapsed). Safe to call early or twice.
    fn handle_timeout(&mut self, now: Millis);
    /// The next thing to do, or `None` until an input or a timeout arrives.
    fn poll(&mut self) -> Option<Action<Self::Event, Self::Summary>>;
    /// When to call `handle_timeout`, if anything is waiting for time.
    fn poll_timeout(&self) -> Option<Millis>;
    /// A new items-per-second budget, measured by the driver from the capacity the table reports
    /// consumed (see [`crate::retry::CapacityMeter`]). Jobs without a budget ignore it.
    fn retarget(&mut self, _items_per_second: u32) {}
}

/// Implements [`Job`] for a job type by delegating to its inherent `handle`, `handle_timeout`, `poll` and
/// `poll_timeout` (each job keeps those inherent, so callers need not import the trait).
macro_rules! impl_job {
    ($job:ty, $event:ty, $summary:ty) => {
        $crate::io::impl_job!($job, $event, $summary, {});
    };
    // `paced`: the job has a rate limit, and an inherent `retarget`.
    ($job:ty, $event:ty, $summary:ty, paced) => {
        $crate::io::impl_job!($job, $event, $summary, {
            fn retarget(&mut self, items_per_second: u32) {
                <$job>::retarget(self, items_per_second);
            }
        });
    };
    ($job:ty, $event:ty, $summary:ty, { $($extra:tt)* }) => {
        impl $crate::io::Job for $job {
            type Event = $event;
            type Summary = $summary;
            fn handle(&mut self, input: $crate::io::Input, now: $crate::time::Millis) {
                <$job>::handle(self, input, now);
            }
            fn handle_timeout(&mut self, now: $crate::time::Millis) {
                <$job>::handle_timeout(self, now);
            }
            fn poll(&mut self) -> Option<$crate::io::Action<$event, $summary>> {
                <$job>::poll(self)
            }
            fn poll_timeout(&self) -> Option<$crate::time::Millis> {
                <$job>::poll_timeout(self)
            }
            $($extra)*
        }
    };
}
pub(crate) use impl_job;

/// The name of a table request, for errors.
pub fn table_op_name(op: &TableOp) -> &'static str {
    match op {
        TableOp::Scan { .. } => "Scan",
        TableOp::BatchGet { .. } => "BatchGetItem",
        TableOp::BatchWrite { .. } => "BatchWriteItem",
        TableOp::Get { .. } => "GetItem",
        TableOp::ConditionalWrite {
            write: Write::Put(_), ..
        } => "PutItem",
        TableOp::ConditionalWrite {
            write: Write::Delete(_),
            ..
        } => "DeleteItem",
    }
}

/// The name of an object request, for errors.
pub fn object_op_name(op: &ObjectOp) -> &'static str {
    match op {
        ObjectOp::Put { .. } => "PutObject",
        ObjectOp::Get { .. } | ObjectOp::GetRange { .. } => "GetObject",
        ObjectOp::Delete { .. } => "DeleteObject",
        ObjectOp::List { .. } => "ListObjectsV2",
        ObjectOp::ListVersions { .. } => "ListObjectVersions",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    #[test]
    fn an_expected_item_becomes_one_equality_per_attribute() {
        let item: Item = [("id", Value::from("a")), ("n", Value::from(1))]
            .into_iter()
            .collect();
        let c = Expect::Equals(item).condition("id");
        assert_eq!(c.expression, "attribute_exists(#k) AND #a0 = :v0 AND #a1 = :v1");
        assert_eq!(c.names.len(), 3);
        assert_eq!(c.values.len(), 2);
        assert_eq!(
            Expect::Absent.condition("id").expression,
            "attribute_not_exists(#k)"
        );
    }

    #[test]
    fn a_huge_expected_item_narrows_to_the_key() {
        let item: Item = (0..600)
            .map(|i| (format!("attribute{i}"), Value::from(i)))
            .collect();
        let c = Expect::Equals(item).condition("id");
        assert_eq!(c.expression, "attribute_exists(#k)");
        assert!(c.values.is_empty());
    }
}
