//! restore-table: an incremental folder's (`{prefix}/{table}/`, one versioned object per key) current
//! state or its state at an instant (`--at`), or every item of a `backup-table` dump or an
//! `incremental-snapshot` object, written into a table.
//!
//! # Dumps and snapshots
//! Gzip'd lines of DynamoDB JSON, possibly gigabytes: read in [`CHUNK_BYTES`] ranges, one object at a time
//! (a dump's segments in listing order), inflated as they arrive and split into lines; the next range is
//! asked for only when the writes of the last one have gone out, so memory stays flat. A line that is not
//! an item of the table is reported with its object and line number and skipped; a corrupt or truncated
//! gzip stream (checked against its CRC and length trailer) stops that object with a report naming the
//! last line restored.
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
//! [`RestoreMode::Put`] writes with BatchWriteItem (25 at a time, `UnprocessedItems` retried) into a table
//! nobody else writes; [`RestoreMode::Overwrite`] reads each key's current item and writes on condition that
//! it is unchanged, so a live writer's later write is never overwritten (the key is reported instead);
//! [`RestoreMode::OnlyMissing`] writes each item with `attribute_not_exists` (a key already in the table
//! is reported and left alone). With `delete_absent` (overwrite at an instant), keys absent at T are
//! deleted. `dry_run` reports what would be written instead of writing.
//!
//! Memory is bounded: at most `max_in_flight` requests, one listing page and the key being assembled.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::time::Duration;

use crate::codec::ddb_json;
use crate::codec::stream_event::EpochTime;
use crate::io::{
    Action, Expect, Input, JobError, ObjectOp, ObjectResult, ObjectVersion, StoreError, TableOp, TableResult,
    TableSlot, Write, MAX_BATCH_WRITE,
};
use crate::model::{Item, Key, KeySchema};
use crate::retry::{earliest, retry_paced, Op, Outbox, RateLimit, Request, RetryPolicy};
use crate::stream::META_CREATION_TIME;
use crate::time::Millis;

/// How items are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// BatchWriteItem: into a new table nobody else writes.
    Put,
    /// Over what a live table holds (`--overwrite`, `--undo-between`): each key's current item is read
    /// (consistent BatchGetItem), then the restored state is written on condition that the item is still
    /// what was read; a key a live writer changed in between keeps the live write and is reported.
    Overwrite,
    /// PutItem with `attribute_not_exists`: only keys the table does not have (`--only-missing`).
    OnlyMissing,
}

/// What the backup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreFrom {
    /// An incremental folder: `prefix` is the folder, with its trailing `/` (`inc/orders/`).
    Incremental,
    /// A `backup-table` dump: `prefix` is the job's folder with its trailing `/` (`dumps/jobid/`); every
    /// object in it is a segment, gzip'd lines of DynamoDB JSON.
    Dump,
    /// An `incremental-snapshot` object: `prefix` is its key; gzip'd lines of DynamoDB JSON.
    Snapshot,
}

/// Bytes per ranged read of a dump or snapshot object (a gzip'd megabyte inflates to a few).
pub const CHUNK_BYTES: u64 = 1 << 20;

/// What to restore.
#[derive(Debug, Clone, PartialEq)]
pub struct RestorePlan {
    /// What the backup is.
    pub from: RestoreFrom,
    /// The folder, with its trailing `/` (`inc/orders/`), the dump's folder, or the snapshot's key.
    pub prefix: String,
    /// The table's key.
    pub schema: KeySchema,
    /// The instant to restore (incremental folders only); `None`: the backup's current state.
    pub at: Option<Millis>,
    /// How items are written.
    pub mode: RestoreMode,
    /// Delete keys that are absent at `at` (overwriting at an instant).
    pub delete_absent: bool,
    /// Undo a window (`--undo-between at T2`): only keys changed after `at` and up to this instant are
    /// put back to their state at `at` (deleted if they did not exist then); a key changed again after the
    /// window is reported as a conflict and left alone. Needs `at` and `delete_absent`.
    pub undo_until: Option<Millis>,
    /// Restore only these keys (incremental folders): each key's object is read by name instead of listing
    /// the folder.
    pub keys: Option<Vec<Key>>,
    /// Report instead of writing.
    pub dry_run: bool,
    /// How long after `at` a version may have been written and still hold a change from before it.
    pub lag_window: Duration,
    /// Bytes per ranged read of a dump or snapshot object.
    pub chunk_bytes: u64,
    /// Dump segments read at once.
    pub parallel: usize,
    /// Items written per second at most (halved while DynamoDB throttles, as the other tools' budgets).
    pub rate_limit: Option<u32>,
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
            from: RestoreFrom::Incremental,
            prefix: prefix.into(),
            schema,
            at: None,
            mode: RestoreMode::Put,
            delete_absent: false,
            undo_until: None,
            keys: None,
            dry_run: false,
            lag_window: Duration::from_secs(24 * 3600),
            chunk_bytes: CHUNK_BYTES,
            parallel: 1,
            rate_limit: None,
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
    /// Undo: this key changed in the window and again after it; it was left as it is.
    Conflict {
        /// The key, when a version of it could be read.
        key: Option<Key>,
        /// Its object.
        object: String,
    },
    /// Overwrite: a live writer changed this key after it was read; the live write was kept.
    ChangedMeanwhile {
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
    /// Undo: keys not changed in the window.
    pub unchanged: u64,
    /// Undo: keys changed in the window and again after it, left alone; overwrite: keys a live writer
    /// changed while they were being restored.
    pub conflicts: u64,
    /// Overwrite: keys the table already held in the restored state (nothing written).
    pub current: u64,
    /// Incremental: objects under another name than their key's canonical one (a folder in the original's
    /// layouts, not yet migrated by incremental-rekey). Their states are written, but such a name never
    /// deletes a key: after a rekey its delete marker only says the state moved to the canonical name.
    pub legacy: u64,
    /// At an instant: the oldest LastModified of any version listed (a TIME before it restores nothing).
    pub oldest: Option<Millis>,
    /// Why it stopped early.
    pub error: Option<JobError>,
}

/// The latest instant a version with this LastModified can have been written. S3 gives LastModified in
/// whole seconds (a listing's `…:54.000Z`), so a version stamped `:54` may have been written at `:54.999`;
/// an instant that is exactly on a second is taken as that second's end.
fn settled(last_modified: Millis) -> Millis {
    if last_modified.0.is_multiple_of(1000) {
        Millis(last_modified.0 + 999)
    } else {
        last_modified
    }
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
    /// LastModified of the delete markers newer than the baseline (undo: changes in or after the window).
    markers: Vec<Millis>,
    /// Whether a version was written after the reads' horizon (undo: certainly after the window).
    beyond: bool,
    /// The key, when the plan names it (`keys`).
    key: Option<Key>,
    /// Reads not yet answered.
    outstanding: usize,
    /// Reads not yet sent (sent in order, as the request limit allows).
    unsent: usize,
}

impl Group {
    /// A key's current object, read once (the folder's current state).
    fn current(object: String, key: Option<Key>) -> Group {
        Group {
            fetches: vec![Fetch {
                object,
                version_id: None,
                last_modified: Millis::ZERO,
                got: None,
            }],
            baseline: Some(0),
            candidates: Vec::new(),
            key_source: None,
            markers: Vec::new(),
            beyond: false,
            key,
            outstanding: 0,
            unsent: 0,
        }
    }
}

#[derive(Debug, Clone)]
enum Tag {
    List,
    Versions,
    Get {
        group: u64,
        fetch: usize,
    },
    KeyVersions(String),
    Range(String),
    Batch,
    Put(Key),
    /// Overwrite: the current items of these keys, and the states to write.
    Observe(Vec<(Key, Option<Item>)>),
    /// Overwrite: a conditional write of this key.
    Replace(Key),
}

/// A streaming gzip decoder (every member of a multi-member file), fed bytes as they arrive.
type Inflater = flate2::write::MultiGzDecoder<Vec<u8>>;

/// Compressed bytes inflated at a time.
const INFLATE_SLICE: usize = 16 << 10;
/// Inflating pauses while this many write requests wait for room.
const MAX_QUEUED_WRITES: usize = 8;

/// No line of a dump is longer: an item is at most 400 KB, and its JSON a few times that.
const MAX_LINE_BYTES: usize = 4 << 20;

/// A dump or snapshot object being read in ranges: the inflater, the partial last line, the line count.
struct LineReader {
    object: String,
    offset: u64,
    /// Compressed bytes read and not yet inflated, and how far inflating has got.
    pending: Vec<u8>,
    pending_at: usize,
    /// The last range reached the object's end.
    at_end: bool,
    decoder: Inflater,
    carry: Vec<u8>,
    line: u64,
    requesting: bool,
}

impl std::fmt::Debug for LineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader")
            .field("object", &self.object)
            .field("offset", &self.offset)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl LineReader {
    fn new(object: String) -> LineReader {
        LineReader {
            object,
            offset: 0,
            pending: Vec::new(),
            pending_at: 0,
            at_end: false,
            decoder: Inflater::new(Vec::new()),
            carry: Vec::new(),
            line: 0,
            requesting: false,
        }
    }
}

/// A restore-table run.
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
    /// Named keys (`plan.keys`) not yet read, and those whose versions are being listed, by object name.
    key_queue: VecDeque<Key>,
    key_listings: BTreeMap<String, (Key, Vec<ObjectVersion>)>,
    /// Dumps and snapshots: objects still to read, and the one being read.
    line_objects: VecDeque<String>,
    /// The dump segments or snapshot being read (at most `parallel` at once).
    readers: Vec<LineReader>,
    batch: Vec<Write>,
    /// The keys of `batch`, to find a repeated one without deriving each write's key again.
    batch_keys: Vec<Key>,
    /// Overwrite: keys and their restored states, waiting to have their current items read.
    observe: Vec<(Key, Option<Item>)>,
    /// Writes waiting for room in the outbox (reads wait while there are any).
    writes: VecDeque<(Tag, TableOp)>,
    /// The write budget.
    limit: Option<RateLimit>,
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
            key_queue: VecDeque::new(),
            key_listings: BTreeMap::new(),
            line_objects: VecDeque::new(),
            readers: Vec::new(),
            batch: Vec::new(),
            batch_keys: Vec::new(),
            observe: Vec::new(),
            writes: VecDeque::new(),
            limit: plan.rate_limit.map(RateLimit::new),
            summary: RestoreSummary::default(),
            out: VecDeque::new(),
            last_progress: None,
            finished: false,
            plan,
        };
        if let Some(keys) = job.plan.keys.take() {
            if job.plan.from != RestoreFrom::Incremental {
                job.finish(Some(JobError::Plan(
                    "restoring named keys needs an incremental folder (a dump or snapshot is read whole)"
                        .into(),
                )));
                return job;
            }
            job.key_queue = keys.into();
            job.list_done = true;
        }
        if job.plan.from == RestoreFrom::Snapshot {
            job.line_objects.push_back(job.plan.prefix.clone());
            job.list_done = true;
        }
        if job.plan.undo_until.is_some() && (job.plan.at.is_none() || !job.plan.delete_absent) {
            job.finish(Some(JobError::Plan(
                "undoing a window needs its start (at) and deletes of keys created in it (delete_absent)"
                    .into(),
            )));
            return job;
        }
        if job.plan.at.is_some() && job.plan.from != RestoreFrom::Incremental {
            job.finish(Some(JobError::Plan(
                "a dump or a snapshot holds one state of each item: restoring at an instant needs an incremental folder"
                    .into(),
            )));
            return job;
        }
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
                    if self.plan.from == RestoreFrom::Dump {
                        self.line_objects.push_back(info.key);
                        continue;
                    }
                    self.summary.keys += 1;
                    self.ready.push_back(Group::current(info.key, None));
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
                    self.summary.oldest = Some(
                        self.summary
                            .oldest
                            .map_or(v.last_modified, |o| o.min(v.last_modified)),
                    );
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
            (
                Tag::KeyVersions(name),
                ObjectResult::Versions {
                    versions,
                    next_key_marker,
                    next_version_marker,
                },
            ) => {
                if let Some((_, found)) = self.key_listings.get_mut(&name) {
                    // The prefix is the whole object name; any longer name is another object.
                    for v in versions.into_iter().filter(|v| v.key == name) {
                        let oldest = &mut self.summary.oldest;
                        *oldest = Some(oldest.map_or(v.last_modified, |o| o.min(v.last_modified)));
                        found.push(v);
                    }
                }
                if next_key_marker.is_some() {
                    self.outbox.push_object(
                        Tag::KeyVersions(name.clone()),
                        ObjectOp::ListVersions {
                            prefix: name,
                            key_marker: next_key_marker,
                            version_marker: next_version_marker,
                        },
                    );
                } else if let Some((key, found)) = self.key_listings.remove(&name) {
                    if found.is_empty() {
                        // Never backed up: nothing is known of it, so nothing is written or deleted.
                        self.summary.keys += 1;
                        self.summary.absent += 1;
                    } else {
                        self.assemble_key(found, Some(key));
                    }
                }
                Ok(())
            }
            (Tag::Range(object), ObjectResult::Range { bytes, size }) => {
                self.on_range(&object, bytes, size);
                Ok(())
            }
            (Tag::Range(object), ObjectResult::NotFound) => Err(JobError::Store {
                op: "GetObject",
                error: StoreError::Fatal(format!("{object}: no such object")),
            }),
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {result:?} to {tag:?}"
            ))),
        }
    }

    /// Plans the reads for one key's versions (newest first) at the plan's instant.
    fn assemble(&mut self, versions: Vec<ObjectVersion>) {
        self.assemble_key(versions, None);
    }

    fn assemble_key(&mut self, versions: Vec<ObjectVersion>, key: Option<Key>) {
        let Some(at) = self.plan.at else {
            return;
        };
        self.summary.keys += 1;
        // Undo reads every version up to the window's end (plus the lag), to know what changed in it.
        let late = self
            .plan
            .undo_until
            .unwrap_or(at)
            .saturating_add(self.plan.lag_window);
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
            markers: Vec::new(),
            beyond: false,
            key: key.clone(),
            outstanding: 0,
            unsent: 0,
        };
        // Oldest first from here on.
        let oldest_first: Vec<&ObjectVersion> = versions.iter().rev().collect();
        let base = oldest_first.iter().rposition(|v| settled(v.last_modified) <= at);
        if let Some(b) = base {
            if !oldest_first[b].delete_marker {
                group.baseline = Some(group.fetches.len());
                group.fetches.push(fetch(oldest_first[b]));
            }
        }
        let after = base.map_or(0, |b| b + 1);
        for v in &oldest_first[after..] {
            if v.last_modified > late {
                group.beyond = true;
                break;
            }
            if v.delete_marker {
                group.markers.push(settled(v.last_modified));
            } else {
                group.candidates.push(group.fetches.len());
                group.fetches.push(fetch(v));
            }
        }
        if self.plan.delete_absent && group.fetches.is_empty() && key.is_none() {
            if let Some(v) = oldest_first.iter().rev().find(|v| !v.delete_marker) {
                group.key_source = Some(group.fetches.len());
                group.fetches.push(fetch(v));
            }
        }
        if group.fetches.is_empty() && key.is_some() && self.plan.undo_until.is_none() {
            // A named key with nothing to read at the instant: absent then, deleted if asked.
            match (key, self.plan.delete_absent) {
                (Some(key), true) if !versions.is_empty() => self.write(key, None),
                _ => self.summary.absent += 1,
            }
            return;
        }
        if group.fetches.is_empty() {
            // Nothing that old, only delete markers, and no key to delete by: absent (for an undo, a key
            // nothing can be read of is left alone).
            let Some(until) = self.plan.undo_until else {
                self.summary.absent += 1;
                return;
            };
            // Only delete markers to go by (nothing to write either way): a conflict if the key changed
            // both in the window and after it.
            let changed = group.markers.iter().any(|&t| t > at && t <= until);
            let later = group.beyond || group.markers.iter().any(|&t| t > until);
            if changed && later {
                self.summary.conflicts += 1;
                let object = versions.first().map(|v| v.key.clone()).unwrap_or_default();
                self.out
                    .push_back(Action::Report(RestoreEvent::Conflict { key: None, object }));
            } else {
                self.summary.unchanged += 1;
            }
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
                .map_or(settled(f.last_modified), |t| t.0)
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
        if let (Some(at), Some(until)) = (at, self.plan.undo_until) {
            let times: Vec<Millis> = g
                .candidates
                .iter()
                .filter_map(|&i| match &g.fetches[i].got {
                    Some(Some((_, meta))) => Some(change_time(&g.fetches[i], meta)),
                    _ => None,
                })
                .chain(g.markers.iter().copied())
                .collect();
            let changed = times.iter().any(|&t| t > at && t <= until);
            let later = g.beyond || times.iter().any(|&t| t > until);
            if !changed {
                self.summary.unchanged += 1;
                return;
            }
            if later {
                let known = g.fetches.iter().find_map(|f| match &f.got {
                    Some(Some((body, _))) => Some((f.clone(), body.clone())),
                    _ => None,
                });
                let key = g
                    .key
                    .clone()
                    .or_else(|| known.and_then(|(f, body)| self.parse(&f, &body)).map(|(k, _)| k));
                let object = g.fetches.first().map(|f| f.object.clone()).unwrap_or_default();
                self.summary.conflicts += 1;
                self.out
                    .push_back(Action::Report(RestoreEvent::Conflict { key, object }));
                return;
            }
        }
        let state = winner.and_then(|i| match &g.fetches[i].got {
            Some(Some((body, _))) => Some((i, body.clone())),
            _ => None,
        });
        match state {
            Some((i, body)) => match self.parse(&g.fetches[i], &body) {
                Some((key, item)) => {
                    if self.is_legacy(&g.fetches[i].object, &key) {
                        self.summary.legacy += 1;
                    }
                    self.write(key, Some(item));
                }
                None => self.summary.unreadable += 1,
            },
            // A named key is deleted only at an instant, where its versions tell a delete from a key never
            // backed up (a plain GET answers 404 for both).
            None if self.plan.delete_absent && g.key.is_some() && at.is_some() => {
                if let Some(key) = g.key.clone() {
                    self.write(key, None);
                }
            }
            None if self.plan.delete_absent => {
                // Any version read tells the key.
                let known = g.fetches.iter().find_map(|f| match &f.got {
                    Some(Some((body, _))) => Some((f, body)),
                    _ => None,
                });
                match known.map(|(f, body)| (f.object.clone(), self.parse(f, body))) {
                    Some((object, Some((key, _)))) if self.is_legacy(&object, &key) => {
                        self.summary.legacy += 1
                    }
                    Some((_, Some((key, _)))) => self.write(key, None),
                    Some((_, None)) => self.summary.unreadable += 1,
                    None => self.summary.absent += 1,
                }
            }
            None => self.summary.absent += 1,
        }
    }

    /// Whether a folder object's name is not its key's canonical name.
    fn is_legacy(&self, object: &str, key: &Key) -> bool {
        object
            .strip_prefix(self.plan.prefix.as_str())
            .is_none_or(|hash| hash != crate::backup_key::key_hash(key))
    }

    fn parse(&mut self, f: &Fetch, body: &[u8]) -> Option<(Key, Item)> {
        let object = match &f.version_id {
            Some(v) => format!("{} (version {v})", f.object),
            None => f.object.clone(),
        };
        self.parse_named(object, body)
    }

    fn parse_named(&mut self, object: String, body: &[u8]) -> Option<(Key, Item)> {
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

    /// A piece of the dump or snapshot object being read: kept compressed until [`Restore::inflate`] takes it.
    fn on_range(&mut self, object: &str, bytes: Vec<u8>, size: u64) {
        let Some(r) = self.readers.iter_mut().find(|r| r.object == object) else {
            return;
        };
        r.requesting = false;
        r.offset += bytes.len() as u64;
        r.at_end = r.offset >= size || bytes.is_empty();
        r.pending = bytes;
        r.pending_at = 0;
    }

    /// Inflates what was read, a slice at a time while the writes keep up (a megabyte of gzip can hold a
    /// hundred megabytes of items); finishes the object at its end.
    fn inflate(&mut self) {
        for r in std::mem::take(&mut self.readers) {
            if let Some(r) = self.inflate_one(r) {
                self.readers.push(r);
            }
        }
    }

    /// One reader's step; `None` once its object is finished (or cut short).
    fn inflate_one(&mut self, mut r: LineReader) -> Option<LineReader> {
        while r.pending_at < r.pending.len() && self.writes.len() < MAX_QUEUED_WRITES {
            let end = (r.pending_at + INFLATE_SLICE).min(r.pending.len());
            let slice = r.pending[r.pending_at..end].to_vec();
            r.pending_at = end;
            if let Err(e) = r.decoder.write_all(&slice) {
                self.cut(&r, &format!("not gzip, or corrupt: {e}"));
                return None;
            }
            let out = std::mem::take(r.decoder.get_mut());
            if !self.take_lines(&mut r, &out) {
                return None;
            }
        }
        if r.pending_at < r.pending.len() || !r.at_end {
            if r.pending_at >= r.pending.len() {
                r.pending = Vec::new();
                r.pending_at = 0;
            }
            return Some(r);
        }
        // The end of the object: the gzip stream must be complete (its CRC and length trailer read and
        // checked), and a last line may lack its newline. An empty object holds no lines.
        if r.offset == 0 {
            return None;
        }
        if let Err(e) = r.decoder.try_finish() {
            self.cut(&r, &format!("truncated: {e}"));
            return None;
        }
        let out = std::mem::take(r.decoder.get_mut());
        if !self.take_lines(&mut r, &out) {
            return None;
        }
        if !r.carry.trim_ascii().is_empty() {
            r.line += 1;
            let line = std::mem::take(&mut r.carry);
            self.line_item(&r, &line);
        }
        None
    }

    /// Writes every complete line of `data` (after what was carried over); `false` if the object was cut.
    fn take_lines(&mut self, r: &mut LineReader, data: &[u8]) -> bool {
        let mut rest = data;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            r.carry.extend_from_slice(&rest[..at]);
            rest = &rest[at + 1..];
            r.line += 1;
            let line = std::mem::take(&mut r.carry);
            if !line.trim_ascii().is_empty() {
                self.line_item(r, &line);
            }
        }
        r.carry.extend_from_slice(rest);
        if r.carry.len() > MAX_LINE_BYTES {
            r.line += 1;
            self.cut(
                r,
                &format!("a line longer than {MAX_LINE_BYTES} bytes (no item is that large)"),
            );
            return false;
        }
        true
    }

    fn line_item(&mut self, r: &LineReader, line: &[u8]) {
        self.summary.keys += 1;
        match self.parse_named(format!("{} line {}", r.object, r.line), line) {
            Some((key, item)) => self.write(key, Some(item)),
            None => self.summary.unreadable += 1,
        }
    }

    /// Stops reading an object that cannot be read on; what came before it was restored.
    fn cut(&mut self, r: &LineReader, error: &str) {
        self.summary.unreadable += 1;
        self.out.push_back(Action::Report(RestoreEvent::Unreadable {
            object: format!("{} after line {}", r.object, r.line),
            error: error.to_owned(),
        }));
    }

    fn write(&mut self, key: Key, item: Option<Item>) {
        match &item {
            Some(_) => self.summary.written += 1,
            None => self.summary.deleted += 1,
        }
        // A dry run reports what it would write; overwriting, it still reads the table to leave out keys
        // already in the restored state.
        if self.plan.dry_run && self.plan.mode != RestoreMode::Overwrite {
            self.out
                .push_back(Action::Report(RestoreEvent::Planned { key, item }));
            return;
        }
        match (item, self.plan.mode) {
            (item, RestoreMode::Overwrite) => {
                if self.observe.iter().any(|(k, _)| *k == key) {
                    self.flush();
                }
                self.observe.push((key, item));
                if self.observe.len() >= crate::io::MAX_BATCH_GET {
                    self.flush();
                }
            }
            (Some(item), RestoreMode::OnlyMissing) => self.writes.push_back((
                Tag::Put(key),
                TableOp::ConditionalWrite {
                    write: Write::Put(item),
                    expect: Expect::Absent,
                },
            )),
            (item, _) => {
                // BatchWriteItem refuses two writes to one key: a repeated key starts a new batch. (A dump
                // or snapshot holds each key once; if one did not, which of its lines wins is not defined.)
                if self.batch_keys.contains(&key) {
                    self.flush();
                }
                self.batch_keys.push(key.clone());
                self.batch.push(match item {
                    Some(item) => Write::Put(item),
                    None => Write::Delete(key),
                });
            }
        }
        if self.batch.len() >= MAX_BATCH_WRITE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.observe.is_empty() {
            let wanted = std::mem::take(&mut self.observe);
            let keys = wanted.iter().map(|(k, _)| k.clone()).collect();
            self.writes.push_back((
                Tag::Observe(wanted),
                TableOp::BatchGet {
                    keys,
                    consistent: true,
                },
            ));
        }
        if self.batch.is_empty() {
            return;
        }
        self.batch_keys.clear();
        let writes = std::mem::take(&mut self.batch);
        self.writes
            .push_back((Tag::Batch, TableOp::BatchWrite { writes }));
    }

    /// Takes back a write counted in [`Restore::write`] that did not happen.
    fn uncount(&mut self, put: bool) {
        if put {
            self.summary.written = self.summary.written.saturating_sub(1);
        } else {
            self.summary.deleted = self.summary.deleted.saturating_sub(1);
        }
    }

    /// Overwrite: the current items are in; write each key's restored state on condition that its item is
    /// still the one read.
    fn replace(&mut self, wanted: Vec<(Key, Option<Item>)>, found: &[Item]) {
        for (key, item) in wanted {
            let current = found
                .iter()
                .find(|i| self.plan.schema.key_of(i).is_ok_and(|k| k == key));
            if current == item.as_ref() {
                self.uncount(item.is_some());
                self.summary.current += 1;
                continue;
            }
            if self.plan.dry_run {
                self.out
                    .push_back(Action::Report(RestoreEvent::Planned { key, item }));
                continue;
            }
            let expect = match current {
                Some(c) => Expect::Equals(c.clone()),
                None => Expect::Absent,
            };
            let write = match item {
                Some(item) => Write::Put(item),
                None => Write::Delete(key.clone()),
            };
            self.writes
                .push_back((Tag::Replace(key), TableOp::ConditionalWrite { write, expect }));
        }
    }

    fn on_table(
        &mut self,
        request: Request<Tag>,
        result: Result<TableResult, StoreError>,
        now: Millis,
    ) -> Result<(), JobError> {
        match (&request.tag, result) {
            (_, Err(e)) => retry_paced(&mut self.outbox, &mut self.limit, request, e, now),
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
            (Tag::Put(_) | Tag::Replace(_), Ok(TableResult::Written { .. })) => Ok(()),
            (Tag::Replace(key), Ok(TableResult::ConditionFailed)) => {
                let put = matches!(
                    &request.op,
                    Op::Table(
                        _,
                        TableOp::ConditionalWrite {
                            write: Write::Put(_),
                            ..
                        }
                    )
                );
                self.uncount(put);
                self.summary.conflicts += 1;
                self.out.push_back(Action::Report(RestoreEvent::ChangedMeanwhile {
                    key: key.clone(),
                }));
                Ok(())
            }
            (Tag::Observe(wanted), Ok(TableResult::Items { items, unprocessed })) => {
                let (left, done): (Vec<_>, Vec<_>) =
                    wanted.iter().cloned().partition(|(k, _)| unprocessed.contains(k));
                let progressed = !done.is_empty();
                self.replace(done, &items);
                if left.is_empty() {
                    return Ok(());
                }
                let keys = left.iter().map(|(k, _)| k.clone()).collect();
                self.outbox.retry_leftover(
                    Tag::Observe(left),
                    Op::Table(
                        TableSlot::Primary,
                        TableOp::BatchGet {
                            keys,
                            consistent: true,
                        },
                    ),
                    request.attempt,
                    progressed,
                    now,
                )
            }
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
        self.send_writes(now);
        if self.plan.from != RestoreFrom::Incremental {
            self.inflate();
            self.send_writes(now);
            while self.readers.len() < self.plan.parallel.max(1) {
                let Some(object) = self.line_objects.pop_front() else {
                    break;
                };
                self.readers.push(LineReader::new(object));
            }
            for r in &mut self.readers {
                let drained = r.pending_at >= r.pending.len();
                if drained && !r.at_end && !r.requesting && self.writes.is_empty() && self.outbox.has_room() {
                    r.requesting = true;
                    self.outbox.push_object(
                        Tag::Range(r.object.clone()),
                        ObjectOp::GetRange {
                            key: r.object.clone(),
                            start: r.offset,
                            len: self.plan.chunk_bytes.max(1),
                        },
                    );
                }
            }
        }
        while self.ready.is_empty() && self.writes.is_empty() && self.outbox.has_room() {
            let Some(key) = self.key_queue.pop_front() else {
                break;
            };
            let name = format!("{}{}", self.plan.prefix, crate::backup_key::key_hash(&key));
            match self.plan.at {
                None => {
                    self.summary.keys += 1;
                    self.ready.push_back(Group::current(name, Some(key)));
                }
                Some(_) => {
                    self.key_listings.insert(name.clone(), (key, Vec::new()));
                    self.outbox.push_object(
                        Tag::KeyVersions(name.clone()),
                        ObjectOp::ListVersions {
                            prefix: name,
                            key_marker: None,
                            version_marker: None,
                        },
                    );
                }
            }
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
        let reading_done = self.list_done
            && self.key_queue.is_empty()
            && self.key_listings.is_empty()
            && self.ready.is_empty()
            && self.reading.is_empty()
            && self.line_objects.is_empty()
            && self.readers.is_empty();
        if reading_done && (!self.batch.is_empty() || !self.observe.is_empty()) {
            self.flush();
            self.send_writes(now);
        }
        // Whatever was queued above (a batch flushed by a repeated key, say) goes out while there is room.
        self.send_writes(now);
        self.progress(now, false);
        if reading_done && self.writes.is_empty() && self.outbox.is_idle() {
            self.progress(now, true);
            self.finish(None);
        }
    }

    /// Sends waiting writes while there is room and the write budget allows.
    fn send_writes(&mut self, now: Millis) {
        while self.outbox.has_room() {
            if self.limit.as_ref().is_some_and(|l| !l.ready(now)) {
                break;
            }
            let Some((tag, op)) = self.writes.pop_front() else {
                break;
            };
            if let Some(limit) = &mut self.limit {
                let items = match &op {
                    TableOp::BatchWrite { writes } => writes.len(),
                    TableOp::BatchGet { .. } => 0,
                    _ => 1,
                };
                limit.charge(items, now);
            }
            self.outbox.push_table(tag, TableSlot::Primary, op);
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

    /// A new budget, items per second, e.g. measured from the capacity the table reports consumed; the
    /// adaptive rate keeps any cut it is recovering from. No effect without a budget in the plan.
    pub fn retarget(&mut self, items_per_second: u32) {
        if let Some(limit) = &mut self.limit {
            limit.retarget(items_per_second);
        }
    }

    /// When to call [`Restore::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        let budget = self
            .limit
            .as_ref()
            .filter(|_| !self.writes.is_empty())
            .map(RateLimit::next_at);
        earliest(self.outbox.poll_timeout(), budget)
    }
}

crate::io::impl_job!(Restore, RestoreEvent, RestoreSummary, paced);
