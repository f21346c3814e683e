//! restore-table from an incremental folder (`{prefix}/{table}/`, one object per key, versioned): the
//! folder's current state, or its state at an instant (`--at`), written into a table.
//!
//! # Reading
//! - Current state: ListObjectsV2 of the folder, then a GET of each object.
//! - At `T`: ListObjectVersions of the folder; each key's versions (newest first, contiguous in the
//!   listing, possibly across pages) are resolved on their own. A version's change time is the
//!   `ddbrep-approximate-creation-date-time` metadata the backup handler writes (the change's
//!   `ApproximateCreationDateTime`), else its LastModified. A change is always written after it happened,
//!   so a version with LastModified ≤ T changed at or before T: the newest such one is the *baseline*.
//!   Versions written later but within [`RestorePlan::lag_window`] of T may still hold a change from
//!   before T (the handler lags); they are read, and the newest whose change time is ≤ T wins over the
//!   baseline. Delete markers carry no metadata and are timed by LastModified. The key is absent at T
//!   when the winner is a delete marker, or when no version is that old.
//!
//! # Writing
//! Bodies are the backup's DynamoDB-JSON items; the key comes from the item and the plan's key schema.
//! [`RestoreMode::Put`] writes with BatchWriteItem (25 at a time, `UnprocessedItems` retried);
//! [`RestoreMode::OnlyMissing`] writes each item with `attribute_not_exists` (a key already in the table
//! is reported and left alone). With `delete_absent` (overwrite at an instant), keys absent at T are
//! deleted. `dry_run` reports what would be written instead of writing.
//!
//! Memory is bounded: at most `max_in_flight` requests, one listing page and the key being assembled.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::codec::ddb_json;
use crate::codec::stream_event::EpochTime;
use crate::io::{
    Action, Expect, Input, JobError, ObjectOp, ObjectResult, ObjectVersion, StoreError, TableOp, TableResult,
    TableSlot, Write, MAX_BATCH_WRITE,
};
use crate::model::{Item, Key, KeySchema};
use crate::retry::{Op, Outbox, Request, RetryPolicy};
use crate::stream::META_CREATION_TIME;
use crate::time::Millis;

/// How items are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// BatchWriteItem: into a new table, or over what an existing one holds (`--overwrite`).
    Put,
    /// PutItem with `attribute_not_exists`: only keys the table does not have (`--only-missing`).
    OnlyMissing,
}

/// What to restore.
#[derive(Debug, Clone, PartialEq)]
pub struct RestorePlan {
    /// The folder, with its trailing `/` (`inc/orders/`).
    pub prefix: String,
    /// The table's key.
    pub schema: KeySchema,
    /// The instant to restore; `None`: the folder's current state.
    pub at: Option<Millis>,
    /// How items are written.
    pub mode: RestoreMode,
    /// Delete keys that are absent at `at` (overwriting at an instant).
    pub delete_absent: bool,
    /// Report instead of writing.
    pub dry_run: bool,
    /// How long after `at` a version may have been written and still hold a change from before it.
    pub lag_window: Duration,
    /// Most requests outstanding.
    pub max_in_flight: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
    /// How often to report progress.
    pub progress_every: Option<Duration>,
}

impl RestorePlan {
    /// The current state of `prefix`, written with BatchWriteItem.
    pub fn new(prefix: impl Into<String>, schema: KeySchema) -> RestorePlan {
        RestorePlan {
            prefix: prefix.into(),
            schema,
            at: None,
            mode: RestoreMode::Put,
            delete_absent: false,
            dry_run: false,
            lag_window: Duration::from_secs(24 * 3600),
            max_in_flight: 32,
            retry: RetryPolicy::default(),
            seed: 0,
            progress_every: Some(Duration::from_secs(10)),
        }
    }
}

/// What restore-table reports.
#[derive(Debug, Clone, PartialEq)]
pub enum RestoreEvent {
    /// (Dry run) this key would be written with this item, or deleted (`None`).
    Planned {
        /// The key.
        key: Key,
        /// The item, or `None` for a delete.
        item: Option<Item>,
    },
    /// `OnlyMissing`: the table already has this key; it was left alone.
    AlreadyPresent {
        /// The key.
        key: Key,
    },
    /// An object whose body is not an item of the table (not DynamoDB JSON, or no valid key).
    Unreadable {
        /// The object key (and version, when restoring at an instant).
        object: String,
        /// What is wrong.
        error: String,
    },
    /// Counters so far.
    Progress {
        /// Keys resolved.
        keys: u64,
        /// Items written (or planned).
        written: u64,
        /// Keys deleted (or planned).
        deleted: u64,
    },
}

/// How a restore ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreSummary {
    /// Keys (objects) the folder holds.
    pub keys: u64,
    /// Items written (planned, in a dry run).
    pub written: u64,
    /// Keys deleted (planned, in a dry run).
    pub deleted: u64,
    /// Keys absent at the instant (or deleted meanwhile), not written.
    pub absent: u64,
    /// `OnlyMissing`: keys the table already had.
    pub present: u64,
    /// Objects that are not items of the table.
    pub unreadable: u64,
    /// Why it stopped early.
    pub error: Option<JobError>,
}

/// A version as read: its body and user metadata.
type Got = (Vec<u8>, BTreeMap<String, String>);

/// One version to read for a key.
#[derive(Debug, Clone)]
struct Fetch {
    object: String,
    version_id: Option<String>,
    last_modified: Millis,
    /// `None` until read; `Some(None)`: gone.
    got: Option<Option<Got>>,
}

/// One key being resolved.
#[derive(Debug)]
struct Group {
    /// The versions to read: the baseline (if an object), the candidates newer than it, and for
    /// `delete_absent` one more to learn the key from.
    fetches: Vec<Fetch>,
    /// Index in `fetches` of the baseline, if the baseline is an object (not a delete marker).
    baseline: Option<usize>,
    /// Indexes of the candidates, oldest first.
    candidates: Vec<usize>,
    /// Index of a version read only for its key.
    key_source: Option<usize>,
    /// Reads not yet answered.
    outstanding: usize,
    /// Reads not yet sent (sent in order, as the request limit allows).
    unsent: usize,
}

#[derive(Debug, Clone)]
enum Tag {
    List,
    Versions,
    Get { group: u64, fetch: usize },
    Batch,
    Put(Key),
}

/// A restore-table run over an incremental folder.
///
/// - Create with [`Restore::new`] (it queues the first listing).
/// - Inputs: [`Restore::handle`], [`Restore::handle_timeout`].
/// - Outputs: [`Restore::poll`] until `None` after each input, then [`Restore::poll_timeout`].
#[derive(Debug)]
pub struct Restore {
    plan: RestorePlan,
    outbox: Outbox<Tag>,
    /// Keys listed (current state) or assembled (at an instant), not yet read.
    ready: VecDeque<Group>,
    /// Keys being read, by group number.
    reading: BTreeMap<u64, Group>,
    next_group: u64,
    /// At an instant: the versions of the key the listing is in the middle of.
    assembling: Vec<ObjectVersion>,
    continuation: Option<String>,
    version_markers: (Option<String>, Option<String>),
    listing: bool,
    list_done: bool,
    batch: Vec<Write>,
    /// Writes waiting for room in the outbox (reads wait while there are any).
    writes: VecDeque<(Tag, TableOp)>,
    summary: RestoreSummary,
    out: VecDeque<Action<RestoreEvent, RestoreSummary>>,
    last_progress: Option<Millis>,
    finished: bool,
}

impl Restore {
    /// A restore run.
    pub fn new(plan: RestorePlan) -> Restore {
        let mut job = Restore {
            // One more than the reads and writes, so the next listing page can be fetched meanwhile.
            outbox: Outbox::new(plan.retry, plan.seed, plan.max_in_flight.max(1) + 1),
            ready: VecDeque::new(),
            reading: BTreeMap::new(),
            next_group: 0,
            assembling: Vec::new(),
            continuation: None,
            version_markers: (None, None),
            listing: false,
            list_done: false,
            batch: Vec::new(),
            writes: VecDeque::new(),
            summary: RestoreSummary::default(),
            out: VecDeque::new(),
            last_progress: None,
            finished: false,
            plan,
        };
        job.advance(Millis::ZERO);
        job
    }

    fn finish(&mut self, error: Option<JobError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut summary = std::mem::take(&mut self.summary);
        summary.error = error;
        self.out.push_back(Action::Done(summary));
    }

    /// Feeds in a finished request.
    pub fn handle(&mut self, input: Input, now: Millis) {
        if self.finished {
            return;
        }
        let outcome = match input {
            Input::Object { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(request) => match result {
                    Err(e) => self.outbox.retry(request, e, now),
                    Ok(result) => self.on_object(request.tag, result),
                },
            },
            Input::Table { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(request) => self.on_table(request, result, now),
            },
        };
        match outcome {
            Ok(()) => self.advance(now),
            Err(e) => self.finish(Some(e)),
        }
    }

    fn on_object(&mut self, tag: Tag, result: ObjectResult) -> Result<(), JobError> {
        match (tag, result) {
            (Tag::List, ObjectResult::Listing { objects, next }) => {
                self.listing = false;
                self.list_done = next.is_none();
                self.continuation = next;
                for info in objects {
                    self.summary.keys += 1;
                    self.ready.push_back(Group {
                        fetches: vec![Fetch {
                            object: info.key,
                            version_id: None,
                            last_modified: Millis::ZERO,
                            got: None,
                        }],
                        baseline: Some(0),
                        candidates: Vec::new(),
                        key_source: None,
                        outstanding: 0,
                        unsent: 0,
                    });
                }
                Ok(())
            }
            (
                Tag::Versions,
                ObjectResult::Versions {
                    versions,
                    next_key_marker,
                    next_version_marker,
                },
            ) => {
                self.listing = false;
                self.list_done = next_key_marker.is_none();
                self.version_markers = (next_key_marker, next_version_marker);
                for v in versions {
                    if self.assembling.first().is_some_and(|first| first.key != v.key) {
                        let done = std::mem::take(&mut self.assembling);
                        self.assemble(done);
                    }
                    self.assembling.push(v);
                }
                if self.list_done {
                    let done = std::mem::take(&mut self.assembling);
                    if !done.is_empty() {
                        self.assemble(done);
                    }
                }
                Ok(())
            }
            (Tag::Get { group, fetch }, ObjectResult::Got { body, metadata, .. }) => {
                self.fill(group, fetch, Some((body, metadata)));
                Ok(())
            }
            (Tag::Get { group, fetch }, ObjectResult::NotFound) => {
                self.fill(group, fetch, None);
                Ok(())
            }
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {result:?} to {tag:?}"
            ))),
        }
    }

    /// Plans the reads for one key's versions (newest first) at the plan's instant.
    fn assemble(&mut self, versions: Vec<ObjectVersion>) {
        let Some(at) = self.plan.at else {
            return;
        };
        self.summary.keys += 1;
        let late = at.saturating_add(self.plan.lag_window);
        let fetch = |v: &ObjectVersion| Fetch {
            object: v.key.clone(),
            version_id: Some(v.version_id.clone()),
            last_modified: v.last_modified,
            got: None,
        };
        let mut group = Group {
            fetches: Vec::new(),
            baseline: None,
            candidates: Vec::new(),
            key_source: None,
            outstanding: 0,
            unsent: 0,
        };
        // Oldest first from here on.
        let oldest_first: Vec<&ObjectVersion> = versions.iter().rev().collect();
        let base = oldest_first.iter().rposition(|v| v.last_modified <= at);
        if let Some(b) = base {
            if !oldest_first[b].delete_marker {
                group.baseline = Some(group.fetches.len());
                group.fetches.push(fetch(oldest_first[b]));
            }
        }
        let after = base.map_or(0, |b| b + 1);
        for v in &oldest_first[after..] {
            if v.last_modified > late {
                break;
            }
            if !v.delete_marker {
                group.candidates.push(group.fetches.len());
                group.fetches.push(fetch(v));
            }
        }
        if self.plan.delete_absent && group.fetches.is_empty() {
            if let Some(v) = oldest_first.iter().rev().find(|v| !v.delete_marker) {
                group.key_source = Some(group.fetches.len());
                group.fetches.push(fetch(v));
            }
        }
        if group.fetches.is_empty() {
            // Nothing that old, only delete markers, and no key to delete by: absent.
            self.summary.absent += 1;
            return;
        }
        self.ready.push_back(group);
    }

    fn fill(&mut self, group: u64, fetch: usize, got: Option<Got>) {
        let Some(g) = self.reading.get_mut(&group) else {
            return;
        };
        if let Some(f) = g.fetches.get_mut(fetch) {
            if f.got.is_none() {
                f.got = Some(got);
                g.outstanding = g.outstanding.saturating_sub(1);
            }
        }
        if g.outstanding == 0 {
            if let Some(g) = self.reading.remove(&group) {
                self.resolve(g);
            }
        }
    }

    /// Decides a key's state from its reads and queues its write.
    fn resolve(&mut self, g: Group) {
        let at = self.plan.at;
        let change_time = |f: &Fetch, meta: &BTreeMap<String, String>| {
            meta.get(META_CREATION_TIME)
                .and_then(|t| EpochTime::parse_seconds(t))
                .map_or(f.last_modified, |t| t.0)
        };
        let winner = g
            .candidates
            .iter()
            .rev()
            .find(|&&i| match &g.fetches[i].got {
                Some(Some((_, meta))) => at.is_some_and(|at| change_time(&g.fetches[i], meta) <= at),
                _ => false,
            })
            .copied()
            .or(g.baseline);
        let state = winner.and_then(|i| match &g.fetches[i].got {
            Some(Some((body, _))) => Some((i, body.clone())),
            _ => None,
        });
        match state {
            Some((i, body)) => match self.parse(&g.fetches[i], &body) {
                Some((key, item)) => self.write(key, Some(item)),
                None => self.summary.unreadable += 1,
            },
            None if self.plan.delete_absent => {
                // Any version read tells the key.
                let known = g.fetches.iter().find_map(|f| match &f.got {
                    Some(Some((body, _))) => Some((f, body)),
                    _ => None,
                });
                match known.map(|(f, body)| self.parse(f, body)) {
                    Some(Some((key, _))) => self.write(key, None),
                    Some(None) => self.summary.unreadable += 1,
                    None => self.summary.absent += 1,
                }
            }
            None => self.summary.absent += 1,
        }
    }

    fn parse(&mut self, f: &Fetch, body: &[u8]) -> Option<(Key, Item)> {
        let object = match &f.version_id {
            Some(v) => format!("{} (version {v})", f.object),
            None => f.object.clone(),
        };
        let parsed = std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|text| ddb_json::parse_item(text).map_err(|e| e.to_string()))
            .and_then(|item| {
                self.plan
                    .schema
                    .key_of(&item)
                    .map(|key| (key, item))
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(found) => Some(found),
            Err(error) => {
                self.out
                    .push_back(Action::Report(RestoreEvent::Unreadable { object, error }));
                None
            }
        }
    }

    fn write(&mut self, key: Key, item: Option<Item>) {
        match &item {
            Some(_) => self.summary.written += 1,
            None => self.summary.deleted += 1,
        }
        if self.plan.dry_run {
            self.out
                .push_back(Action::Report(RestoreEvent::Planned { key, item }));
            return;
        }
        match (item, self.plan.mode) {
            (Some(item), RestoreMode::OnlyMissing) => self.writes.push_back((
                Tag::Put(key),
                TableOp::ConditionalWrite {
                    write: Write::Put(item),
                    expect: Expect::Absent,
                },
            )),
            (Some(item), RestoreMode::Put) => self.batch.push(Write::Put(item)),
            (None, _) => self.batch.push(Write::Delete(key)),
        }
        if self.batch.len() >= MAX_BATCH_WRITE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let writes = std::mem::take(&mut self.batch);
        self.writes
            .push_back((Tag::Batch, TableOp::BatchWrite { writes }));
    }

    fn on_table(
        &mut self,
        request: Request<Tag>,
        result: Result<TableResult, StoreError>,
        now: Millis,
    ) -> Result<(), JobError> {
        match (&request.tag, result) {
            (_, Err(e)) => self.outbox.retry(request, e, now),
            (Tag::Batch, Ok(TableResult::Written { unprocessed })) => {
                if unprocessed.is_empty() {
                    return Ok(());
                }
                let progressed = match &request.op {
                    Op::Table(_, TableOp::BatchWrite { writes }) => unprocessed.len() < writes.len(),
                    _ => false,
                };
                self.outbox.retry_leftover(
                    Tag::Batch,
                    Op::Table(TableSlot::Primary, TableOp::BatchWrite { writes: unprocessed }),
                    request.attempt,
                    progressed,
                    now,
                )
            }
            (Tag::Put(_), Ok(TableResult::Written { .. })) => Ok(()),
            (Tag::Put(key), Ok(TableResult::ConditionFailed)) => {
                self.summary.written = self.summary.written.saturating_sub(1);
                self.summary.present += 1;
                self.out
                    .push_back(Action::Report(RestoreEvent::AlreadyPresent { key: key.clone() }));
                Ok(())
            }
            (tag, Ok(result)) => Err(JobError::Protocol(format!(
                "unexpected answer {result:?} to {tag:?}"
            ))),
        }
    }

    /// Backoffs.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.finished {
            return;
        }
        self.outbox.handle_timeout(now);
        self.advance(now);
    }

    fn advance(&mut self, now: Millis) {
        if self.finished {
            return;
        }
        while self.outbox.has_room() {
            let Some((tag, op)) = self.writes.pop_front() else {
                break;
            };
            self.outbox.push_table(tag, TableSlot::Primary, op);
        }
        // Reads of keys already started, then new keys, while there is room and no write waits.
        let ids: Vec<u64> = self.reading.keys().copied().collect();
        for id in ids {
            self.send_reads(id);
        }
        while self.writes.is_empty() && self.outbox.has_room() {
            let Some(mut g) = self.ready.pop_front() else {
                break;
            };
            let id = self.next_group;
            self.next_group += 1;
            g.outstanding = g.fetches.len();
            g.unsent = g.fetches.len();
            self.reading.insert(id, g);
            self.send_reads(id);
        }
        if !self.listing
            && !self.list_done
            && self.ready.is_empty()
            && self.outbox.has_room()
            && self.writes.is_empty()
        {
            self.listing = true;
            match self.plan.at {
                None => self.outbox.push_object(
                    Tag::List,
                    ObjectOp::List {
                        prefix: self.plan.prefix.clone(),
                        continuation: self.continuation.clone(),
                    },
                ),
                Some(_) => self.outbox.push_object(
                    Tag::Versions,
                    ObjectOp::ListVersions {
                        prefix: self.plan.prefix.clone(),
                        key_marker: self.version_markers.0.clone(),
                        version_marker: self.version_markers.1.clone(),
                    },
                ),
            }
        }
        let reading_done = self.list_done && self.ready.is_empty() && self.reading.is_empty();
        if reading_done && !self.batch.is_empty() {
            self.flush();
            while self.outbox.has_room() {
                let Some((tag, op)) = self.writes.pop_front() else {
                    break;
                };
                self.outbox.push_table(tag, TableSlot::Primary, op);
            }
        }
        self.progress(now, false);
        if reading_done && self.writes.is_empty() && self.outbox.is_idle() {
            self.progress(now, true);
            self.finish(None);
        }
    }

    fn send_reads(&mut self, id: u64) {
        let Some(g) = self.reading.get_mut(&id) else {
            return;
        };
        while g.unsent > 0 && self.outbox.has_room() {
            let i = g.fetches.len() - g.unsent;
            g.unsent -= 1;
            let f = &g.fetches[i];
            self.outbox.push_object(
                Tag::Get { group: id, fetch: i },
                ObjectOp::Get {
                    key: f.object.clone(),
                    version_id: f.version_id.clone(),
                },
            );
        }
    }

    fn progress(&mut self, now: Millis, force: bool) {
        let Some(every) = self.plan.progress_every else {
            return;
        };
        let due = match self.last_progress {
            None => {
                self.last_progress = Some(now);
                false
            }
            Some(last) => now.since(last) >= every,
        };
        if due || force {
            self.last_progress = Some(now);
            self.out.push_back(Action::Report(RestoreEvent::Progress {
                keys: self.summary.keys,
                written: self.summary.written,
                deleted: self.summary.deleted,
            }));
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<RestoreEvent, RestoreSummary>> {
        if let Some(a) = self.out.pop_front() {
            return Some(a);
        }
        if self.finished {
            return None;
        }
        self.outbox.poll()
    }

    /// When to call [`Restore::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        self.outbox.poll_timeout()
    }
}

crate::io::impl_job!(Restore, RestoreEvent, RestoreSummary);
