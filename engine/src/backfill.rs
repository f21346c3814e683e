//! incremental-backfill: scans a table and writes each item to its incremental-backup object
//! `{prefix}/{table}/{key hash}`, body the item's compact DynamoDB-JSON (no trailing newline). Performs no
//! I/O.
//!
//! # Not overwriting a newer live backup
//!
//! The backup Lambda may be writing the same objects while the backfill runs. With `verify` on (the
//! default), each scanned key goes through the reconcile loop (`reconcile.rs`): GetObject (body and ETag),
//! then a strongly consistent read of the item, then — only if they differ — PutObject with `If-Match:
//! <etag>` (`If-None-Match: *` when there was no object) or DeleteObject if the item is gone, then a
//! consistent re-read of the item; a 412 or a changed item sends the key round again. That module's header
//! proves the object cannot end older than the item. An object already equal is not rewritten, so a
//! versioned bucket gains no needless version. With `verify` off, every scanned item is put unconditionally
//! (the original's behaviour: fastest, and safe only while no backup Lambda runs on the table).
//!
//! # The whole-table check (incremental-diff-table)
//!
//! With `repair` off the same reconcile loop only reports: each key whose object is missing or differs.
//! With `extraneous` on, a second pass lists the folder once the scan is done and reads every object to
//! learn its key: an object under its canonical name goes through the reconcile loop again, which reports
//! (and with `repair` deletes, still confirmed by a re-read of the item) an object whose item is gone; an
//! object whose name is not its key's canonical name (an older layout, see `backup_key`) is reported and
//! left alone for `incremental-rekey`; a body that is not an item is reported.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::backup_key;
use crate::codec::ddb_json;
use crate::diff::check_segments;
use crate::io::{
    Action, Input, JobError, ObjectCondition, ObjectOp, ObjectResult, TableOp, TableResult, TableSlot,
};
use crate::model::{Item, Key, KeySchema};
use crate::reconcile::{result_name, RTag, Reconciler, Target, Verdict};
use crate::retry::{earliest, retry_paced, Outbox, RateLimit, Request, RetryPolicy};
use crate::time::Millis;

/// What to back fill.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillPlan {
    /// The table's key schema.
    pub schema: KeySchema,
    /// The table's name, as it appears in object keys.
    pub table: String,
    /// The prefix in the bucket (joined as `{prefix}/{table}/…`).
    pub prefix: String,
    /// Check and write conditionally (see the module documentation); off: plain puts.
    pub verify: bool,
    /// With `verify`: write what differs (off: only report it).
    pub repair: bool,
    /// With `verify`: afterwards, check every object of the folder against the table.
    pub extraneous: bool,
    /// With `verify` and `repair`: write each scanned item with `If-None-Match: *` first, reading the
    /// object only when one exists (`Reconciler::add_presumed_absent`); dropped for the rest of the run
    /// once most such writes find an object (a backfill over an existing backup). Off for a check.
    pub presume_absent: bool,
    /// Segments to scan, all at once.
    pub segments: Vec<u32>,
    /// `TotalSegments`.
    pub total_segments: u32,
    /// Scan `Limit`.
    pub page_limit: Option<u32>,
    /// Most requests outstanding.
    pub max_in_flight: usize,
    /// Most items held before scanning pauses.
    pub max_buffered_items: usize,
    /// Rounds per key before giving up on it.
    pub max_rounds: u32,
    /// Items per second scanned.
    pub rate_limit: Option<u32>,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
    /// How often to report progress.
    pub progress_every: Option<Duration>,
}

impl BackfillPlan {
    /// A whole-table, verified backfill.
    pub fn new(schema: KeySchema, prefix: impl Into<String>, table: impl Into<String>) -> BackfillPlan {
        BackfillPlan {
            schema,
            table: table.into(),
            prefix: prefix.into(),
            verify: true,
            repair: true,
            extraneous: false,
            presume_absent: true,
            segments: vec![0],
            total_segments: 1,
            page_limit: None,
            max_in_flight: 32,
            max_buffered_items: 2000,
            max_rounds: 10,
            rate_limit: None,
            retry: RetryPolicy::default(),
            seed: 0,
            progress_every: Some(Duration::from_secs(10)),
        }
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillProgress {
    /// Items scanned.
    pub scanned: u64,
    /// Objects written or deleted.
    pub written: u64,
    /// Objects already up to date.
    pub unchanged: u64,
    /// Keys given up on.
    pub failed: u64,
    /// Items without an object.
    pub missing: u64,
    /// Items whose object holds another state.
    pub different: u64,
    /// Objects whose item is gone.
    pub extraneous: u64,
    /// Objects under a name that is not their key's canonical one, or that are not items.
    pub unreadable: u64,
}

/// What incremental-backfill reports.
#[derive(Debug, Clone, PartialEq)]
pub enum BackfillEvent {
    /// Counters so far.
    Progress(BackfillProgress),
    /// A key whose object is missing (`in_table` only), differs (both), or whose item is gone
    /// (`in_backup` only).
    Differs {
        /// The key.
        key: Key,
        /// The table has the item.
        in_table: bool,
        /// The backup has an object.
        in_backup: bool,
    },
    /// An object the check cannot take as the backup of a key: not an item of the table, or stored under
    /// a name that is not its key's canonical one (an older layout).
    Unreadable {
        /// The object.
        object: String,
        /// Why.
        error: String,
    },
    /// A key given up on after `attempts` rounds.
    Failed {
        /// The key.
        key: Key,
        /// Rounds tried.
        attempts: u32,
    },
}

/// How a backfill ended.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillSummary {
    /// Final counters.
    pub progress: BackfillProgress,
    /// Why it stopped early.
    pub error: Option<JobError>,
}

#[derive(Debug, Clone)]
enum Tag {
    Scan(usize),
    Put,
    List,
    Read(String),
    Reconcile(RTag),
}

/// The second pass over the folder's objects.
#[derive(Debug, Default)]
struct FolderPass {
    continuation: Option<String>,
    listing: bool,
    listed_all: bool,
    objects: VecDeque<String>,
    reading: usize,
}

impl From<RTag> for Tag {
    fn from(t: RTag) -> Tag {
        Tag::Reconcile(t)
    }
}

#[derive(Debug)]
struct Cursor {
    segment: u32,
    start: Option<Item>,
    scanning: bool,
    done: bool,
}

/// An incremental-backfill run.
///
/// - Create with [`Backfill::new`].
/// - Inputs: [`Backfill::handle`], [`Backfill::handle_timeout`].
/// - Outputs: [`Backfill::poll`] until `None` after each input, then [`Backfill::poll_timeout`].
#[derive(Debug)]
pub struct Backfill {
    plan: BackfillPlan,
    outbox: Outbox<Tag>,
    reconciler: Reconciler,
    cursors: Vec<Cursor>,
    /// Items waiting for a plain put (`verify` off).
    to_put: VecDeque<Item>,
    out: VecDeque<Action<BackfillEvent, BackfillSummary>>,
    progress: BackfillProgress,
    limit: Option<RateLimit>,
    last_progress: Option<Millis>,
    /// The folder pass, once the scan is done (`extraneous`).
    folder: Option<FolderPass>,
    /// Items sent through the reconcile loop presumed absent.
    presumed: u64,
    finished: bool,
}

impl Backfill {
    /// A backfill; poll it for the first scans.
    pub fn new(plan: BackfillPlan) -> Backfill {
        let mut job = Backfill {
            outbox: Outbox::new(plan.retry, plan.seed, plan.max_in_flight),
            reconciler: Reconciler::new(
                Target::Objects {
                    prefix: plan.prefix.clone(),
                    table: plan.table.clone(),
                },
                plan.schema.clone(),
                BTreeSet::new(),
                plan.repair,
                plan.max_rounds,
            ),
            cursors: plan
                .segments
                .iter()
                .map(|&segment| Cursor {
                    segment,
                    start: None,
                    scanning: false,
                    done: false,
                })
                .collect(),
            to_put: VecDeque::new(),
            out: VecDeque::new(),
            progress: BackfillProgress::default(),
            limit: plan.rate_limit.map(RateLimit::new),
            last_progress: None,
            folder: None,
            presumed: 0,
            finished: false,
            plan,
        };
        if let Err(e) = check_segments(&job.plan.segments, job.plan.total_segments) {
            job.finish(Some(e));
        } else {
            job.advance(Millis::ZERO);
        }
        job
    }

    fn finish(&mut self, error: Option<JobError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.out.push_back(Action::Done(BackfillSummary {
            progress: self.progress,
            error,
        }));
    }

    /// Feeds in a finished request.
    pub fn handle(&mut self, input: Input, now: Millis) {
        self.reconciler.set_now(now);
        if self.finished {
            return;
        }
        let outcome = match input {
            Input::Table { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(request) => match result {
                    Err(e) => retry_paced(&mut self.outbox, &mut self.limit, request, e, now),
                    Ok(result) => self.on_table(request, result, now),
                },
            },
            Input::Object { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(request) => match result {
                    Err(e) => retry_paced(&mut self.outbox, &mut self.limit, request, e, now),
                    Ok(result) => self.on_object(request, result),
                },
            },
        };
        match outcome {
            Ok(()) => self.advance(now),
            Err(e) => self.finish(Some(e)),
        }
    }

    fn on_table(&mut self, request: Request<Tag>, result: TableResult, now: Millis) -> Result<(), JobError> {
        match (request.tag, result) {
            (Tag::Scan(i), TableResult::Page { items, last_key }) => {
                let Some(c) = self.cursors.get_mut(i) else {
                    return Ok(());
                };
                c.scanning = false;
                c.done = last_key.is_none();
                c.start = last_key;
                self.progress.scanned += items.len() as u64;
                if let Some(limit) = &mut self.limit {
                    limit.charge(items.len(), now);
                }
                for item in items {
                    if self.plan.verify {
                        let key =
                            self.plan.schema.key_of(&item).map_err(|e| {
                                JobError::Protocol(format!("an item without a valid key: {e}"))
                            })?;
                        if self.presuming() {
                            self.presumed += 1;
                            self.reconciler.add_presumed_absent(key, item);
                        } else {
                            self.reconciler.add(key);
                        }
                    } else {
                        self.to_put.push_back(item);
                    }
                }
                Ok(())
            }
            (Tag::Reconcile(tag), result) => {
                self.reconciler
                    .handle_table(tag, request.attempt, result, &mut self.outbox, now)
            }
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {} to {tag:?}",
                result_name(&result)
            ))),
        }
    }

    fn on_object(&mut self, request: Request<Tag>, result: ObjectResult) -> Result<(), JobError> {
        match (request.tag, result) {
            (Tag::Put, ObjectResult::Put { .. }) => {
                self.progress.written += 1;
                Ok(())
            }
            (Tag::List, ObjectResult::Listing { objects, next }) => {
                if let Some(f) = &mut self.folder {
                    f.listing = false;
                    f.listed_all = next.is_none();
                    f.continuation = next;
                    f.objects.extend(objects.into_iter().map(|o| o.key));
                }
                Ok(())
            }
            (Tag::Read(object), result) => {
                if let Some(f) = &mut self.folder {
                    f.reading = f.reading.saturating_sub(1);
                }
                match result {
                    ObjectResult::Got { body, .. } => self.check_object(object, &body),
                    // Deleted meanwhile: nothing to check.
                    ObjectResult::NotFound => {}
                    other => {
                        return Err(JobError::Protocol(format!(
                            "unexpected answer {other:?} to a GetObject"
                        )))
                    }
                }
                Ok(())
            }
            (Tag::Reconcile(tag), result) => self.reconciler.handle_object(tag, result),
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {result:?} to {tag:?}"
            ))),
        }
    }

    /// Whether to presume the next scanned item's object absent: while asked to and while, after a first
    /// 64, fewer than half of the presumptions have missed.
    fn presuming(&self) -> bool {
        self.plan.presume_absent
            && self.plan.repair
            && (self.presumed < 64 || self.reconciler.presumed_misses() * 2 < self.presumed)
    }

    /// The folder pass: an object read, its key sent through the reconcile loop when its name is canonical.
    fn check_object(&mut self, object: String, body: &[u8]) {
        let parsed = std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|t| ddb_json::parse_item(t).map_err(|e| e.to_string()))
            .and_then(|item| self.plan.schema.key_of(&item).map_err(|e| e.to_string()));
        let error = match parsed {
            Ok(key) => {
                let canonical = backup_key::object_key(&self.plan.prefix, &self.plan.table, &key);
                if canonical == object {
                    self.reconciler.add(key);
                    return;
                }
                format!(
                    "not the canonical name of its key (that is {canonical}); incremental-rekey migrates it"
                )
            }
            Err(e) => format!("not an item of the table: {e}"),
        };
        self.progress.unreadable += 1;
        self.out
            .push_back(Action::Report(BackfillEvent::Unreadable { object, error }));
    }

    /// Backoffs and the rate limit.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.reconciler.set_now(now);
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
        while let Some(v) = self.reconciler.poll_verdict() {
            let second_pass = self.folder.is_some();
            match v {
                // The folder pass re-checks keys the scan saw: only what it finds new counts.
                Verdict::Same { .. } if second_pass => {}
                Verdict::Same { .. } => self.progress.unchanged += 1,
                // A key of the table was judged by the scan; the folder pass adds only objects whose item
                // is gone (a key that changed since is rewritten all the same, when repairing).
                Verdict::Differs { in_primary: true, .. } if second_pass => {}
                Verdict::Differs {
                    key,
                    in_primary,
                    in_target,
                } => {
                    match (in_primary, in_target) {
                        (true, false) => self.progress.missing += 1,
                        (true, true) => self.progress.different += 1,
                        _ => self.progress.extraneous += 1,
                    }
                    self.out.push_back(Action::Report(BackfillEvent::Differs {
                        key,
                        in_table: in_primary,
                        in_backup: in_target,
                    }));
                }
                Verdict::Repaired { .. } => self.progress.written += 1,
                Verdict::Failed { key, attempts } => {
                    self.progress.failed += 1;
                    self.out
                        .push_back(Action::Report(BackfillEvent::Failed { key, attempts }));
                }
            }
        }
        self.reconciler.pump(&mut self.outbox);
        while self.outbox.has_room() {
            let Some(item) = self.to_put.pop_front() else {
                break;
            };
            let Ok(key) = self.plan.schema.key_of(&item) else {
                return self.finish(Some(JobError::Protocol("an item without a valid key".into())));
            };
            self.outbox.push_object(
                Tag::Put,
                ObjectOp::Put {
                    key: backup_key::object_key(&self.plan.prefix, &self.plan.table, &key),
                    body: ddb_json::item_to_string(&item).into_bytes(),
                    metadata: crate::stream::change_time_metadata(now),
                    condition: ObjectCondition::None,
                },
            );
        }
        let held = self.to_put.len() + self.reconciler.len();
        for i in 0..self.cursors.len() {
            if !self.outbox.has_room() || held >= self.plan.max_buffered_items {
                break;
            }
            let c = &self.cursors[i];
            if c.scanning || c.done {
                continue;
            }
            if let Some(limit) = &self.limit {
                if !limit.ready(now) {
                    break;
                }
            }
            let limit = match (self.plan.page_limit, &self.limit) {
                (Some(p), Some(r)) => Some(p.min(r.per_second())),
                (None, Some(r)) => Some(r.per_second()),
                (p, None) => p,
            };
            let op = TableOp::Scan {
                segment: c.segment,
                total_segments: self.plan.total_segments,
                start: c.start.clone(),
                limit,
                consistent: false,
            };
            self.cursors[i].scanning = true;
            self.outbox.push_table(Tag::Scan(i), TableSlot::Primary, op);
        }
        if let Some(every) = self.plan.progress_every {
            match self.last_progress {
                None => self.last_progress = Some(now),
                Some(last) if now.since(last) >= every => {
                    self.last_progress = Some(now);
                    self.out
                        .push_back(Action::Report(BackfillEvent::Progress(self.progress)));
                }
                Some(_) => {}
            }
        }
        let scanned = self.cursors.iter().all(|c| c.done)
            && self.to_put.is_empty()
            && self.reconciler.is_empty()
            && self.outbox.is_idle();
        if scanned && self.plan.verify && self.plan.extraneous && self.folder.is_none() {
            self.folder = Some(FolderPass::default());
        }
        if let Some(f) = &mut self.folder {
            while self.outbox.has_room() && self.reconciler.len() < self.plan.max_buffered_items {
                let Some(object) = f.objects.pop_front() else {
                    break;
                };
                f.reading += 1;
                self.outbox.push_object(
                    Tag::Read(object.clone()),
                    ObjectOp::Get {
                        key: object,
                        version_id: None,
                    },
                );
            }
            if !f.listing && !f.listed_all && f.objects.is_empty() && self.outbox.has_room() {
                f.listing = true;
                // The folder the objects' names start with (`object_key`'s joining, empty prefix included).
                let prefix = format!("{}/{}/", self.plan.prefix, self.plan.table);
                self.outbox.push_object(
                    Tag::List,
                    ObjectOp::List {
                        prefix,
                        continuation: f.continuation.clone(),
                    },
                );
            }
        }
        let folder_done = self
            .folder
            .as_ref()
            .is_none_or(|f| f.listed_all && f.objects.is_empty() && f.reading == 0);
        if scanned && folder_done && (self.folder.is_some() || !self.plan.extraneous || !self.plan.verify) {
            self.out
                .push_back(Action::Report(BackfillEvent::Progress(self.progress)));
            self.finish(None);
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<BackfillEvent, BackfillSummary>> {
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

    /// When to call [`Backfill::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        let waiting = self.cursors.iter().any(|c| !c.scanning && !c.done);
        let rate = self.limit.as_ref().filter(|_| waiting).map(RateLimit::next_at);
        earliest(self.outbox.poll_timeout(), rate)
    }
}

crate::io::impl_job!(Backfill, BackfillEvent, BackfillSummary, paced);

/// The object key of an item's backup, for drivers and tests: `{prefix}/{table}/{key hash}`.
pub fn object_key_of(plan: &BackfillPlan, key: &Key) -> String {
    backup_key::object_key(&plan.prefix, &plan.table, key)
}
