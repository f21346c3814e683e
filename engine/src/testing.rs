//! Test support for this crate and the others (feature `testing`): proptest strategies for values,
//! items and keys that cover every type and DynamoDB's edge cases (38-digit numbers, extreme exponents,
//! empty strings and binary, non-ASCII text, deep nesting).

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

use crate::model::{Item, KeyValue, Map, Number, Value};

/// Any valid DynamoDB number, weighted towards the edges: 38 digits, the largest and smallest exponents,
/// zero, negatives.
pub fn number() -> impl Strategy<Value = Number> {
    let digits = "[1-9][0-9]{0,37}";
    let exact = (any::<bool>(), digits, -130i32..=125).prop_filter_map("in range", |(neg, d, exp)| {
        // d as the mantissa d₁.d₂…, times 10^exp: exp is the leading digit's exponent.
        let (first, rest) = d.split_at(1);
        let text = format!("{}{first}.{rest}e{exp}", if neg { "-" } else { "" });
        Number::parse(&text).ok()
    });
    prop_oneof![
        4 => exact,
        2 => any::<i64>().prop_map(Number::from),
        1 => Just(Number::zero()),
        1 => Just(Number::parse("9.9999999999999999999999999999999999999E+125").unwrap_or_else(|_| Number::zero())),
        1 => Just(Number::parse("-1E-130").unwrap_or_else(|_| Number::zero())),
    ]
}

/// Any string: mostly short, with non-ASCII and control characters.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9]{0,8}",
        1 => any::<String>(),
        1 => "[\\u{0}-\\u{1f}\"\\\\/\\u{7f}\\u{2028}\\u{fffd}\\u{1f600}]{0,6}",
    ]
}

/// Any binary.
pub fn binary() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..12)
}

/// Any scalar or set value (no M or L).
pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        string().prop_map(Value::S),
        number().prop_map(Value::N),
        binary().prop_map(Value::B),
        btree_set(string(), 1..5).prop_map(|s| Value::Ss(s.into_iter().collect())),
        btree_set(number(), 1..5).prop_map(|s| Value::Ns(s.into_iter().collect())),
        btree_set(binary(), 1..5).prop_map(|s| Value::Bs(s.into_iter().collect())),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
    ]
}

/// Any valid value, nesting M and L a few levels deep.
pub fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::L),
            vec((string(), inner), 0..6).prop_map(|entries| Value::M(entries.into_iter().collect::<Map>())),
        ]
    })
}

/// Any valid item of up to `max_attributes` attributes.
pub fn item(max_attributes: usize) -> impl Strategy<Value = Item> {
    vec((string(), value()), 0..=max_attributes).prop_map(|attrs| attrs.into_iter().collect::<Item>())
}

/// Any valid key value (non-empty S and B).
pub fn key_value() -> impl Strategy<Value = KeyValue> {
    prop_oneof![
        "[a-zA-Z0-9\\u{80}-\\u{10ffff}]{1,8}".prop_map(KeyValue::S),
        number().prop_map(KeyValue::N),
        vec(any::<u8>(), 1..8).prop_map(KeyValue::B),
    ]
}

// ---------------------------------------------------------------------------------------------------------
// In-memory stores and a synchronous harness for the sans-I/O jobs.
// ---------------------------------------------------------------------------------------------------------

pub use self::world::*;

mod world {
    //! `MemTable`, `MemBucket`, fault injection and the `Harness` that runs any job against them (the
    //! quinn-style little world of STYLE §1 and §8).

    use std::collections::BTreeMap;

    use sha2::{Digest, Sha256};

    use crate::codec::ddb_json;
    use crate::io::{
        Action, Expect, Input, Job, ObjectCondition, ObjectInfo, ObjectOp, ObjectResult, ObjectVersion,
        RequestId, StoreError, TableOp, TableResult, TableSlot, Write,
    };
    use crate::model::{Item, Key, KeySchema};
    use crate::retry::Rng;
    use crate::time::Millis;

    /// Injected failures, drawn from a seeded generator. Percentages are per call (per key or write for
    /// the `unprocessed` ones).
    #[derive(Debug, Clone)]
    pub struct Faults {
        rng: Rng,
        /// The next this many calls are throttled.
        pub throttle_next: u32,
        /// Chance (percent) a call is throttled.
        pub throttle_percent: u32,
        /// Chance (percent) a call fails with a transient error before doing anything.
        pub transient_percent: u32,
        /// Chance (percent) a call is carried out but its answer is lost (a transient error comes back).
        pub lost_reply_percent: u32,
        /// Chance (percent) each key of a BatchGetItem / write of a BatchWriteItem comes back unprocessed.
        pub unprocessed_percent: u32,
    }

    impl Faults {
        /// No faults.
        pub fn none() -> Faults {
            Faults::seeded(0, 0, 0, 0)
        }

        /// Throttling, transient errors and unprocessed leftovers at the given rates; lost replies off.
        pub fn seeded(seed: u64, throttle: u32, transient: u32, unprocessed: u32) -> Faults {
            Faults {
                rng: Rng::new(seed),
                throttle_next: 0,
                throttle_percent: throttle,
                transient_percent: transient,
                lost_reply_percent: 0,
                unprocessed_percent: unprocessed,
            }
        }

        fn roll(&mut self, percent: u32) -> bool {
            percent > 0 && self.rng.up_to(99) < u64::from(percent)
        }

        /// A failure to return instead of doing the call, if one is due.
        fn before(&mut self) -> Option<StoreError> {
            if self.throttle_next > 0 {
                self.throttle_next -= 1;
                return Some(StoreError::Throttled);
            }
            if self.roll(self.throttle_percent) {
                return Some(StoreError::Throttled);
            }
            if self.roll(self.transient_percent) {
                return Some(StoreError::Transient("injected 500".into()));
            }
            None
        }

        fn lose_reply(&mut self) -> bool {
            self.roll(self.lost_reply_percent)
        }

        fn unprocessed(&mut self) -> bool {
            self.roll(self.unprocessed_percent)
        }
    }

    /// Which scan segment of `total` a key belongs to: by a hash of the partition key, so every item is
    /// in exactly one segment and a partition's items stay together.
    pub fn segment_of(key: &Key, total: u32) -> u32 {
        let digest = Sha256::digest(ddb_json::value_to_string(&key.partition.value.to_value()).as_bytes());
        let h = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        ((u64::from(h) * u64::from(total.max(1))) >> 32) as u32
    }

    fn salted_hash(salt: u64, key: &Key) -> u64 {
        let digest = Sha256::digest(format!("{salt}/{key:?}").as_bytes());
        u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ])
    }

    /// An in-memory DynamoDB table: Scan with segments and pages, BatchGetItem, BatchWriteItem, GetItem and
    /// conditional writes, with injected faults.
    #[derive(Debug, Clone)]
    pub struct MemTable {
        /// The key schema.
        pub schema: KeySchema,
        /// The items, in key order.
        pub items: BTreeMap<Key, Item>,
        /// Injected failures.
        pub faults: Faults,
        /// Items per scan page when the request has no `Limit` (stands in for the 1 MB page).
        pub page_size: usize,
        /// Calls served (including failed ones).
        pub calls: u64,
        /// Scan order: `None` is key order; `Some(salt)` orders by a salted hash of the key (then the key),
        /// so two tables with different salts scan the same keys in unrelated orders.
        pub scan_salt: Option<u64>,
    }

    impl MemTable {
        /// An empty table.
        pub fn new(schema: KeySchema) -> MemTable {
            MemTable {
                schema,
                items: BTreeMap::new(),
                faults: Faults::none(),
                page_size: 50,
                calls: 0,
                scan_salt: None,
            }
        }

        /// A table holding `items` (later duplicates of a key win). Items without a valid key are skipped.
        pub fn with_items(schema: KeySchema, items: impl IntoIterator<Item = Item>) -> MemTable {
            let mut table = MemTable::new(schema);
            for item in items {
                table.put(item);
            }
            table
        }

        /// Puts an item directly (no faults); returns its key.
        pub fn put(&mut self, item: Item) -> Option<Key> {
            let key = self.schema.key_of(&item).ok()?;
            self.items.insert(key.clone(), item);
            Some(key)
        }

        /// Deletes directly.
        pub fn delete(&mut self, key: &Key) -> Option<Item> {
            self.items.remove(key)
        }

        /// Reads directly.
        pub fn get(&self, key: &Key) -> Option<&Item> {
            self.items.get(key)
        }

        /// Whether two tables hold canonically equal items under the same keys.
        pub fn same_items(&self, other: &MemTable) -> bool {
            self.items == other.items
        }

        /// Runs one request, with faults.
        pub fn execute(&mut self, op: &TableOp) -> Result<TableResult, StoreError> {
            self.calls += 1;
            if let Some(e) = self.faults.before() {
                return Err(e);
            }
            let result = self.apply(op)?;
            if self.faults.lose_reply() {
                return Err(StoreError::Transient("injected lost reply".into()));
            }
            Ok(result)
        }

        fn apply(&mut self, op: &TableOp) -> Result<TableResult, StoreError> {
            match op {
                TableOp::Scan {
                    segment,
                    total_segments,
                    start,
                    limit,
                    ..
                } => {
                    if *total_segments == 0 || segment >= total_segments {
                        return Err(StoreError::Rejected("ValidationException: bad segment".into()));
                    }
                    let start = match start {
                        Some(s) => Some(
                            self.schema
                                .parse_key(s)
                                .map_err(|e| StoreError::Rejected(format!("ValidationException: {e}")))?,
                        ),
                        None => None,
                    };
                    let limit = limit.map_or(self.page_size, |l| l as usize).max(1);
                    let salt = self.scan_salt;
                    let rank = |k: &Key| salt.map(|salt| salted_hash(salt, k));
                    let start = start.map(|s| (rank(&s), s));
                    let mut page: Vec<(&Key, &Item)> = self
                        .items
                        .iter()
                        .filter(|(k, _)| segment_of(k, *total_segments) == *segment)
                        .filter(|(k, _)| start.as_ref().is_none_or(|(r, s)| (rank(k), *k) > (*r, s)))
                        .collect();
                    page.sort_by_cached_key(|(k, _)| (rank(k), *k));
                    page.truncate(limit);
                    let last_key = if page.len() == limit {
                        page.last().map(|(k, _)| k.to_item())
                    } else {
                        None
                    };
                    Ok(TableResult::Page {
                        items: page.into_iter().map(|(_, i)| i.clone()).collect(),
                        last_key,
                    })
                }
                TableOp::BatchGet { keys, .. } => {
                    if keys.len() > crate::io::MAX_BATCH_GET {
                        return Err(StoreError::Rejected("ValidationException: too many keys".into()));
                    }
                    let mut items = Vec::new();
                    let mut unprocessed = Vec::new();
                    for key in keys {
                        if self.faults.unprocessed() {
                            unprocessed.push(key.clone());
                        } else if let Some(item) = self.items.get(key) {
                            items.push(item.clone());
                        }
                    }
                    Ok(TableResult::Items { items, unprocessed })
                }
                TableOp::BatchWrite { writes } => {
                    if writes.is_empty() || writes.len() > crate::io::MAX_BATCH_WRITE {
                        return Err(StoreError::Rejected("ValidationException: batch size".into()));
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    for w in writes {
                        let key = self.write_key(w)?;
                        if !seen.insert(key) {
                            return Err(StoreError::Rejected(
                                "ValidationException: Provided list of item keys contains duplicates".into(),
                            ));
                        }
                    }
                    let mut unprocessed = Vec::new();
                    for w in writes {
                        if self.faults.unprocessed() {
                            unprocessed.push(w.clone());
                        } else {
                            self.apply_write(w)?;
                        }
                    }
                    Ok(TableResult::Written { unprocessed })
                }
                TableOp::Get { key, .. } => Ok(TableResult::Item(self.items.get(key).cloned())),
                TableOp::ConditionalWrite { write, expect } => {
                    let key = self.write_key(write)?;
                    let current = self.items.get(&key);
                    let holds = match expect {
                        Expect::Absent => current.is_none(),
                        Expect::Equals(item) => current == Some(item),
                    };
                    if !holds {
                        return Ok(TableResult::ConditionFailed);
                    }
                    self.apply_write(write)?;
                    Ok(TableResult::Written {
                        unprocessed: Vec::new(),
                    })
                }
            }
        }

        fn write_key(&self, w: &Write) -> Result<Key, StoreError> {
            match w {
                Write::Put(item) => self
                    .schema
                    .key_of(item)
                    .map_err(|e| StoreError::Rejected(format!("ValidationException: {e}"))),
                // A table knows a key by its attribute values, whatever role the writer gave them (a
                // stream record's `Keys` does not say which attribute is the partition key).
                Write::Delete(key) => self
                    .schema
                    .parse_key(&key.to_item())
                    .map_err(|e| StoreError::Rejected(format!("ValidationException: {e}"))),
            }
        }

        fn apply_write(&mut self, w: &Write) -> Result<(), StoreError> {
            let key = self.write_key(w)?;
            match w {
                Write::Put(item) => {
                    self.items.insert(key, item.clone());
                }
                Write::Delete(_) => {
                    self.items.remove(&key);
                }
            }
            Ok(())
        }
    }

    /// One version of an object (or a delete marker).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MemVersion {
        /// Version id.
        pub version_id: String,
        /// The body; `None` for a delete marker.
        pub body: Option<Vec<u8>>,
        /// ETag.
        pub etag: String,
        /// When written.
        pub last_modified: Millis,
        /// User metadata.
        pub metadata: BTreeMap<String, String>,
    }

    /// An in-memory versioned S3 bucket: ETags, `If-Match`/`If-None-Match`, listing pages and version
    /// listings, with injected faults.
    #[derive(Debug, Clone)]
    pub struct MemBucket {
        /// Each key's versions, oldest first.
        pub objects: BTreeMap<String, Vec<MemVersion>>,
        /// Injected failures.
        pub faults: Faults,
        /// Entries per listing page.
        pub page_size: usize,
        /// The time stamped on writes (the harness keeps it at its clock).
        pub now: Millis,
        next_version: u64,
    }

    impl Default for MemBucket {
        fn default() -> MemBucket {
            MemBucket::new()
        }
    }

    impl MemBucket {
        /// An empty bucket.
        pub fn new() -> MemBucket {
            MemBucket {
                objects: BTreeMap::new(),
                faults: Faults::none(),
                page_size: 7,
                now: Millis::ZERO,
                next_version: 0,
            }
        }

        /// The current body of a key (`None` if absent or deleted).
        pub fn current(&self, key: &str) -> Option<&[u8]> {
            self.objects.get(key)?.last()?.body.as_deref()
        }

        /// Current objects: key and body.
        pub fn live(&self) -> BTreeMap<String, Vec<u8>> {
            self.objects
                .keys()
                .filter_map(|k| self.current(k).map(|b| (k.clone(), b.to_vec())))
                .collect()
        }

        fn etag(body: &[u8]) -> String {
            format!("\"{}\"", &hex::encode(Sha256::digest(body))[..32])
        }

        /// Writes directly (no faults, no condition); returns the version id.
        pub fn put(&mut self, key: &str, body: Vec<u8>) -> String {
            self.push(key, Some(body), BTreeMap::new())
        }

        /// Writes directly with user metadata (as the backup handler does); returns the version id.
        pub fn put_with_metadata(
            &mut self,
            key: &str,
            body: Vec<u8>,
            metadata: BTreeMap<String, String>,
        ) -> String {
            self.push(key, Some(body), metadata)
        }

        /// Deletes directly (a delete marker).
        pub fn delete(&mut self, key: &str) {
            self.push(key, None, BTreeMap::new());
        }

        fn push(&mut self, key: &str, body: Option<Vec<u8>>, metadata: BTreeMap<String, String>) -> String {
            self.next_version += 1;
            let version_id = format!("v{:08}", self.next_version);
            let etag = body.as_deref().map(Self::etag).unwrap_or_default();
            self.objects.entry(key.to_owned()).or_default().push(MemVersion {
                version_id: version_id.clone(),
                body,
                etag,
                last_modified: self.now,
                metadata,
            });
            version_id
        }

        /// Runs one request, with faults.
        pub fn execute(&mut self, op: &ObjectOp) -> Result<ObjectResult, StoreError> {
            if let Some(e) = self.faults.before() {
                return Err(e);
            }
            let result = self.apply(op);
            if self.faults.lose_reply() {
                return Err(StoreError::Transient("injected lost reply".into()));
            }
            Ok(result)
        }

        fn apply(&mut self, op: &ObjectOp) -> ObjectResult {
            match op {
                ObjectOp::Put {
                    key,
                    body,
                    metadata,
                    condition,
                } => {
                    let current = self
                        .objects
                        .get(key)
                        .and_then(|v| v.last())
                        .filter(|v| v.body.is_some());
                    let holds = match condition {
                        ObjectCondition::None => true,
                        ObjectCondition::IfNoneMatch => current.is_none(),
                        ObjectCondition::IfMatch(etag) => current.is_some_and(|v| &v.etag == etag),
                    };
                    if !holds {
                        return ObjectResult::PreconditionFailed;
                    }
                    let version_id = self.push(key, Some(body.clone()), metadata.clone());
                    ObjectResult::Put {
                        etag: Self::etag(body),
                        version_id: Some(version_id),
                    }
                }
                ObjectOp::Get { key, version_id } => {
                    let versions = self.objects.get(key);
                    let found = match version_id {
                        None => versions.and_then(|v| v.last()),
                        Some(id) => versions.and_then(|v| v.iter().find(|x| &x.version_id == id)),
                    };
                    match found {
                        Some(MemVersion {
                            body: Some(body),
                            etag,
                            version_id,
                            last_modified,
                            metadata,
                        }) => ObjectResult::Got {
                            body: body.clone(),
                            etag: etag.clone(),
                            version_id: Some(version_id.clone()),
                            last_modified: *last_modified,
                            metadata: metadata.clone(),
                        },
                        _ => ObjectResult::NotFound,
                    }
                }
                ObjectOp::GetRange { key, start, len } => {
                    match self
                        .objects
                        .get(key)
                        .and_then(|v| v.last())
                        .and_then(|v| v.body.as_ref())
                    {
                        Some(body) => {
                            let from = usize::try_from(*start).unwrap_or(usize::MAX).min(body.len());
                            let to = from
                                .saturating_add(usize::try_from(*len).unwrap_or(usize::MAX))
                                .min(body.len());
                            ObjectResult::Range {
                                bytes: body[from..to].to_vec(),
                                size: body.len() as u64,
                            }
                        }
                        None => ObjectResult::NotFound,
                    }
                }
                ObjectOp::Delete { key } => {
                    self.push(key, None, BTreeMap::new());
                    ObjectResult::Deleted
                }
                ObjectOp::List { prefix, continuation } => {
                    let live: Vec<ObjectInfo> = self
                        .objects
                        .iter()
                        .filter(|(k, _)| k.starts_with(prefix.as_str()))
                        .filter(|(k, _)| continuation.as_ref().is_none_or(|c| *k > c))
                        .filter_map(|(k, v)| {
                            let last = v.last()?;
                            let body = last.body.as_ref()?;
                            Some(ObjectInfo {
                                key: k.clone(),
                                etag: last.etag.clone(),
                                size: body.len() as u64,
                            })
                        })
                        .take(self.page_size + 1)
                        .collect();
                    let mut objects = live;
                    let next = if objects.len() > self.page_size {
                        objects.truncate(self.page_size);
                        objects.last().map(|o| o.key.clone())
                    } else {
                        None
                    };
                    ObjectResult::Listing { objects, next }
                }
                ObjectOp::ListVersions {
                    prefix,
                    key_marker,
                    version_marker,
                } => {
                    let mut all = Vec::new();
                    for (k, versions) in self.objects.range(prefix.clone()..) {
                        if !k.starts_with(prefix.as_str()) {
                            break;
                        }
                        for (i, v) in versions.iter().enumerate().rev() {
                            all.push(ObjectVersion {
                                key: k.clone(),
                                version_id: v.version_id.clone(),
                                last_modified: v.last_modified,
                                delete_marker: v.body.is_none(),
                                is_latest: i + 1 == versions.len(),
                            });
                        }
                    }
                    let skip = match (key_marker, version_marker) {
                        (Some(k), Some(v)) => all
                            .iter()
                            .position(|x| &x.key == k && &x.version_id == v)
                            .map_or(0, |p| p + 1),
                        (Some(k), None) => all.iter().position(|x| &x.key > k).unwrap_or(all.len()),
                        _ => 0,
                    };
                    let rest: Vec<ObjectVersion> = all.into_iter().skip(skip).collect();
                    let truncated = rest.len() > self.page_size;
                    let versions: Vec<ObjectVersion> = rest.into_iter().take(self.page_size).collect();
                    let (next_key_marker, next_version_marker) = match versions.last() {
                        Some(last) if truncated => (Some(last.key.clone()), Some(last.version_id.clone())),
                        _ => (None, None),
                    };
                    ObjectResult::Versions {
                        versions,
                        next_key_marker,
                        next_version_marker,
                    }
                }
            }
        }
    }

    /// The stores a job runs against.
    #[derive(Debug, Clone)]
    pub struct World {
        /// The primary table (also the only table of single-table jobs).
        pub primary: MemTable,
        /// The replica table.
        pub replica: MemTable,
        /// The bucket.
        pub bucket: MemBucket,
        /// The harness clock.
        pub now: Millis,
    }

    impl World {
        /// Empty tables of one schema and an empty bucket.
        pub fn new(schema: KeySchema) -> World {
            World {
                primary: MemTable::new(schema.clone()),
                replica: MemTable::new(schema),
                bucket: MemBucket::new(),
                now: Millis::ZERO,
            }
        }
    }

    enum Pending {
        Table(RequestId, TableSlot, TableOp),
        Object(RequestId, ObjectOp),
    }

    /// Something that runs between the harness's steps: a concurrent writer, a live replicator.
    pub type Interleave = Box<dyn FnMut(&mut World)>;

    /// Runs a job against a [`World`] synchronously: drains `poll()`, answers outstanding requests one at a
    /// time in a seeded random order (so answers arrive out of order and other work interleaves), and
    /// jumps the clock to `poll_timeout()` when nothing is outstanding.
    pub struct Harness<J: Job> {
        /// The job.
        pub job: J,
        /// The stores.
        pub world: World,
        /// Reports, in order.
        pub events: Vec<J::Event>,
        /// Emitted bytes per stream.
        pub output: BTreeMap<u32, Vec<u8>>,
        /// The summary, once done.
        pub summary: Option<J::Summary>,
        /// Most requests ever outstanding at once.
        pub max_outstanding: usize,
        /// Requests answered.
        pub requests: u64,
        /// Actions polled after `Done` (must stay 0).
        pub after_done: u64,
        pending: Vec<Pending>,
        rng: Rng,
        interleave: Option<Interleave>,
    }

    impl<J: Job> Harness<J> {
        /// A harness for `job` in `world`; `seed` orders the answers.
        pub fn new(job: J, world: World, seed: u64) -> Harness<J> {
            Harness {
                job,
                world,
                events: Vec::new(),
                output: BTreeMap::new(),
                summary: None,
                max_outstanding: 0,
                requests: 0,
                after_done: 0,
                pending: Vec::new(),
                rng: Rng::new(seed),
                interleave: None,
            }
        }

        /// Runs `f` before each answer is computed.
        pub fn interleave(&mut self, f: impl FnMut(&mut World) + 'static) {
            self.interleave = Some(Box::new(f));
        }

        fn drain(&mut self) {
            while let Some(action) = self.job.poll() {
                if self.summary.is_some() {
                    self.after_done += 1;
                }
                match action {
                    Action::Table { id, slot, op } => self.pending.push(Pending::Table(id, slot, op)),
                    Action::Object { id, op } => self.pending.push(Pending::Object(id, op)),
                    Action::Emit { stream, bytes } => self.output.entry(stream).or_default().extend(bytes),
                    Action::Report(e) => self.events.push(e),
                    Action::Done(s) => self.summary = Some(s),
                }
            }
            self.max_outstanding = self.max_outstanding.max(self.pending.len());
        }

        /// One step: answer one outstanding request, or move the clock to the next deadline. `false` when
        /// there is nothing left to do.
        pub fn step(&mut self) -> bool {
            self.drain();
            if self.pending.is_empty() {
                let Some(deadline) = self.job.poll_timeout() else {
                    return false;
                };
                self.world.now = self.world.now.max(deadline);
                self.world.bucket.now = self.world.now;
                self.job.handle_timeout(self.world.now);
                self.drain();
                return true;
            }
            let i = self.rng.up_to(self.pending.len() as u64 - 1) as usize;
            let request = self.pending.swap_remove(i);
            if let Some(f) = &mut self.interleave {
                f(&mut self.world);
            }
            self.world.now = Millis(self.world.now.0 + 1);
            self.world.bucket.now = self.world.now;
            let input = match request {
                Pending::Table(id, slot, op) => {
                    let table = match slot {
                        TableSlot::Primary => &mut self.world.primary,
                        TableSlot::Replica => &mut self.world.replica,
                    };
                    Input::Table {
                        id,
                        result: table.execute(&op),
                    }
                }
                Pending::Object(id, op) => Input::Object {
                    id,
                    result: self.world.bucket.execute(&op),
                },
            };
            self.requests += 1;
            self.job.handle(input, self.world.now);
            self.drain();
            true
        }

        /// Steps until the job is done and nothing is outstanding, or `max_steps` pass. Returns whether the
        /// job finished.
        pub fn run(&mut self, max_steps: u64) -> bool {
            for _ in 0..max_steps {
                if self.summary.is_some() && self.pending.is_empty() {
                    return true;
                }
                if !self.step() {
                    return self.summary.is_some();
                }
            }
            self.summary.is_some()
        }

        /// The summary; panics (tests only) if the job has not finished.
        pub fn run_to_end(&mut self) -> &J::Summary {
            let finished = self.run(5_000_000);
            match &self.summary {
                Some(s) if finished => s,
                _ => panic!("the job stalled: no summary after {} requests", self.requests),
            }
        }
    }
}
