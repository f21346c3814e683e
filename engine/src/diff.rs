//! diff-tables (and `--repair`, `--backfill`): compares a primary and a replica table segment by segment,
//! reports each differing key, and optionally brings the replica up to date. Performs no I/O.
//!
//! Pass 1 scans the primary and reads the same keys from the replica (BatchGetItem, 100 keys at a time);
//! pass 2 (skipped with `backfill`) scans the replica and reads the same keys from the primary. A key that
//! looks different (canonical equality, ignored attributes left out) is not reported yet: it goes through
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
    /// in flight per segment.
    pub max_buffered_items: usize,
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
    segment: u32,
    start: Option<Item>,
    state: CursorState,
}

#[derive(Debug, Clone)]
enum Tag {
    Scan(usize),
    /// Scanned items whose keys are being read from the other table.
    Compare(Vec<Item>),
    Reconcile(RTag),
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
    cursors: Vec<Cursor>,
    to_compare: VecDeque<Item>,
    comparing: usize,
    out: VecDeque<Action<DiffEvent, DiffSummary>>,
    progress: DiffProgress,
    pass_count: u64,
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
            cursors: Vec::new(),
            to_compare: VecDeque::new(),
            comparing: 0,
            out: VecDeque::new(),
            progress: DiffProgress::default(),
            pass_count: 0,
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

    fn start_pass(&mut self, pass: Pass) {
        self.pass = pass;
        self.pass_count = 0;
        self.cursors = self
            .plan
            .segments
            .iter()
            .map(|&segment| Cursor {
                segment,
                start: None,
                state: CursorState::Idle,
            })
            .collect();
    }

    fn scanned_slot(&self) -> TableSlot {
        match self.pass {
            Pass::Primary => TableSlot::Primary,
            Pass::Replica => TableSlot::Replica,
        }
    }

    fn other_slot(&self) -> TableSlot {
        match self.pass {
            Pass::Primary => TableSlot::Replica,
            Pass::Replica => TableSlot::Primary,
        }
    }

    fn held(&self) -> usize {
        self.to_compare.len() + self.comparing + self.reconciler.len()
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
                self.progress.scanned += items.len() as u64;
                if let Some(limit) = &mut self.limit {
                    limit.charge(items.len(), now);
                }
                if self.plan.backfill {
                    for item in items {
                        let key = self.key_of(&item)?;
                        self.out
                            .push_back(Action::Report(DiffEvent::Backfill(key.clone())));
                        self.progress.discrepancies += 1;
                        self.pass_count += 1;
                        self.reconciler.add(key);
                    }
                } else {
                    self.to_compare.extend(items);
                }
                Ok(())
            }
            (Tag::Compare(scanned), TableResult::Items { items, unprocessed }) => {
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
                        self.reconciler.add(key);
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
                        self.other_slot(),
                        TableOp::BatchGet {
                            keys,
                            consistent: false,
                        },
                    );
                    self.outbox
                        .retry_leftover(Tag::Compare(left), op, request.attempt, progressed, now)?;
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
        // The next page is asked for before the compares take the free room: while the emulator or DynamoDB
        // serves a page, the compares of the last one keep the pipe full. (Compares first left the scan to
        // wait until every compare of a page had been sent, and both sides idle while the page was read.)
        for i in 0..self.cursors.len() {
            if !self.outbox.has_room() || self.held() >= self.plan.max_buffered_items {
                break;
            }
            if self.cursors[i].state != CursorState::Idle {
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
            let slot = self.scanned_slot();
            self.outbox.push_table(Tag::Scan(i), slot, op);
        }
        while self.outbox.has_room() && !self.to_compare.is_empty() {
            let n = MAX_BATCH_GET.min(self.to_compare.len());
            let batch: Vec<Item> = self.to_compare.drain(..n).collect();
            let keys = match batch
                .iter()
                .map(|i| self.key_of(i))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(keys) => keys,
                Err(e) => return self.fail(e),
            };
            self.comparing += batch.len();
            let slot = self.other_slot();
            self.outbox.push_table(
                Tag::Compare(batch),
                slot,
                TableOp::BatchGet {
                    keys,
                    consistent: false,
                },
            );
        }
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
        let pass_over = self.cursors.iter().all(|c| c.state == CursorState::Done)
            && self.to_compare.is_empty()
            && self.comparing == 0
            && self.reconciler.is_empty()
            && self.outbox.is_idle();
        if pass_over {
            self.out.push_back(Action::Report(DiffEvent::Discrepancies {
                pass: self.pass,
                count: self.pass_count,
            }));
            self.passes.push((self.pass, self.pass_count));
            if self.pass == Pass::Primary && !self.plan.backfill {
                self.start_pass(Pass::Replica);
                self.advance(now);
            } else {
                self.finished = true;
                self.out
                    .push_back(Action::Report(DiffEvent::Progress(self.progress)));
                self.out.push_back(Action::Done(DiffSummary {
                    progress: self.progress,
                    passes: self.passes.clone(),
                    error: None,
                }));
            }
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Same { .. } => {}
            Verdict::Differs {
                key,
                in_primary,
                in_target,
            } => {
                if self.plan.backfill {
                    return;
                }
                self.progress.discrepancies += 1;
                self.pass_count += 1;
                let event = match (in_primary, in_target) {
                    (true, false) => DiffEvent::Missing(key),
                    (false, true) => DiffEvent::Extraneous(key),
                    _ => DiffEvent::Different(key),
                };
                self.out.push_back(Action::Report(event));
            }
            Verdict::Repaired { key } => {
                self.progress.repaired += 1;
                self.out.push_back(Action::Report(DiffEvent::Repaired(key)));
            }
            Verdict::Failed { key, attempts } => {
                self.progress.repair_failures += 1;
                self.out
                    .push_back(Action::Report(DiffEvent::RepairFailed { key, attempts }));
            }
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
