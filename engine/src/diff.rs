//! diff-tables (and `--repair`, `--backfill`): compares a primary and a replica table segment by segment,
//! reports each differing key, and optionally brings the replica up to date. Performs no I/O.
//!
//! Pass 1 scans the primary and reads the same keys from the replica (BatchGetItem, 100 keys at a time);
//! pass 2 (skipped with `backfill`) scans the replica and reads the same keys from the primary.
//!
//! By default (`merge_scans`) both passes run as one sweep: the two tables are scanned side by side, and an
//! item is compared with the other table's item of the same key when that one comes by in the other scan,
//! with no read of its own. Tables with one key schema scan in the same order on DynamoDB and on the
//! emulator (both order by a hash of the partition key), so a pair usually meets within a page or two. An
//! item still waiting when its side holds half of `max_buffered_items`, or when the other scan has ended, is
//! read from the other table by BatchGetItem as in the two-pass order, so the sweep is correct whatever the
//! orders and never reads more than the two passes would. Its reports and counts are the two passes':
//! pass 1's (`[missing]`, `[different]`) as they are found, pass 2's (`[extraneous]`, `[different]` again
//! unless repaired) held and reported after pass 1's `[discrepancies]` line.
//!
//! A key that looks different (canonical equality, ignored attributes left out) is not reported yet: it goes through
//! the reconcile loop (`reconcile.rs`), which reads the replica and then the primary strongly consistently,
//! reports the key only if they still differ, and with `repair` writes the primary's state to the replica
//! with a write conditional on the replica state it saw, then re-reads the primary. That module's header
//! explains why a repair racing live replication cannot leave the replica older than the primary or
//! resurrect a deleted item.
//!
//! In backfill mode every primary item is reported as `[backfill]` and goes through the same loop with
//! writing on, so an item already equal in the replica is not written again.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::io::{
    Action, Input, JobError, ObjectResult, StoreError, TableOp, TableResult, TableSlot, MAX_BATCH_GET,
};
use crate::model::{Item, Key, KeySchema};
use crate::reconcile::{result_name, RTag, Reconciler, Target, Verdict};
use crate::retry::{earliest, retry_paced, Op, Outbox, RateLimit, Request, RetryPolicy};
use crate::time::Millis;

pub use crate::reconcile::equal_ignoring;

/// What to compare and how.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffPlan {
    /// Both tables' key schema.
    pub schema: KeySchema,
    /// The segments this job scans, all at once (`--segment s` gives `[s]`; N in-process workers give
    /// several). Each must be below `total_segments`.
    pub segments: Vec<u32>,
    /// `TotalSegments` (`--segments`; 1 for a whole-table scan).
    pub total_segments: u32,
    /// Write the primary's state to the replica for each differing key.
    pub repair: bool,
    /// Only pass 1; every primary item is reported `[backfill]` and written if it differs.
    pub backfill: bool,
    /// Attributes left out of the comparison (`--ignore`).
    pub ignore: BTreeSet<String>,
    /// Scan `Limit` per page; `None` lets DynamoDB fill 1 MB pages.
    pub page_limit: Option<u32>,
    /// Scan with `ConsistentRead` (differences are rechecked consistently either way).
    pub consistent_scan: bool,
    /// Most requests outstanding at once.
    pub max_in_flight: usize,
    /// Most scanned items held (awaiting comparison or repair) before scanning pauses; one page more can be
    /// in flight per segment. In a merged sweep each side's items waiting for their other half are bounded
    /// apart from these, at half of it (plus a page).
    pub max_buffered_items: usize,
    /// Both passes as one sweep of the two tables side by side (the module's header); `false` scans the
    /// primary, then the replica. No effect with `backfill`.
    pub merge_scans: bool,
    /// Rounds of the repair loop per key before it is reported as failed.
    pub max_repair_rounds: u32,
    /// Retries of throttled and failed requests.
    pub retry: RetryPolicy,
    /// Seed of the backoff jitter.
    pub seed: u64,
    /// Items per second scanned, over both tables (`None`: as fast as allowed).
    pub rate_limit: Option<u32>,
    /// How often to report progress (always once at the end).
    pub progress_every: Option<Duration>,
}

impl DiffPlan {
    /// A whole-table diff, no repair, with sensible limits.
    pub fn new(schema: KeySchema) -> DiffPlan {
        DiffPlan {
            schema,
            segments: vec![0],
            total_segments: 1,
            repair: false,
            backfill: false,
            ignore: BTreeSet::new(),
            page_limit: None,
            consistent_scan: false,
            max_in_flight: 16,
            max_buffered_items: 4000,
            merge_scans: true,
            max_repair_rounds: 10,
            retry: RetryPolicy::default(),
            seed: 0,
            rate_limit: None,
            progress_every: Some(Duration::from_secs(10)),
        }
    }
}

/// Which scan a report belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pass {
    /// Pass 1: the primary is scanned.
    Primary,
    /// Pass 2: the replica is scanned.
    Replica,
}

impl Pass {
    fn index(self) -> usize {
        match self {
            Pass::Primary => 0,
            Pass::Replica => 1,
        }
    }

    fn other(self) -> Pass {
        match self {
            Pass::Primary => Pass::Replica,
            Pass::Replica => Pass::Primary,
        }
    }

    /// The table this pass scans.
    fn slot(self) -> TableSlot {
        match self {
            Pass::Primary => TableSlot::Primary,
            Pass::Replica => TableSlot::Replica,
        }
    }
}

/// Most pass-2 reports a merged sweep holds back until pass 1's count is out; past it they are reported as
/// they come (still counted in pass 2), so memory stays bounded when a replica holds millions of extraneous
/// items.
pub const MAX_HELD_REPORTS: usize = 100_000;

/// Counters, reported as progress and in the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffProgress {
    /// Items scanned, both passes.
    pub scanned: u64,
    /// Items compared against the other table.
    pub compared: u64,
    /// Keys reported as different, missing, extraneous or backfilled.
    pub discrepancies: u64,
    /// Keys repaired (replica written and the primary re-read unchanged).
    pub repaired: u64,
    /// Keys whose repair gave up.
    pub repair_failures: u64,
}

/// What diff-tables reports.
#[derive(Debug, Clone, PartialEq)]
pub enum DiffEvent {
    /// In the primary, not the replica: `[missing]`.
    Missing(Key),
    /// In both, different: `[different]`.
    Different(Key),
    /// In the replica, not the primary: `[extraneous]`.
    Extraneous(Key),
    /// Backfill mode: a primary item copied to the replica (or already there): `[backfill]`.
    Backfill(Key),
    /// A key whose repair was written and confirmed.
    Repaired(Key),
    /// A key whose repair gave up after `attempts` rounds (the primary kept changing, or the replica).
    RepairFailed {
        /// The key.
        key: Key,
        /// Rounds tried.
        attempts: u32,
    },
    /// The end of a pass: `[discrepancies] N`.
    Discrepancies {
        /// Which pass.
        pass: Pass,
        /// Keys reported in it.
        count: u64,
    },
    /// Counters so far: `[progress]`.
    Progress(DiffProgress),
}

/// How a diff ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffSummary {
    /// Final counters.
    pub progress: DiffProgress,
    /// Discrepancies per pass run.
    pub passes: Vec<(Pass, u64)>,
    /// Why the job stopped early, if it did.
    pub error: Option<JobError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CursorState {
    Idle,
    Scanning,
    Done,
}

#[derive(Debug)]
struct Cursor {
    /// The table it scans.
    side: Pass,
    segment: u32,
    start: Option<Item>,
    state: CursorState,
}

#[derive(Debug, Clone)]
enum Tag {
    Scan(usize),
    /// Items scanned on one side whose keys are being read from the other table.
    Compare(Pass, Vec<Item>),
    Reconcile(RTag),
}

/// A merged sweep's items of one side that have not met their other half yet, oldest first.
#[derive(Debug, Default)]
struct Waiting {
    items: std::collections::BTreeMap<Key, (u64, Item)>,
    order: std::collections::BTreeMap<u64, Key>,
    next: u64,
}

impl Waiting {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn insert(&mut self, key: Key, item: Item) {
        let seq = self.next;
        self.next += 1;
        if let Some((old, _)) = self.items.insert(key.clone(), (seq, item)) {
            self.order.remove(&old);
        }
        self.order.insert(seq, key);
    }

    fn take(&mut self, key: &Key) -> Option<Item> {
        let (seq, item) = self.items.remove(key)?;
        self.order.remove(&seq);
        Some(item)
    }

    fn pop_oldest(&mut self) -> Option<Item> {
        let (_, key) = self.order.pop_first()?;
        self.items.remove(&key).map(|(_, item)| item)
    }
}

/// Where a merged sweep's suspect key came from, and what is still owed for it.
#[derive(Debug, Default)]
struct Origin {
    /// Found from the primary's scan (counts in pass 1), from the replica's (counts in pass 2); by
    /// `Pass::index`.
    found: [bool; 2],
    /// Pass 2's report of a key both scans saw, waiting for the repair's outcome: a repaired key is equal
    /// by the time pass 2 would have looked, a failed one is not.
    second: Option<DiffEvent>,
    /// Found again while its check was running (by `Pass::index`): checked again after it.
    again: [bool; 2],
}

impl From<RTag> for Tag {
    fn from(t: RTag) -> Tag {
        Tag::Reconcile(t)
    }
}

/// A diff-tables run, as a state machine.
///
/// - Create it with [`Diff::new`]; it queues its first scans at once.
/// - Inputs: [`Diff::handle`] (a finished request), [`Diff::handle_timeout`] (a backoff or the rate limit
///   elapsed).
/// - Outputs: [`Diff::poll`] until `None` after every input: table requests, reports, and finally
///   [`Action::Done`]; then [`Diff::poll_timeout`] for when to call `handle_timeout`.
#[derive(Debug)]
pub struct Diff {
    plan: DiffPlan,
    outbox: Outbox<Tag>,
    reconciler: Reconciler,
    pass: Pass,
    /// Both tables scanned at once (`merge_scans`, not backfill).
    merged: bool,
    cursors: Vec<Cursor>,
    /// Merged sweep: scanned items not yet paired, per side.
    waiting: [Waiting; 2],
    /// Scanned items to read from the other table, per side scanned.
    to_compare: [VecDeque<Item>; 2],
    comparing: usize,
    /// Merged sweep: keys in the reconciler, and which scans found them.
    origins: std::collections::BTreeMap<Key, Origin>,
    /// Merged sweep: pass 2's reports, held until pass 1's count is out.
    held_reports: VecDeque<DiffEvent>,
    out: VecDeque<Action<DiffEvent, DiffSummary>>,
    progress: DiffProgress,
    pass_counts: [u64; 2],
    passes: Vec<(Pass, u64)>,
    limit: Option<RateLimit>,
    last_progress: Option<Millis>,
    finished: bool,
}

impl Diff {
    /// A diff of the plan's segments; poll it for the first requests.
    pub fn new(plan: DiffPlan) -> Diff {
        let writes = plan.repair || plan.backfill;
        let mut diff = Diff {
            outbox: Outbox::new(plan.retry, plan.seed, plan.max_in_flight),
            reconciler: Reconciler::new(
                Target::Replica,
                plan.schema.clone(),
                plan.ignore.clone(),
                writes,
                plan.max_repair_rounds,
            ),
            pass: Pass::Primary,
            merged: plan.merge_scans && !plan.backfill,
            cursors: Vec::new(),
            waiting: Default::default(),
            to_compare: Default::default(),
            comparing: 0,
            origins: std::collections::BTreeMap::new(),
            held_reports: VecDeque::new(),
            out: VecDeque::new(),
            progress: DiffProgress::default(),
            pass_counts: [0; 2],
            passes: Vec::new(),
            limit: plan.rate_limit.map(RateLimit::new),
            last_progress: None,
            finished: false,
            plan,
        };
        if let Err(e) = check_segments(&diff.plan.segments, diff.plan.total_segments) {
            diff.fail(e);
            return diff;
        }
        diff.start_pass(Pass::Primary);
        diff.advance(Millis::ZERO);
        diff
    }

    /// Counters so far.
    pub fn progress(&self) -> DiffProgress {
        self.progress
    }

    /// Cursors for `pass` (both tables' in a merged sweep, which is all of pass 1).
    fn start_pass(&mut self, pass: Pass) {
        self.pass = pass;
        let sides: &[Pass] = if self.merged {
            &[Pass::Primary, Pass::Replica]
        } else {
            std::slice::from_ref(&self.pass)
        };
        let mut cursors = Vec::new();
        for &side in sides {
            for &segment in &self.plan.segments {
                cursors.push(Cursor {
                    side,
                    segment,
                    start: None,
                    state: CursorState::Idle,
                });
            }
        }
        self.cursors = cursors;
    }

    /// Items held: waiting for their other half, or for a read, or in a recheck.
    fn held(&self) -> usize {
        self.waiting[0].len() + self.waiting[1].len() + self.in_hand()
    }

    /// Items held for a read or a recheck.
    fn in_hand(&self) -> usize {
        self.to_compare[0].len() + self.to_compare[1].len() + self.comparing + self.reconciler.len()
    }

    /// A merged sweep's bound on one side's waiting items.
    fn half_buffer(&self) -> usize {
        (self.plan.max_buffered_items / 2).max(1)
    }

    /// Whether every scan of `side` has ended.
    fn scanned_all(&self, side: Pass) -> bool {
        self.cursors
            .iter()
            .filter(|c| c.side == side)
            .all(|c| c.state == CursorState::Done)
    }

    /// A key whose items differ (or one is missing), found from `side`'s scan: rechecked by the reconciler.
    fn suspect(&mut self, key: Key, side: Pass) {
        let mut from = [false; 2];
        from[side.index()] = true;
        self.suspect_from(key, from);
    }

    /// The same, found from the scans marked in `from` (by `Pass::index`).
    fn suspect_from(&mut self, key: Key, from: [bool; 2]) {
        if !self.merged {
            self.reconciler.add(key);
            return;
        }
        match self.origins.get_mut(&key) {
            // Its check is running: check it once more afterwards, counting what that finds for `from`.
            Some(origin) => origin.again = [origin.again[0] || from[0], origin.again[1] || from[1]],
            None => {
                let origin = Origin {
                    found: from,
                    ..Origin::default()
                };
                self.origins.insert(key.clone(), origin);
                self.reconciler.add(key);
            }
        }
    }

    /// A merged sweep's scanned item: compared with its other half if that is waiting, else it waits.
    fn pair(&mut self, side: Pass, key: Key, item: Item) {
        let Some(other) = self.waiting[side.other().index()].take(&key) else {
            self.waiting[side.index()].insert(key, item);
            return;
        };
        self.progress.compared += 2;
        if !equal_ignoring(Some(&item), Some(&other), &self.plan.ignore) {
            self.suspect_from(key, [true, true]);
        }
    }

    /// Moves waiting items that can no longer meet their other half in time to the BatchGetItem path: all of
    /// a side whose other scan has ended, and the oldest of both sides while both hold half the buffer.
    fn unpair(&mut self) {
        let half = self.half_buffer();
        for side in [Pass::Primary, Pass::Replica] {
            if self.scanned_all(side.other()) {
                let i = side.index();
                while let Some(item) = self.waiting[i].pop_oldest() {
                    self.to_compare[i].push_back(item);
                }
            }
        }
        while self.waiting[0].len() >= half && self.waiting[1].len() >= half {
            for i in 0..2 {
                for _ in 0..MAX_BATCH_GET {
                    match self.waiting[i].pop_oldest() {
                        Some(item) => self.to_compare[i].push_back(item),
                        None => break,
                    }
                }
            }
        }
    }

    fn fail(&mut self, error: JobError) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.out.push_back(Action::Done(DiffSummary {
            progress: self.progress,
            passes: self.passes.clone(),
            error: Some(error),
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
                Some(_) => Err(unexpected_object(result)),
            },
        };
        if let Err(e) = outcome {
            self.fail(e);
            return;
        }
        self.advance(now);
    }

    /// Backoffs and the rate limit: call at [`Diff::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Millis) {
        self.reconciler.set_now(now);
        if self.finished {
            return;
        }
        self.outbox.handle_timeout(now);
        self.advance(now);
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<DiffEvent, DiffSummary>> {
        if let Some(action) = self.out.pop_front() {
            return Some(action);
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

    /// When to call [`Diff::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        let scan_waits = self.cursors.iter().any(|c| c.state == CursorState::Idle);
        let rate = self.limit.as_ref().filter(|_| scan_waits).map(RateLimit::next_at);
        earliest(self.outbox.poll_timeout(), rate)
    }

    fn on_table(&mut self, request: Request<Tag>, result: TableResult, now: Millis) -> Result<(), JobError> {
        match (request.tag, result) {
            (Tag::Scan(i), TableResult::Page { items, last_key }) => {
                let Some(cursor) = self.cursors.get_mut(i) else {
                    return Ok(());
                };
                cursor.state = if last_key.is_some() {
                    CursorState::Idle
                } else {
                    CursorState::Done
                };
                cursor.start = last_key;
                let side = cursor.side;
                self.progress.scanned += items.len() as u64;
                if let Some(limit) = &mut self.limit {
                    limit.charge(items.len(), now);
                }
                if self.plan.backfill {
                    for item in items {
                        let key = self.key_of(&item)?;
                        self.report(Pass::Primary, DiffEvent::Backfill(key.clone()));
                        self.reconciler.add(key);
                    }
                } else if self.merged {
                    for item in items {
                        let key = self.key_of(&item)?;
                        self.pair(side, key, item);
                    }
                } else {
                    self.to_compare[side.index()].extend(items);
                }
                Ok(())
            }
            (Tag::Compare(side, scanned), TableResult::Items { items, unprocessed }) => {
                self.comparing = self.comparing.saturating_sub(scanned.len());
                let mut others = std::collections::BTreeMap::new();
                for item in items {
                    others.insert(self.key_of(&item)?, item);
                }
                let unprocessed: BTreeSet<Key> = unprocessed.into_iter().collect();
                let mut left = Vec::new();
                let mut answered = 0usize;
                for item in scanned {
                    let key = self.key_of(&item)?;
                    if unprocessed.contains(&key) {
                        left.push(item);
                        continue;
                    }
                    answered += 1;
                    self.progress.compared += 1;
                    let other = others.remove(&key);
                    if !equal_ignoring(Some(&item), other.as_ref(), &self.plan.ignore) {
                        self.suspect(key, side);
                    }
                }
                if !left.is_empty() {
                    let progressed = answered > 0;
                    let keys = left
                        .iter()
                        .map(|i| self.key_of(i))
                        .collect::<Result<Vec<_>, _>>()?;
                    self.comparing += left.len();
                    let op = Op::Table(
                        side.other().slot(),
                        TableOp::BatchGet {
                            keys,
                            consistent: false,
                        },
                    );
                    self.outbox.retry_leftover(
                        Tag::Compare(side, left),
                        op,
                        request.attempt,
                        progressed,
                        now,
                    )?;
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

    fn key_of(&self, item: &Item) -> Result<Key, JobError> {
        self.plan
            .schema
            .key_of(item)
            .map_err(|e| JobError::Protocol(format!("an item without a valid key: {e}")))
    }

    /// Moves everything forward: verdicts into reports, then new requests while there is room.
    fn advance(&mut self, now: Millis) {
        if self.finished {
            return;
        }
        while let Some(verdict) = self.reconciler.poll_verdict() {
            self.on_verdict(verdict);
        }
        self.reconciler.pump(&mut self.outbox);
        if self.merged {
            self.unpair();
        }
        let half = self.half_buffer();
        // The next page is asked for before the compares take the free room: while the emulator or DynamoDB
        // serves a page, the compares of the last one keep the pipe full. (Compares first left the scan to
        // wait until every compare of a page had been sent, and both sides idle while the page was read.)
        for i in 0..self.cursors.len() {
            // A merged sweep's items waiting for their other half are bounded per side instead (below): a
            // side's next page is what pairs off the other side's waiting items.
            if !self.outbox.has_room() || self.in_hand() >= self.plan.max_buffered_items {
                break;
            }
            if self.cursors[i].state != CursorState::Idle {
                continue;
            }
            // A merged sweep's side that is ahead waits for the other to catch up with its items.
            if self.merged && self.waiting[self.cursors[i].side.index()].len() >= half {
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
            let cursor = &mut self.cursors[i];
            cursor.state = CursorState::Scanning;
            let op = TableOp::Scan {
                segment: cursor.segment,
                total_segments: self.plan.total_segments,
                start: cursor.start.clone(),
                limit,
                consistent: self.plan.consistent_scan,
            };
            let slot = cursor.side.slot();
            self.outbox.push_table(Tag::Scan(i), slot, op);
        }
        for side in [Pass::Primary, Pass::Replica] {
            if let Err(e) = self.queue_compares(side) {
                return self.fail(e);
            }
        }
        self.report_progress(now);
        let pass_over = self.cursors.iter().all(|c| c.state == CursorState::Done)
            && self.held() == 0
            && self.origins.is_empty()
            && self.reconciler.is_empty()
            && self.outbox.is_idle();
        if pass_over {
            self.end_pass(now);
        }
    }

    /// BatchGetItems of the other table for `side`'s scanned items, while there is room.
    fn queue_compares(&mut self, side: Pass) -> Result<(), JobError> {
        let queue = side.index();
        while self.outbox.has_room() && !self.to_compare[queue].is_empty() {
            let n = MAX_BATCH_GET.min(self.to_compare[queue].len());
            let batch: Vec<Item> = self.to_compare[queue].drain(..n).collect();
            let keys = batch
                .iter()
                .map(|i| self.key_of(i))
                .collect::<Result<Vec<_>, _>>()?;
            self.comparing += batch.len();
            self.outbox.push_table(
                Tag::Compare(side, batch),
                side.other().slot(),
                TableOp::BatchGet {
                    keys,
                    consistent: false,
                },
            );
        }
        Ok(())
    }

    fn report_progress(&mut self, now: Millis) {
        if let Some(every) = self.plan.progress_every {
            match self.last_progress {
                None => self.last_progress = Some(now),
                Some(last) if now.since(last) >= every => {
                    self.last_progress = Some(now);
                    self.out
                        .push_back(Action::Report(DiffEvent::Progress(self.progress)));
                }
                Some(_) => {}
            }
        }
    }

    /// The end of a pass (of both, in a merged sweep): its count, then the next pass or the end.
    fn end_pass(&mut self, now: Millis) {
        let pass = self.pass;
        self.push_count(pass);
        if self.merged {
            // Pass 2 was swept with pass 1: its held reports, then its count.
            while let Some(event) = self.held_reports.pop_front() {
                self.out.push_back(Action::Report(event));
            }
            self.push_count(Pass::Replica);
        } else if pass == Pass::Primary && !self.plan.backfill {
            self.start_pass(Pass::Replica);
            return self.advance(now);
        }
        self.finished = true;
        self.out
            .push_back(Action::Report(DiffEvent::Progress(self.progress)));
        self.out.push_back(Action::Done(DiffSummary {
            progress: self.progress,
            passes: self.passes.clone(),
            error: None,
        }));
    }

    fn push_count(&mut self, pass: Pass) {
        let count = self.pass_counts[pass.index()];
        self.out
            .push_back(Action::Report(DiffEvent::Discrepancies { pass, count }));
        self.passes.push((pass, count));
    }

    /// Counts a report in `pass` and reports it, or holds it if it is a merged sweep's pass 2.
    fn report(&mut self, pass: Pass, event: DiffEvent) {
        self.progress.discrepancies += 1;
        self.pass_counts[pass.index()] += 1;
        if self.merged && pass == Pass::Replica && self.held_reports.len() < MAX_HELD_REPORTS {
            self.held_reports.push_back(event);
        } else {
            self.out.push_back(Action::Report(event));
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Same { key } => self.checked(&key, false),
            Verdict::Differs {
                key,
                in_primary,
                in_target,
            } => {
                if self.plan.backfill {
                    return;
                }
                let event = match (in_primary, in_target) {
                    (true, false) => DiffEvent::Missing(key.clone()),
                    (false, true) => DiffEvent::Extraneous(key.clone()),
                    _ => DiffEvent::Different(key.clone()),
                };
                if !self.merged {
                    return self.report(self.pass, event);
                }
                let [primary, replica] = self.origins.get(&key).map_or([false; 2], |o| o.found);
                if primary {
                    self.report(Pass::Primary, event.clone());
                }
                if replica && !primary {
                    // The replica's scan's own finding.
                    self.report(Pass::Replica, event);
                } else if replica && in_target {
                    // Both scans saw it; pass 2 (which only sees keys the replica holds) counts it again,
                    // unless a repair makes it equal first.
                    if self.plan.repair {
                        if let Some(o) = self.origins.get_mut(&key) {
                            o.second = Some(event);
                        }
                    } else {
                        self.report(Pass::Replica, event);
                    }
                }
                if !self.plan.repair {
                    self.checked(&key, false);
                }
            }
            Verdict::Repaired { key } => {
                self.progress.repaired += 1;
                self.out
                    .push_back(Action::Report(DiffEvent::Repaired(key.clone())));
                self.checked(&key, false);
            }
            Verdict::Failed { key, attempts } => {
                self.progress.repair_failures += 1;
                self.out.push_back(Action::Report(DiffEvent::RepairFailed {
                    key: key.clone(),
                    attempts,
                }));
                self.checked(&key, true);
            }
        }
    }

    /// A merged sweep's key whose check ended; `still_different` when its repair gave up (pass 2 would
    /// have seen it still different).
    fn checked(&mut self, key: &Key, still_different: bool) {
        let Some(origin) = self.origins.remove(key) else {
            return;
        };
        if let Some(event) = origin.second {
            if still_different {
                self.report(Pass::Replica, event);
            }
        }
        if origin.again != [false, false] {
            self.suspect_from(key.clone(), origin.again);
        }
    }
}

crate::io::impl_job!(Diff, DiffEvent, DiffSummary, paced);

/// Checks a segment list against `TotalSegments` (1 to 1,000,000, each segment below it, no repeats).
pub(crate) fn check_segments(segments: &[u32], total: u32) -> Result<(), JobError> {
    const MAX_TOTAL_SEGMENTS: u32 = 1_000_000;
    if total == 0 || total > MAX_TOTAL_SEGMENTS {
        return Err(JobError::Plan(format!(
            "total segments must be 1 to {MAX_TOTAL_SEGMENTS}, not {total}"
        )));
    }
    if segments.is_empty() {
        return Err(JobError::Plan("no segment to scan".into()));
    }
    let mut seen = BTreeSet::new();
    for &s in segments {
        if s >= total {
            return Err(JobError::Plan(format!(
                "segment {s} is not below the total of {total}"
            )));
        }
        if !seen.insert(s) {
            return Err(JobError::Plan(format!("segment {s} given twice")));
        }
    }
    Ok(())
}

pub(crate) fn unexpected_object(result: Result<ObjectResult, StoreError>) -> JobError {
    JobError::Protocol(format!("an object answer to a table job: {result:?}"))
}
