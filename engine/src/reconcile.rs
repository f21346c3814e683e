//! Reconcile: makes a target (the replica table, or a key's backup object) hold the primary's current state
//! for a set of keys, without ever leaving it older than the primary while a live pipeline (the replicate or
//! backup Lambda on the primary's stream) writes to the same target. Shared by diff-tables' recheck and
//! repair, incremental-backfill, replicate-record and incremental-backup-record. Performs no I/O.
//!
//! # The loop, per key
//!
//! 1. **Read the target** (`R`: the replica item by a consistent BatchGetItem, or the object and its ETag).
//! 2. **Read the primary** strongly consistently (`P`), *after* the target. Whatever the live pipeline had
//!    written into the target by step 1 came from a primary change made before step 1, so `P` is at least
//!    as new as `R`.
//! 3. If `P` equals `R`: done. Otherwise report the difference and, when writing, continue.
//! 4. **Write `P` conditionally on `R`**: `ConditionalWrite` with `Expect::Absent` / `Expect::Equals(R)`
//!    (or PutObject with `If-None-Match: *` / `If-Match: etag`). If the target changed since step 1 the
//!    write fails and the key starts over at step 1.
//! 5. **Re-read the primary** strongly consistently (`P'`). If `P' ≠ P` the key starts over at step 1.
//!    After a bounded number of rounds the key is reported as failed, never silently dropped.
//!
//! # Why the target cannot end older than the primary
//!
//! Let the write of step 4 land at `tw` and the re-read of step 5 happen at `tr > tw` and see `P`.
//! - A primary change made after `tr` has a stream record that exists only after `tr`, so the live
//!   pipeline applies it after our write: the target ends in that change's state or a later one.
//! - No change made between step 2 and `tr` is left unseen: step 5 saw `P` again, so either there was none,
//!   or the last of them restored exactly `P` (its record, applied before or after our write, writes `P`).
//! - Changes made before step 2 are already in `P`; their records may still be in flight and be applied
//!   after our write, but the pipeline applies them in order and the last of them writes `P` (or the
//!   state of a later change, covered by the first two cases).
//!
//! So at quiescence the target holds the primary's last state: no stale overwrite, and no resurrection
//! (a deletion after step 2 is seen by step 5, and the key goes round again towards "absent"). The
//! conditional write of step 4 is not needed for that argument; it keeps the target from even briefly
//! going backwards when the pipeline wrote between steps 1 and 4 (which a versioned bucket would keep as
//! an out-of-order version). It cannot stop the pipeline's own in-flight records from briefly rewinding a
//! target we brought forward; the argument above is about where it ends.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::backup_key;
use crate::codec::ddb_json;
use crate::io::{
    Expect, JobError, ObjectCondition, ObjectOp, ObjectResult, TableOp, TableResult, TableSlot, Write,
    MAX_BATCH_GET,
};
use crate::model::{Item, Key, KeySchema};
use crate::retry::{Op, Outbox};
use crate::time::Millis;

/// Where the keys are brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The replica table.
    Replica,
    /// Incremental backup objects `{prefix}/{table}/{key hash}`.
    Objects { prefix: String, table: String },
}

/// The reconciler's note on a request.
#[derive(Debug, Clone)]
pub(crate) enum RTag {
    Target(Vec<u64>),
    Source(Vec<u64>),
    Write(u64),
    Confirm(Vec<u64>),
}

/// What became of a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Equal at the first check: no discrepancy after all.
    Same { key: Key },
    /// Different at the first check (reported once per key).
    Differs {
        key: Key,
        in_primary: bool,
        in_target: bool,
    },
    /// Written and confirmed (or found equal after a retry).
    Repaired { key: Key },
    /// Gave up after too many rounds.
    Failed { key: Key, attempts: u32 },
}

#[derive(Debug, Clone)]
enum Observed {
    Row(Option<Item>),
    Object {
        etag: Option<String>,
        /// `None` with an ETag: the body is not a valid item (treated as different).
        item: Option<Item>,
    },
}

impl Observed {
    fn item(&self) -> Option<&Item> {
        match self {
            Observed::Row(item) | Observed::Object { item, .. } => item.as_ref(),
        }
    }

    fn exists(&self) -> bool {
        match self {
            Observed::Row(item) => item.is_some(),
            Observed::Object { etag, .. } => etag.is_some(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    key: Key,
    round: u32,
    target: Option<Observed>,
    source: Option<Option<Item>>,
    reported: bool,
    /// Started without reading the target, presuming it absent (see [`Reconciler::add_presumed_absent`]).
    presumed: bool,
}

/// Canonical equality of two optional items, leaving out the `ignore`d attributes.
pub fn equal_ignoring(a: Option<&Item>, b: Option<&Item>, ignore: &BTreeSet<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if ignore.is_empty() => a == b,
        (Some(a), Some(b)) => {
            let strip = |item: &Item| -> Item {
                item.iter()
                    .filter(|(name, _)| !ignore.contains(name.as_str()))
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect()
            };
            strip(a) == strip(b)
        }
        _ => false,
    }
}

/// The reconcile pipeline for many keys at once; batches its reads, bounded by the job's outbox.
#[derive(Debug)]
pub(crate) struct Reconciler {
    target: Target,
    schema: KeySchema,
    ignore: BTreeSet<String>,
    write: bool,
    max_rounds: u32,
    next: u64,
    entries: BTreeMap<u64, Entry>,
    need_target: VecDeque<u64>,
    need_source: VecDeque<u64>,
    need_write: VecDeque<u64>,
    need_confirm: VecDeque<u64>,
    verdicts: VecDeque<Verdict>,
    /// The job's time at its last input: stamped on backup objects as their change time.
    now: Millis,
    presumed_misses: u64,
}

impl Reconciler {
    /// The time of the input being handled (backup objects written now carry it as their change time, to
    /// the millisecond, which S3's LastModified is not).
    pub(crate) fn set_now(&mut self, now: Millis) {
        self.now = now;
    }

    pub(crate) fn new(
        target: Target,
        schema: KeySchema,
        ignore: BTreeSet<String>,
        write: bool,
        max_rounds: u32,
    ) -> Reconciler {
        Reconciler {
            target,
            schema,
            ignore,
            write,
            max_rounds: max_rounds.max(1),
            next: 0,
            entries: BTreeMap::new(),
            need_target: VecDeque::new(),
            need_source: VecDeque::new(),
            need_write: VecDeque::new(),
            need_confirm: VecDeque::new(),
            verdicts: VecDeque::new(),
            now: Millis::ZERO,
            presumed_misses: 0,
        }
    }

    /// Keys in the pipeline (each holds at most two items).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.verdicts.is_empty()
    }

    pub(crate) fn add(&mut self, key: Key) {
        let id = self.insert(Entry {
            key,
            round: 1,
            target: None,
            source: None,
            reported: false,
            presumed: false,
        });
        self.need_target.push_back(id);
    }

    fn insert(&mut self, entry: Entry) -> u64 {
        let id = self.next;
        self.next += 1;
        self.entries.insert(id, entry);
        id
    }

    /// Backup objects only: starts a key at step 4, writing `item` with `If-None-Match: *` as if step 1 had
    /// found no object and step 2 had read `item`. Sound without those reads: the condition checks "no
    /// object" at the write itself, and the re-read of step 5 sends the key round again if the item is no
    /// longer `item` (so a stale `item`, e.g. from an eventually consistent scan, is corrected). An object
    /// that exists fails the condition, and the key starts over at step 1 as if added normally. Saves the
    /// GET of step 1 and the read of step 2 when most objects do not exist yet (a first backfill).
    pub(crate) fn add_presumed_absent(&mut self, key: Key, item: Item) {
        let id = self.insert(Entry {
            key,
            round: 1,
            target: Some(Observed::Object {
                etag: None,
                item: None,
            }),
            source: Some(Some(item)),
            reported: true,
            presumed: true,
        });
        self.need_write.push_back(id);
    }

    /// Presumed-absent writes whose object existed after all (the condition failed).
    pub(crate) fn presumed_misses(&self) -> u64 {
        self.presumed_misses
    }

    pub(crate) fn poll_verdict(&mut self) -> Option<Verdict> {
        self.verdicts.pop_front()
    }

    fn keys(&self, ids: &[u64]) -> Vec<Key> {
        ids.iter()
            .filter_map(|id| self.entries.get(id).map(|e| e.key.clone()))
            .collect()
    }

    fn object_key(prefix: &str, table: &str, key: &Key) -> String {
        backup_key::object_key(prefix, table, key)
    }

    /// Queues requests while the outbox has room: later stages first, so keys leave the pipeline.
    pub(crate) fn pump<T: From<RTag>>(&mut self, outbox: &mut Outbox<T>) {
        while outbox.has_room() {
            if !self.need_confirm.is_empty() {
                let ids = take(&mut self.need_confirm, MAX_BATCH_GET);
                let keys = self.keys(&ids);
                outbox.push_table(
                    RTag::Confirm(ids).into(),
                    TableSlot::Primary,
                    TableOp::BatchGet {
                        keys,
                        consistent: true,
                    },
                );
            } else if let Some(id) = self.need_write.pop_front() {
                let Some(op) = self.write_op(id) else { continue };
                outbox.push(RTag::Write(id).into(), op);
            } else if !self.need_source.is_empty() {
                let ids = take(&mut self.need_source, MAX_BATCH_GET);
                let keys = self.keys(&ids);
                outbox.push_table(
                    RTag::Source(ids).into(),
                    TableSlot::Primary,
                    TableOp::BatchGet {
                        keys,
                        consistent: true,
                    },
                );
            } else if !self.need_target.is_empty() {
                match &self.target {
                    Target::Replica => {
                        let ids = take(&mut self.need_target, MAX_BATCH_GET);
                        let keys = self.keys(&ids);
                        outbox.push_table(
                            RTag::Target(ids).into(),
                            TableSlot::Replica,
                            TableOp::BatchGet {
                                keys,
                                consistent: true,
                            },
                        );
                    }
                    Target::Objects { prefix, table } => {
                        let Some(id) = self.need_target.pop_front() else {
                            break;
                        };
                        let Some(entry) = self.entries.get(&id) else {
                            continue;
                        };
                        let key = Self::object_key(prefix, table, &entry.key);
                        outbox.push_object(
                            RTag::Target(vec![id]).into(),
                            ObjectOp::Get {
                                key,
                                version_id: None,
                            },
                        );
                    }
                }
            } else {
                break;
            }
        }
    }

    fn write_op(&self, id: u64) -> Option<Op> {
        let entry = self.entries.get(&id)?;
        let source = entry.source.as_ref()?;
        let target = entry.target.as_ref()?;
        Some(match (&self.target, target) {
            (Target::Replica, observed) => {
                let expect = match observed.item() {
                    None => Expect::Absent,
                    Some(r) => Expect::Equals(r.clone()),
                };
                let write = match source {
                    Some(p) => Write::Put(p.clone()),
                    None => Write::Delete(entry.key.clone()),
                };
                Op::Table(TableSlot::Replica, TableOp::ConditionalWrite { write, expect })
            }
            (Target::Objects { prefix, table }, _) => {
                let key = Self::object_key(prefix, table, &entry.key);
                match source {
                    Some(p) => Op::Object(ObjectOp::Put {
                        key,
                        body: ddb_json::item_to_string(p).into_bytes(),
                        metadata: crate::stream::change_time_metadata(self.now),
                        condition: match target {
                            Observed::Object { etag: Some(etag), .. } => {
                                ObjectCondition::IfMatch(etag.clone())
                            }
                            _ => ObjectCondition::IfNoneMatch,
                        },
                    }),
                    None => Op::Object(ObjectOp::Delete { key }),
                }
            }
        })
    }

    /// Takes a table answer for one of the reconciler's requests.
    pub(crate) fn handle_table<T: From<RTag>>(
        &mut self,
        tag: RTag,
        attempt: u32,
        result: TableResult,
        outbox: &mut Outbox<T>,
        now: Millis,
    ) -> Result<(), JobError> {
        match (tag, result) {
            (RTag::Target(ids), TableResult::Items { items, unprocessed }) => {
                let (found, left) = self.sort_answer(&ids, items, &unprocessed)?;
                for (id, item) in found {
                    if let Some(e) = self.entries.get_mut(&id) {
                        e.target = Some(Observed::Row(item));
                        self.need_source.push_back(id);
                    }
                }
                self.retry_reads(
                    RTag::Target,
                    TableSlot::Replica,
                    left,
                    ids.len(),
                    attempt,
                    outbox,
                    now,
                )
            }
            (RTag::Source(ids), TableResult::Items { items, unprocessed }) => {
                let (found, left) = self.sort_answer(&ids, items, &unprocessed)?;
                for (id, item) in found {
                    if let Some(e) = self.entries.get_mut(&id) {
                        e.source = Some(item);
                    }
                    self.judge(id);
                }
                self.retry_reads(
                    RTag::Source,
                    TableSlot::Primary,
                    left,
                    ids.len(),
                    attempt,
                    outbox,
                    now,
                )
            }
            (RTag::Confirm(ids), TableResult::Items { items, unprocessed }) => {
                let (found, left) = self.sort_answer(&ids, items, &unprocessed)?;
                for (id, item) in found {
                    let unchanged = self
                        .entries
                        .get(&id)
                        .is_some_and(|e| e.source.as_ref().is_some_and(|p| *p == item));
                    if unchanged {
                        if let Some(e) = self.entries.remove(&id) {
                            self.verdicts.push_back(Verdict::Repaired { key: e.key });
                        }
                    } else {
                        self.restart(id);
                    }
                }
                self.retry_reads(
                    RTag::Confirm,
                    TableSlot::Primary,
                    left,
                    ids.len(),
                    attempt,
                    outbox,
                    now,
                )
            }
            (RTag::Write(id), TableResult::Written { unprocessed }) if unprocessed.is_empty() => {
                self.need_confirm.push_back(id);
                Ok(())
            }
            (RTag::Write(id), TableResult::ConditionFailed) => {
                self.restart(id);
                Ok(())
            }
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {} to a reconcile request {tag:?}",
                result_name(&result)
            ))),
        }
    }

    /// Takes an object answer for one of the reconciler's requests.
    pub(crate) fn handle_object(&mut self, tag: RTag, result: ObjectResult) -> Result<(), JobError> {
        match (tag, result) {
            (RTag::Target(ids), result) => {
                let observed = match result {
                    ObjectResult::Got { body, etag, .. } => {
                        let item = std::str::from_utf8(&body)
                            .ok()
                            .and_then(|text| ddb_json::parse_item(text).ok());
                        Observed::Object {
                            etag: Some(etag),
                            item,
                        }
                    }
                    ObjectResult::NotFound => Observed::Object {
                        etag: None,
                        item: None,
                    },
                    other => {
                        return Err(JobError::Protocol(format!(
                            "unexpected answer to GetObject: {other:?}"
                        )))
                    }
                };
                for id in ids {
                    if let Some(e) = self.entries.get_mut(&id) {
                        e.target = Some(observed.clone());
                        self.need_source.push_back(id);
                    }
                }
                Ok(())
            }
            (RTag::Write(id), ObjectResult::Put { .. } | ObjectResult::Deleted) => {
                self.need_confirm.push_back(id);
                Ok(())
            }
            (RTag::Write(id), ObjectResult::PreconditionFailed) => {
                // A presumption that failed: the key starts over as a normal one, the attempt not counted.
                if let Some(e) = self.entries.get_mut(&id).filter(|e| e.presumed) {
                    e.presumed = false;
                    e.reported = false;
                    e.target = None;
                    e.source = None;
                    self.presumed_misses += 1;
                    self.need_target.push_back(id);
                    return Ok(());
                }
                self.restart(id);
                Ok(())
            }
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {result:?} to a reconcile request {tag:?}"
            ))),
        }
    }

    /// Compares what was read and decides the key's next step.
    fn judge(&mut self, id: u64) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        let (Some(target), Some(source)) = (&e.target, &e.source) else {
            return;
        };
        let equal = match (&self.target, target) {
            (Target::Objects { .. }, Observed::Object { etag, item }) => match (source, etag) {
                (None, None) => true,
                (Some(p), Some(_)) => item.as_ref() == Some(p),
                _ => false,
            },
            _ => equal_ignoring(source.as_ref(), target.item(), &self.ignore),
        };
        if equal {
            let first = !e.reported && e.round == 1;
            let key = e.key.clone();
            self.entries.remove(&id);
            self.verdicts.push_back(if first {
                Verdict::Same { key }
            } else {
                Verdict::Repaired { key }
            });
            return;
        }
        if !e.reported {
            e.reported = true;
            self.verdicts.push_back(Verdict::Differs {
                key: e.key.clone(),
                in_primary: source.is_some(),
                in_target: target.exists(),
            });
        }
        if self.write {
            self.need_write.push_back(id);
        } else {
            self.entries.remove(&id);
        }
    }

    fn restart(&mut self, id: u64) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        if e.round >= self.max_rounds {
            let attempts = e.round;
            if let Some(e) = self.entries.remove(&id) {
                self.verdicts.push_back(Verdict::Failed { key: e.key, attempts });
            }
            return;
        }
        e.round += 1;
        e.target = None;
        e.source = None;
        self.need_target.push_back(id);
    }

    /// Matches a BatchGetItem answer to entries: found or absent for each id, and the ids left unprocessed.
    #[allow(clippy::type_complexity)]
    fn sort_answer(
        &self,
        ids: &[u64],
        items: Vec<Item>,
        unprocessed: &[Key],
    ) -> Result<(Vec<(u64, Option<Item>)>, Vec<u64>), JobError> {
        let mut by_key: BTreeMap<&Key, u64> = BTreeMap::new();
        for id in ids {
            if let Some(e) = self.entries.get(id) {
                by_key.insert(&e.key, *id);
            }
        }
        let mut found: BTreeMap<u64, Option<Item>> = BTreeMap::new();
        for item in items {
            let key = self
                .schema
                .key_of(&item)
                .map_err(|e| JobError::Protocol(format!("an item read back has no valid key: {e}")))?;
            if let Some(id) = by_key.get(&key) {
                found.insert(*id, Some(item));
            }
        }
        let left: BTreeSet<u64> = unprocessed
            .iter()
            .filter_map(|k| by_key.get(k).copied())
            .collect();
        let mut answered = Vec::new();
        for id in ids {
            if left.contains(id) {
                continue;
            }
            answered.push((*id, found.remove(id).unwrap_or(None)));
        }
        Ok((answered, left.into_iter().collect()))
    }

    #[allow(clippy::too_many_arguments)]
    fn retry_reads<T: From<RTag>>(
        &self,
        make: fn(Vec<u64>) -> RTag,
        slot: TableSlot,
        left: Vec<u64>,
        asked: usize,
        attempt: u32,
        outbox: &mut Outbox<T>,
        now: Millis,
    ) -> Result<(), JobError> {
        if left.is_empty() {
            return Ok(());
        }
        let keys = self.keys(&left);
        let progressed = left.len() < asked;
        outbox.retry_leftover(
            make(left).into(),
            Op::Table(
                slot,
                TableOp::BatchGet {
                    keys,
                    consistent: true,
                },
            ),
            attempt,
            progressed,
            now,
        )
    }
}

fn take(queue: &mut VecDeque<u64>, n: usize) -> Vec<u64> {
    let n = n.min(queue.len());
    queue.drain(..n).collect()
}

pub(crate) fn result_name(result: &TableResult) -> &'static str {
    match result {
        TableResult::Page { .. } => "Page",
        TableResult::Items { .. } => "Items",
        TableResult::Written { .. } => "Written",
        TableResult::Item(_) => "Item",
        TableResult::ConditionFailed => "ConditionFailed",
    }
}
