//! The stream handlers' jobs: apply one batch of DynamoDB stream records to a replica table
//! ([`Replicate`]) or to the incremental backup in S3 ([`Backup`]). Performs no I/O.
//!
//! Both are run by the same driver loop as the tools (`io::Job`), by the Lambda handlers, by
//! `ddbrep invoke-handler` and by the emulator's offline pipeline. Both end in a [`BatchSummary`] whose
//! [`BatchSummary::batch_item_failures`] is Lambda's partial batch response: the sequence number of the
//! first record of every key whose change could not be applied, so Lambda checkpoints before the earliest
//! of them and redelivers from there, and no key's changes are ever applied out of order.
//!
//! - **Replicate**: per key, the last change of the batch wins (one BatchWriteItem entry per key: a
//!   `PutItem` of the new image or a `DeleteItem`), 25 keys per request, `UnprocessedItems` retried with
//!   backoff. A request DynamoDB refuses outright (a `ValidationException` for one bad item fails the whole
//!   BatchWriteItem) is bisected until the refused key is found, so one poison record fails only its own
//!   key. A redelivered batch is harmless: replaying from any record writes, per key, the same final state.
//! - **Backup**: every change of a key, in stream order (the original's behaviour, so a versioned bucket
//!   keeps each state): `PutObject` of the new image's compact DynamoDB-JSON at the key's object name
//!   (`backup_key`), or `DeleteObject` for a REMOVE. Each object carries the change's sequence number and
//!   creation time as user metadata ([`META_SEQUENCE_NUMBER`], [`META_CREATION_TIME`]). Before a key's
//!   first write the job reads the current object's sequence number and skips the changes it already
//!   holds, so a redelivered batch never writes a key's states a second time and the versions stay, in
//!   order, a subsequence of the item's history. When the newest version is a delete marker (which carries
//!   no metadata) it lists the key's versions and reads the version before the marker: the marker is then
//!   the key's next REMOVE after that version. Writes are made in stream order, which is what makes this
//!   exact. ([`BackupTarget::skip_delivered`] off: every delivery is written, as the original did.)
//!
//! Different keys proceed concurrently (bounded by `max_in_flight`); one key's changes never do. A plan may
//! carry a deadline (the Lambda invocation's): at the deadline, work still waiting is failed as
//! [`FailureCause::OutOfTime`] and reported, rather than the invocation timing out with nothing said.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::backup_key;
use crate::codec::ddb_json;
use crate::codec::stream_event::{EpochTime, EventName, SequenceNumber, StreamRecord};
use crate::io::{
    Action, Input, JobError, ObjectCondition, ObjectOp, ObjectResult, ObjectVersion, StoreError, TableOp,
    TableResult, TableSlot, Write, MAX_BATCH_WRITE,
};
use crate::model::{Item, Key, KeySchema, ScalarType, Value};
use crate::reconcile::result_name;
use crate::retry::{Outbox, Request, RetryPolicy};
use crate::time::Millis;

/// User metadata (`x-amz-meta-…`) naming the stream record a backup object was written from.
pub const META_SEQUENCE_NUMBER: &str = "ddbrep-sequence-number";
/// User metadata holding the change's `ApproximateCreationDateTime`, in epoch seconds as the stream wrote
/// it (`1479499740` or `1479499740.123`).
pub const META_CREATION_TIME: &str = "ddbrep-approximate-creation-date-time";

/// The user metadata of a backup object written by a tool at `now` (backfill, backup-record, repairs): its
/// change time, to the millisecond, for restore-table's `--at` (S3's LastModified has whole seconds). Empty
/// at time zero (the engine's tests' clock), where no time is known.
pub fn change_time_metadata(now: Millis) -> BTreeMap<String, String> {
    let mut metadata = BTreeMap::new();
    if now > Millis::ZERO {
        metadata.insert(META_CREATION_TIME.to_owned(), EpochTime(now).to_seconds_text());
    }
    metadata
}

/// Why a whole batch is refused before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// An INSERT or MODIFY without `NewImage`: the stream's view type is `KEYS_ONLY` or `OLD_IMAGE`.
    #[error(
        "stream record {sequence_number} ({event:?}) has no NewImage: the stream's StreamViewType must be \
         NEW_IMAGE or NEW_AND_OLD_IMAGES for replication and backup (it is {view})"
    )]
    NoNewImage {
        /// The record.
        sequence_number: SequenceNumber,
        /// Its event name.
        event: EventName,
        /// The view type the record states, or `unknown`.
        view: String,
    },
}

/// Why a key's changes were not (all) applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// The store refused, or kept failing.
    Store(JobError),
    /// The record cannot be applied (no usable key, no table name).
    InvalidRecord(String),
    /// The plan's deadline came first.
    OutOfTime,
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::Store(e) => write!(f, "{e}"),
            FailureCause::InvalidRecord(why) => write!(f, "invalid record: {why}"),
            FailureCause::OutOfTime => f.write_str("out of time before the write could be made"),
        }
    }
}

/// A key whose changes were not all applied, named by its first change not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    /// The record's position in the batch.
    pub index: usize,
    /// Its sequence number: the `itemIdentifier` of the partial batch response.
    pub sequence_number: SequenceNumber,
    /// The record's `Keys`.
    pub key: Item,
    /// Why.
    pub cause: FailureCause,
}

/// What the stream jobs report as they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEvent {
    /// A key failed for good in this invocation (also listed in the summary).
    Failed(BatchFailure),
}

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchSummary {
    /// Records in the batch.
    pub records: usize,
    /// Records whose change is now in the target (for replicate, including changes a later change of the
    /// same key superseded).
    pub applied: usize,
    /// Records the target already held (backup: a redelivery), not written again.
    pub skipped: usize,
    /// Requests made (attempts included).
    pub requests: u64,
    /// Failed keys, in stream order.
    pub failures: Vec<BatchFailure>,
    /// The newest `ApproximateCreationDateTime` in the batch (for the handlers' lag metric).
    pub newest_change: Option<Millis>,
}

impl BatchSummary {
    /// The partial batch response's item identifiers: each failed key's first unapplied record, in stream
    /// order. Lambda resumes from the first.
    pub fn batch_item_failures(&self) -> Vec<&SequenceNumber> {
        self.failures.iter().map(|f| &f.sequence_number).collect()
    }

    /// Records not applied: at or after the first failure, Lambda redelivers them all.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Checks what both handlers need of every record: a new image on INSERT and MODIFY.
pub fn check_new_images(records: &[StreamRecord]) -> Result<(), BatchError> {
    for r in records {
        if r.event_name != EventName::Remove && r.dynamodb.new_image.is_none() {
            return Err(BatchError::NoNewImage {
                sequence_number: r.dynamodb.sequence_number.clone(),
                event: r.event_name,
                view: r
                    .dynamodb
                    .stream_view_type
                    .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}")),
            });
        }
    }
    Ok(())
}

/// The key of a stream record from its `Keys` alone. A record does not say which of two key attributes is
/// the partition key; the jobs only use a key's attributes (DeleteItem's `Key`, the backup object's name
/// from the attributes sorted by name), so the two are taken in name order.
pub fn record_key(record: &StreamRecord) -> Result<Key, String> {
    let keys = &record.dynamodb.keys;
    keys_schema(keys)?.parse_key(keys).map_err(|e| e.to_string())
}

/// A key schema that fits a stream record's `Keys`: its one or two attributes, in name order (see
/// [`record_key`]); enough for a driver that needs a schema to write, never for conditions.
pub fn keys_schema(keys: &Item) -> Result<KeySchema, String> {
    let ty = |v: &Value| match v {
        Value::S(_) => Ok(ScalarType::S),
        Value::N(_) => Ok(ScalarType::N),
        Value::B(_) => Ok(ScalarType::B),
        other => Err(format!(
            "key attribute of type {} (keys are S, N or B)",
            other.value_type().tag()
        )),
    };
    let mut attrs: Vec<(&String, &Value)> = keys.iter().collect();
    attrs.sort_by(|a, b| a.0.cmp(b.0));
    let schema = match attrs.as_slice() {
        [(name, value)] => KeySchema::partition_only(name.as_str(), ty(value)?),
        [(a, va), (b, vb)] => KeySchema::composite(a.as_str(), ty(va)?, b.as_str(), ty(vb)?),
        _ => {
            return Err(format!(
                "Keys has {} attributes (a key has one or two)",
                attrs.len()
            ))
        }
    };
    Ok(schema)
}

fn newest_change(records: &[StreamRecord]) -> Option<Millis> {
    records
        .iter()
        .filter_map(|r| r.dynamodb.approximate_creation_date_time.map(|t| t.0))
        .max()
}

/// The common limits of both jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most requests outstanding at once.
    pub max_in_flight: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
    /// Fail what is still waiting at this instant (the invocation's deadline, less a margin).
    pub deadline: Option<Millis>,
}

impl Default for BatchLimits {
    fn default() -> BatchLimits {
        BatchLimits {
            max_in_flight: 16,
            retry: RetryPolicy::default(),
            seed: 0,
            deadline: None,
        }
    }
}

/// Shared bookkeeping: the records, the failures, the output queue, the deadline.
#[derive(Debug)]
struct Ledger<T> {
    records: Vec<StreamRecord>,
    limits: BatchLimits,
    outbox: Outbox<T>,
    out: VecDeque<Action<BatchEvent, BatchSummary>>,
    summary: BatchSummary,
    finished: bool,
}

impl<T> Ledger<T> {
    fn new(records: Vec<StreamRecord>, limits: BatchLimits) -> Ledger<T> {
        Ledger {
            outbox: Outbox::new(limits.retry, limits.seed, limits.max_in_flight),
            summary: BatchSummary {
                records: records.len(),
                newest_change: newest_change(&records),
                ..BatchSummary::default()
            },
            records,
            limits,
            out: VecDeque::new(),
            finished: false,
        }
    }

    fn fail(&mut self, index: usize, cause: FailureCause) {
        let Some(record) = self.records.get(index) else {
            return;
        };
        let failure = BatchFailure {
            index,
            sequence_number: record.dynamodb.sequence_number.clone(),
            key: record.dynamodb.keys.clone(),
            cause,
        };
        self.out
            .push_back(Action::Report(BatchEvent::Failed(failure.clone())));
        self.summary.failures.push(failure);
    }

    fn past_deadline(&self, now: Millis) -> bool {
        self.limits.deadline.is_some_and(|d| now >= d)
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.summary.failures.sort_by_key(|f| f.index);
        self.out.push_back(Action::Done(self.summary.clone()));
    }

    fn poll(&mut self) -> Option<Action<BatchEvent, BatchSummary>> {
        if let Some(a) = self.out.pop_front() {
            return Some(a);
        }
        if self.finished {
            return None;
        }
        let action = self.outbox.poll();
        if action.is_some() {
            self.summary.requests += 1;
        }
        action
    }

    fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        let backoff = self.outbox.poll_timeout()?;
        Some(match self.limits.deadline {
            Some(d) => backoff.min(d),
            None => backoff,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Replicate

/// One key's net change in the batch.
#[derive(Debug)]
struct Group {
    /// Its first record (where a failure is reported).
    first: usize,
    /// Records of the key.
    count: usize,
    /// The write: the last record's new image, or a delete.
    write: Write,
}

/// One batch applied to a replica table (the table in [`TableSlot::Replica`]).
///
/// - Create with [`Replicate::new`]; it checks the records (see [`check_new_images`]) and queues the writes.
/// - Inputs: [`Replicate::handle`], [`Replicate::handle_timeout`]. Outputs: [`Replicate::poll`] until
///   `None`, then [`Replicate::poll_timeout`]. Ends with `Done(BatchSummary)`.
#[derive(Debug)]
pub struct Replicate {
    ledger: Ledger<Vec<usize>>,
    groups: Vec<Group>,
    /// Groups not yet resolved.
    open: usize,
}

impl Replicate {
    /// A job for the batch `records`, in stream order.
    pub fn new(records: Vec<StreamRecord>, limits: BatchLimits) -> Result<Replicate, BatchError> {
        check_new_images(&records)?;
        let mut job = Replicate {
            ledger: Ledger::new(records, limits),
            groups: Vec::new(),
            open: 0,
        };
        let mut by_key: BTreeMap<Key, usize> = BTreeMap::new();
        let mut invalid = Vec::new();
        for (i, record) in job.ledger.records.iter().enumerate() {
            let key = match record_key(record) {
                Ok(key) => key,
                Err(why) => {
                    invalid.push((i, why));
                    continue;
                }
            };
            let write = match &record.dynamodb.new_image {
                Some(image) if record.event_name != EventName::Remove => Write::Put(image.clone()),
                _ => Write::Delete(key.clone()),
            };
            match by_key.get(&key) {
                Some(&g) => {
                    let group = &mut job.groups[g];
                    group.count += 1;
                    group.write = write;
                }
                None => {
                    by_key.insert(key, job.groups.len());
                    job.groups.push(Group {
                        first: i,
                        count: 1,
                        write,
                    });
                }
            }
        }
        for (i, why) in invalid {
            job.ledger.fail(i, FailureCause::InvalidRecord(why));
        }
        job.open = job.groups.len();
        let all: Vec<usize> = (0..job.groups.len()).collect();
        for chunk in all.chunks(MAX_BATCH_WRITE) {
            job.push(chunk.to_vec());
        }
        job.maybe_finish();
        Ok(job)
    }

    fn push(&mut self, groups: Vec<usize>) {
        let op = self.op(&groups);
        self.ledger.outbox.push_table(groups, TableSlot::Replica, op);
    }

    fn op(&self, groups: &[usize]) -> TableOp {
        TableOp::BatchWrite {
            writes: groups.iter().map(|&g| self.groups[g].write.clone()).collect(),
        }
    }

    fn resolve_ok(&mut self, groups: &[usize]) {
        for &g in groups {
            self.ledger.summary.applied += self.groups[g].count;
        }
        self.open -= groups.len();
    }

    fn resolve_failed(&mut self, groups: &[usize], cause: &FailureCause) {
        for &g in groups {
            self.ledger.fail(self.groups[g].first, cause.clone());
        }
        self.open -= groups.len();
    }

    /// Feeds in a finished request.
    pub fn handle(&mut self, input: Input, now: Millis) {
        if self.ledger.finished {
            return;
        }
        let (id, result) = match input {
            Input::Table { id, result } => (id, result),
            Input::Object { id, .. } => {
                if let Some(request) = self.ledger.outbox.take(id) {
                    let cause =
                        FailureCause::Store(JobError::Protocol("an object answer to a table request".into()));
                    self.resolve_failed(&request.tag, &cause);
                }
                self.after_input(now);
                return;
            }
        };
        let Some(request) = self.ledger.outbox.take(id) else {
            return;
        };
        match result {
            Ok(TableResult::Written { unprocessed }) => self.on_written(request, unprocessed, now),
            Ok(other) => {
                let cause = FailureCause::Store(JobError::Protocol(format!(
                    "unexpected answer {} to BatchWriteItem",
                    result_name(&other)
                )));
                self.resolve_failed(&request.tag, &cause);
            }
            Err(e) => self.on_error(request, e, now),
        }
        self.after_input(now);
    }

    fn on_written(&mut self, request: Request<Vec<usize>>, unprocessed: Vec<Write>, now: Millis) {
        if unprocessed.is_empty() {
            self.resolve_ok(&request.tag);
            return;
        }
        let (left, done): (Vec<usize>, Vec<usize>) = request
            .tag
            .iter()
            .partition(|&&g| unprocessed.contains(&self.groups[g].write));
        self.resolve_ok(&done);
        if left.is_empty() {
            return;
        }
        let op = self.op(&left);
        let progressed = !done.is_empty();
        let result = self.ledger.outbox.retry_leftover(
            left.clone(),
            crate::retry::Op::Table(TableSlot::Replica, op),
            request.attempt,
            progressed,
            now,
        );
        if let Err(e) = result {
            self.resolve_failed(&left, &FailureCause::Store(e));
        }
    }

    fn on_error(&mut self, request: Request<Vec<usize>>, error: StoreError, now: Millis) {
        if matches!(error, StoreError::Rejected(_)) && request.tag.len() > 1 {
            // One bad item fails a whole BatchWriteItem: bisect to find it.
            let mut left = request.tag;
            let right = left.split_off(left.len() / 2);
            self.push(left);
            self.push(right);
            return;
        }
        let groups = request.tag.clone();
        if let Err(e) = self.ledger.outbox.retry(request, error, now) {
            self.resolve_failed(&groups, &FailureCause::Store(e));
        }
    }

    fn after_input(&mut self, now: Millis) {
        if self.ledger.past_deadline(now) {
            for request in self.ledger.outbox.drain_unsent() {
                self.resolve_failed(&request.tag, &FailureCause::OutOfTime);
            }
        }
        self.maybe_finish();
    }

    fn maybe_finish(&mut self) {
        if self.open == 0 && self.ledger.outbox.is_idle() {
            self.ledger.finish();
        }
    }

    /// Backoffs and the deadline.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.ledger.finished {
            return;
        }
        self.ledger.outbox.handle_timeout(now);
        self.after_input(now);
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<BatchEvent, BatchSummary>> {
        self.ledger.poll()
    }

    /// When to call [`Replicate::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.ledger.poll_timeout()
    }
}

crate::io::impl_job!(Replicate, BatchEvent, BatchSummary);

// ---------------------------------------------------------------------------------------------------------
// Backup

/// Where the backup job writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTarget {
    /// The key prefix (`BackupPrefix`; joined with `/` as the original did).
    pub prefix: String,
    /// The table name in object keys when a record's `eventSourceARN` names none.
    pub table: Option<String>,
    /// Read each key's current object first and skip the changes it already holds (redelivery).
    pub skip_delivered: bool,
}

/// Where a key's chain of requests is. Each chain has at most one request outstanding, so the phase says
/// what the answer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Reading the current object (its sequence number).
    Check,
    /// No current object: listing the key's versions to see whether a delete marker is newest.
    Versions,
    /// The newest version is a delete marker: reading the version before it (its sequence number).
    Previous(String),
    /// Writing record `records[next]`.
    Write,
}

/// One object's changes in the batch.
#[derive(Debug)]
struct Chain {
    object_key: String,
    /// The key's records, in stream order.
    records: Vec<usize>,
    next: usize,
    phase: Phase,
}

/// One batch written to the incremental backup (the job's object store is the backup bucket).
///
/// - Create with [`Backup::new`]; it checks the records (see [`check_new_images`]).
/// - Inputs: [`Backup::handle`], [`Backup::handle_timeout`]. Outputs: [`Backup::poll`] until `None`, then
///   [`Backup::poll_timeout`]. Ends with `Done(BatchSummary)`.
#[derive(Debug)]
pub struct Backup {
    ledger: Ledger<usize>,
    chains: Vec<Chain>,
    /// Chains with nothing outstanding and records left.
    ready: VecDeque<usize>,
    /// Chains not yet resolved.
    open: usize,
    skip_delivered: bool,
}

impl Backup {
    /// A job for the batch `records`, in stream order.
    pub fn new(
        records: Vec<StreamRecord>,
        target: BackupTarget,
        limits: BatchLimits,
    ) -> Result<Backup, BatchError> {
        check_new_images(&records)?;
        let mut job = Backup {
            ledger: Ledger::new(records, limits),
            chains: Vec::new(),
            ready: VecDeque::new(),
            open: 0,
            skip_delivered: target.skip_delivered,
        };
        let mut by_object: BTreeMap<String, usize> = BTreeMap::new();
        let mut invalid = Vec::new();
        for (i, record) in job.ledger.records.iter().enumerate() {
            let table = record.source_table().or(target.table.as_deref());
            let key = record_key(record);
            let object_key = match (table, key) {
                (Some(table), Ok(key)) => backup_key::object_key(&target.prefix, table, &key),
                (None, _) => {
                    invalid.push((
                        i,
                        "no table name: eventSourceARN is missing or names no table".to_owned(),
                    ));
                    continue;
                }
                (_, Err(why)) => {
                    invalid.push((i, why));
                    continue;
                }
            };
            match by_object.get(&object_key) {
                Some(&c) => job.chains[c].records.push(i),
                None => {
                    by_object.insert(object_key.clone(), job.chains.len());
                    job.chains.push(Chain {
                        object_key,
                        records: vec![i],
                        next: 0,
                        phase: if target.skip_delivered {
                            Phase::Check
                        } else {
                            Phase::Write
                        },
                    });
                }
            }
        }
        for (i, why) in invalid {
            job.ledger.fail(i, FailureCause::InvalidRecord(why));
        }
        job.open = job.chains.len();
        job.ready = (0..job.chains.len()).collect();
        job.advance(Millis::ZERO);
        Ok(job)
    }

    fn op(&self, c: usize) -> ObjectOp {
        let chain = &self.chains[c];
        match &chain.phase {
            Phase::Check => {
                return ObjectOp::Get {
                    key: chain.object_key.clone(),
                    version_id: None,
                }
            }
            Phase::Versions => {
                return ObjectOp::ListVersions {
                    prefix: chain.object_key.clone(),
                    key_marker: None,
                    version_marker: None,
                }
            }
            Phase::Previous(version) => {
                return ObjectOp::Get {
                    key: chain.object_key.clone(),
                    version_id: Some(version.clone()),
                }
            }
            Phase::Write => {}
        }
        let record = &self.ledger.records[chain.records[chain.next]];
        match (&record.dynamodb.new_image, record.event_name) {
            (Some(image), EventName::Insert | EventName::Modify) => {
                let mut metadata = BTreeMap::new();
                metadata.insert(
                    META_SEQUENCE_NUMBER.to_owned(),
                    record.dynamodb.sequence_number.as_str().to_owned(),
                );
                if let Some(EpochTime(t)) = record.dynamodb.approximate_creation_date_time {
                    metadata.insert(META_CREATION_TIME.to_owned(), EpochTime(t).to_seconds_text());
                }
                ObjectOp::Put {
                    key: chain.object_key.clone(),
                    body: ddb_json::item_to_string(image).into_bytes(),
                    metadata,
                    condition: ObjectCondition::None,
                }
            }
            _ => ObjectOp::Delete {
                key: chain.object_key.clone(),
            },
        }
    }

    fn fail_chain(&mut self, c: usize, cause: FailureCause) {
        let chain = &self.chains[c];
        if let Some(&i) = chain.records.get(chain.next) {
            self.ledger.fail(i, cause);
        }
        self.open -= 1;
    }

    /// Moves chain `c` past its current record; queues it again or resolves it.
    fn step_done(&mut self, c: usize) {
        let chain = &mut self.chains[c];
        chain.next += 1;
        self.ledger.summary.applied += 1;
        self.requeue(c);
    }

    fn requeue(&mut self, c: usize) {
        if self.chains[c].next >= self.chains[c].records.len() {
            self.open -= 1;
        } else {
            self.ready.push_back(c);
        }
    }

    /// The object holds the state of record `stored` (from its metadata), followed by a delete marker if
    /// `deleted_after`: skip the chain's records it already holds, then write the rest.
    fn on_checked(&mut self, c: usize, metadata: Option<&BTreeMap<String, String>>, deleted_after: bool) {
        let stored = metadata
            .and_then(|m| m.get(META_SEQUENCE_NUMBER))
            .and_then(|s| SequenceNumber::parse(s).ok());
        let records = &self.ledger.records;
        let chain = &mut self.chains[c];
        chain.phase = Phase::Write;
        if let Some(stored) = stored {
            while let Some(&i) = chain.records.get(chain.next) {
                if records[i].dynamodb.sequence_number > stored {
                    break;
                }
                chain.next += 1;
                self.ledger.summary.skipped += 1;
            }
            // Writes are made in stream order, so the marker right after `stored` is the key's next change:
            // if that REMOVE is in this batch, it is already written.
            let next_is_remove = chain
                .records
                .get(chain.next)
                .is_some_and(|&i| records[i].event_name == EventName::Remove);
            if deleted_after && next_is_remove {
                chain.next += 1;
                self.ledger.summary.skipped += 1;
            }
        }
        self.requeue(c);
    }

    /// A version listing of the key (newest first): if a delete marker is newest, read the version before it.
    fn on_versions(&mut self, c: usize, versions: &[ObjectVersion]) {
        let chain = &mut self.chains[c];
        let mut mine = versions.iter().filter(|v| v.key == chain.object_key);
        match mine.next() {
            Some(newest) if newest.delete_marker => match mine.find(|v| !v.delete_marker) {
                Some(previous) => {
                    chain.phase = Phase::Previous(previous.version_id.clone());
                    self.ready.push_back(c);
                }
                None => self.on_checked(c, None, false),
            },
            _ => self.on_checked(c, None, false),
        }
    }

    /// Feeds in a finished request.
    pub fn handle(&mut self, input: Input, now: Millis) {
        if self.ledger.finished {
            return;
        }
        let (id, result) = match input {
            Input::Object { id, result } => (id, result),
            Input::Table { id, .. } => {
                if let Some(request) = self.ledger.outbox.take(id) {
                    let cause =
                        FailureCause::Store(JobError::Protocol("a table answer to an object request".into()));
                    self.fail_chain(request.tag, cause);
                }
                self.advance(now);
                return;
            }
        };
        let Some(request) = self.ledger.outbox.take(id) else {
            return;
        };
        let c = request.tag;
        let phase = self.chains[c].phase.clone();
        match (phase, result) {
            (Phase::Check, Ok(ObjectResult::Got { metadata, .. })) => {
                self.on_checked(c, Some(&metadata), false)
            }
            (Phase::Check, Ok(ObjectResult::NotFound)) => {
                self.chains[c].phase = Phase::Versions;
                self.ready.push_back(c);
            }
            (Phase::Versions, Ok(ObjectResult::Versions { versions, .. })) => self.on_versions(c, &versions),
            (Phase::Previous(_), Ok(ObjectResult::Got { metadata, .. })) => {
                self.on_checked(c, Some(&metadata), true)
            }
            (Phase::Previous(_), Ok(ObjectResult::NotFound)) => self.on_checked(c, None, false),
            (Phase::Write, Ok(ObjectResult::Put { .. } | ObjectResult::Deleted)) => self.step_done(c),
            (_, Ok(other)) => {
                let cause = FailureCause::Store(JobError::Protocol(format!(
                    "unexpected answer {other:?} to {}",
                    request.op.name()
                )));
                self.fail_chain(c, cause);
            }
            (phase, Err(e)) => {
                let mut request = request;
                if phase == Phase::Write && self.skip_delivered && e.is_retryable() {
                    // The write may have happened with its answer lost: look again before writing again,
                    // so that a lost reply does not become a second version of the same state.
                    self.chains[c].phase = Phase::Check;
                    request.op = crate::retry::Op::Object(self.op(c));
                }
                if let Err(e) = self.ledger.outbox.retry(request, e, now) {
                    self.fail_chain(c, FailureCause::Store(e));
                }
            }
        }
        self.advance(now);
    }

    /// Backoffs and the deadline.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.ledger.finished {
            return;
        }
        self.ledger.outbox.handle_timeout(now);
        self.advance(now);
    }

    fn advance(&mut self, now: Millis) {
        if self.ledger.past_deadline(now) {
            for request in self.ledger.outbox.drain_unsent() {
                self.fail_chain(request.tag, FailureCause::OutOfTime);
            }
            while let Some(c) = self.ready.pop_front() {
                self.fail_chain(c, FailureCause::OutOfTime);
            }
        }
        while self.ledger.outbox.has_room() {
            let Some(c) = self.ready.pop_front() else {
                break;
            };
            let op = self.op(c);
            self.ledger.outbox.push_object(c, op);
        }
        if self.open == 0 && self.ledger.outbox.is_idle() {
            self.ledger.finish();
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<BatchEvent, BatchSummary>> {
        self.ledger.poll()
    }

    /// When to call [`Backup::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.ledger.poll_timeout()
    }
}

crate::io::impl_job!(Backup, BatchEvent, BatchSummary);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::stream_event::parse_event;

    fn record(seq: &str, event: &str, id: &str, n: Option<u32>) -> String {
        let image = n.map_or(String::new(), |n| {
            format!(r#","NewImage":{{"id":{{"S":"{id}"}},"n":{{"N":"{n}"}}}}"#)
        });
        format!(
            r#"{{"eventName":"{event}","eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
               "dynamodb":{{"Keys":{{"id":{{"S":"{id}"}}}},"SequenceNumber":"{seq}",
               "ApproximateCreationDateTime":1479499740.5{image}}}}}"#
        )
    }

    fn records(parts: &[String]) -> Vec<StreamRecord> {
        parse_event(&format!(r#"{{"Records":[{}]}}"#, parts.join(",")))
            .unwrap()
            .records
    }

    #[test]
    fn replicate_writes_the_last_change_of_each_key_once() {
        let batch = records(&[
            record("1", "INSERT", "a", Some(1)),
            record("2", "MODIFY", "a", Some(2)),
            record("3", "INSERT", "b", Some(3)),
            record("4", "REMOVE", "b", None),
        ]);
        let mut job = Replicate::new(batch, BatchLimits::default()).unwrap();
        let Some(Action::Table {
            id,
            op: TableOp::BatchWrite { writes },
            slot,
        }) = job.poll()
        else {
            panic!("a batch write")
        };
        assert_eq!(slot, TableSlot::Replica);
        assert_eq!(writes.len(), 2);
        assert!(matches!(&writes[0], Write::Put(item) if item.get("n") == Some(&Value::from(2))));
        assert!(matches!(&writes[1], Write::Delete(_)));
        job.handle(
            Input::Table {
                id,
                result: Ok(TableResult::Written { unprocessed: vec![] }),
            },
            Millis(1),
        );
        let Some(Action::Done(summary)) = job.poll() else {
            panic!("done")
        };
        assert_eq!(summary.applied, 4);
        assert!(summary.is_complete());
        assert_eq!(summary.newest_change, Some(Millis(1_479_499_740_500)));
    }

    #[test]
    fn a_stream_without_new_images_is_refused() {
        let batch = records(&[record("1", "INSERT", "a", None)]);
        let e = Replicate::new(batch, BatchLimits::default()).unwrap_err();
        assert!(e.to_string().contains("NEW_AND_OLD_IMAGES"), "{e}");
    }

    #[test]
    fn a_refused_batch_is_bisected_down_to_the_poison_key() {
        let batch = records(&[
            record("1", "INSERT", "a", Some(1)),
            record("2", "INSERT", "b", Some(2)),
            record("3", "INSERT", "c", Some(3)),
        ]);
        let mut job = Replicate::new(batch, BatchLimits::default()).unwrap();
        let mut done = None;
        let mut steps = 0;
        while done.is_none() {
            steps += 1;
            assert!(steps < 50);
            match job.poll() {
                Some(Action::Table {
                    id,
                    op: TableOp::BatchWrite { writes },
                    ..
                }) => {
                    let poison = writes
                        .iter()
                        .any(|w| matches!(w, Write::Put(i) if i.get("n") == Some(&Value::from(2))));
                    let result = if poison {
                        Err(StoreError::Rejected("ValidationException: item too large".into()))
                    } else {
                        Ok(TableResult::Written { unprocessed: vec![] })
                    };
                    job.handle(Input::Table { id, result }, Millis(1));
                }
                Some(Action::Done(s)) => done = Some(s),
                Some(_) => {}
                None => panic!("stalled"),
            }
        }
        let summary = done.unwrap();
        assert_eq!(summary.applied, 2);
        let failures: Vec<&str> = summary.batch_item_failures().iter().map(|s| s.as_str()).collect();
        assert_eq!(failures, vec!["2"]);
        assert!(summary.failures[0].cause.to_string().contains("item too large"));
    }

    #[test]
    fn the_deadline_fails_what_is_still_backing_off() {
        let batch = records(&[record("7", "INSERT", "a", Some(1))]);
        let limits = BatchLimits {
            deadline: Some(Millis(100)),
            ..BatchLimits::default()
        };
        let mut job = Replicate::new(batch, limits).unwrap();
        let Some(Action::Table { id, .. }) = job.poll() else {
            panic!("a write")
        };
        job.handle(
            Input::Table {
                id,
                result: Err(StoreError::Throttled),
            },
            Millis(10),
        );
        assert!(job.poll().is_none());
        let at = job.poll_timeout().unwrap();
        assert!(at <= Millis(100));
        job.handle_timeout(Millis(100));
        let mut summary = None;
        while let Some(a) = job.poll() {
            if let Action::Done(s) = a {
                summary = Some(s);
            }
        }
        let summary = summary.expect("done at the deadline");
        assert_eq!(summary.failures[0].cause, FailureCause::OutOfTime);
        assert_eq!(summary.failures[0].sequence_number.as_str(), "7");
    }

    #[test]
    fn backup_skips_the_changes_the_object_already_holds() {
        let batch = records(&[
            record("10", "INSERT", "a", Some(1)),
            record("11", "MODIFY", "a", Some(2)),
            record("12", "MODIFY", "a", Some(3)),
        ]);
        let target = BackupTarget {
            prefix: "p".into(),
            table: None,
            skip_delivered: true,
        };
        let mut job = Backup::new(batch, target, BatchLimits::default()).unwrap();
        let Some(Action::Object {
            id,
            op: ObjectOp::Get { key, .. },
        }) = job.poll()
        else {
            panic!("a check")
        };
        assert!(key.starts_with("p/t/"), "{key}");
        let metadata = [(META_SEQUENCE_NUMBER.to_owned(), "11".to_owned())].into();
        job.handle(
            Input::Object {
                id,
                result: Ok(ObjectResult::Got {
                    body: vec![],
                    etag: "e".into(),
                    version_id: None,
                    last_modified: Millis(0),
                    metadata,
                }),
            },
            Millis(1),
        );
        let Some(Action::Object {
            id,
            op: ObjectOp::Put { body, metadata, .. },
        }) = job.poll()
        else {
            panic!("a put")
        };
        assert_eq!(body, br#"{"id":{"S":"a"},"n":{"N":"3"}}"#);
        assert_eq!(metadata[META_SEQUENCE_NUMBER], "12");
        assert_eq!(metadata[META_CREATION_TIME], "1479499740.500");
        job.handle(
            Input::Object {
                id,
                result: Ok(ObjectResult::Put {
                    etag: "x".into(),
                    version_id: None,
                }),
            },
            Millis(2),
        );
        let Some(Action::Done(summary)) = job.poll() else {
            panic!("done")
        };
        assert_eq!((summary.applied, summary.skipped), (1, 2));
    }
}
