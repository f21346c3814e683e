//! backup-table: scans segments of a table and emits each item as one line of compact DynamoDB-JSON
//! (`{"id":{"S":"a"}}\n`). Each segment is its own output stream, numbered by the segment, which the driver
//! gzips and uploads to `{prefix}/{jobid}/{segment}`. Performs no I/O; holds at most one page per segment.

use std::time::Duration;

use crate::codec::ddb_json;
use crate::diff::{check_segments, unexpected_object};
use crate::io::{Action, Input, JobError, TableOp, TableResult, TableSlot};
use crate::model::Item;
use crate::reconcile::result_name;
use crate::retry::{earliest, retry_paced, Outbox, RateLimit, RetryPolicy};
use crate::time::Millis;

/// What to dump.
#[derive(Debug, Clone, PartialEq)]
pub struct DumpPlan {
    /// Segments to scan, all at once; each is output stream `segment`.
    pub segments: Vec<u32>,
    /// `TotalSegments` (1 for a whole table).
    pub total_segments: u32,
    /// Scan `Limit` per page.
    pub page_limit: Option<u32>,
    /// Scan with `ConsistentRead`.
    pub consistent: bool,
    /// Items per second (`None`: unlimited).
    pub rate_limit: Option<u32>,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
    /// How often to report progress (and once at the end).
    pub progress_every: Option<Duration>,
}

impl Default for DumpPlan {
    fn default() -> DumpPlan {
        DumpPlan {
            segments: vec![0],
            total_segments: 1,
            page_limit: None,
            consistent: false,
            rate_limit: None,
            retry: RetryPolicy::default(),
            seed: 0,
            progress_every: Some(Duration::from_secs(10)),
        }
    }
}

/// What backup-table reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpEvent {
    /// Items written so far, over all segments.
    Progress {
        /// Items.
        items: u64,
        /// Bytes emitted (before compression).
        bytes: u64,
    },
    /// A segment is complete.
    SegmentDone {
        /// The segment (= output stream).
        segment: u32,
        /// Its items.
        items: u64,
    },
}

/// How a dump ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    /// Items per segment, in plan order.
    pub items: Vec<(u32, u64)>,
    /// Bytes emitted (before compression).
    pub bytes: u64,
    /// Why the dump stopped early, if it did.
    pub error: Option<JobError>,
}

#[derive(Debug)]
struct Segment {
    segment: u32,
    start: Option<Item>,
    scanning: bool,
    done: bool,
    items: u64,
}

/// A backup-table run.
///
/// - Create with [`Dump::new`] (it queues the first scans).
/// - Inputs: [`Dump::handle`], [`Dump::handle_timeout`].
/// - Outputs: [`Dump::poll`] until `None` after each input (scans, `Emit`s per segment, progress, `Done`),
///   then [`Dump::poll_timeout`].
#[derive(Debug)]
pub struct Dump {
    plan: DumpPlan,
    outbox: Outbox<usize>,
    segments: Vec<Segment>,
    out: std::collections::VecDeque<Action<DumpEvent, DumpSummary>>,
    limit: Option<RateLimit>,
    bytes: u64,
    last_progress: Option<Millis>,
    finished: bool,
}

impl Dump {
    /// A dump of the plan's segments.
    pub fn new(plan: DumpPlan) -> Dump {
        let mut dump = Dump {
            outbox: Outbox::new(plan.retry, plan.seed, plan.segments.len().max(1)),
            segments: plan
                .segments
                .iter()
                .map(|&segment| Segment {
                    segment,
                    start: None,
                    scanning: false,
                    done: false,
                    items: 0,
                })
                .collect(),
            out: Default::default(),
            limit: plan.rate_limit.map(RateLimit::new),
            bytes: 0,
            last_progress: None,
            finished: false,
            plan,
        };
        if let Err(e) = check_segments(&dump.plan.segments, dump.plan.total_segments) {
            dump.finish(Some(e));
        } else {
            dump.advance(Millis::ZERO);
        }
        dump
    }

    fn summary(&self, error: Option<JobError>) -> DumpSummary {
        DumpSummary {
            items: self.segments.iter().map(|s| (s.segment, s.items)).collect(),
            bytes: self.bytes,
            error,
        }
    }

    fn finish(&mut self, error: Option<JobError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let summary = self.summary(error);
        self.out.push_back(Action::Done(summary));
    }

    fn total(&self) -> u64 {
        self.segments.iter().map(|s| s.items).sum()
    }

    /// Feeds in a finished request.
    pub fn handle(&mut self, input: Input, now: Millis) {
        if self.finished {
            return;
        }
        let outcome = match input {
            Input::Table { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(request) => match result {
                    Err(e) => retry_paced(&mut self.outbox, &mut self.limit, request, e, now),
                    Ok(TableResult::Page { items, last_key }) => {
                        self.on_page(request.tag, items, last_key, now);
                        Ok(())
                    }
                    Ok(other) => Err(JobError::Protocol(format!(
                        "unexpected answer {} to a Scan",
                        result_name(&other)
                    ))),
                },
            },
            Input::Object { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(_) => Err(unexpected_object(result)),
            },
        };
        match outcome {
            Ok(()) => self.advance(now),
            Err(e) => self.finish(Some(e)),
        }
    }

    fn on_page(&mut self, i: usize, items: Vec<Item>, last_key: Option<Item>, now: Millis) {
        let Some(seg) = self.segments.get_mut(i) else {
            return;
        };
        seg.scanning = false;
        seg.done = last_key.is_none();
        seg.start = last_key;
        seg.items += items.len() as u64;
        let mut bytes = Vec::new();
        for item in &items {
            bytes.extend_from_slice(ddb_json::item_to_string(item).as_bytes());
            bytes.push(b'\n');
        }
        let segment = seg.segment;
        let done = seg.done;
        let count = seg.items;
        if let Some(limit) = &mut self.limit {
            limit.charge(items.len(), now);
        }
        self.bytes += bytes.len() as u64;
        if !bytes.is_empty() {
            self.out.push_back(Action::Emit {
                stream: segment,
                bytes,
            });
        }
        if done {
            self.out.push_back(Action::Report(DumpEvent::SegmentDone {
                segment,
                items: count,
            }));
        }
    }

    /// Backoffs and the rate limit.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.finished {
            return;
        }
        self.outbox.handle_timeout(now);
        self.advance(now);
    }

    fn advance(&mut self, now: Millis) {
        for i in 0..self.segments.len() {
            let seg = &self.segments[i];
            if seg.scanning || seg.done {
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
                segment: seg.segment,
                total_segments: self.plan.total_segments,
                start: seg.start.clone(),
                limit,
                consistent: self.plan.consistent,
            };
            self.segments[i].scanning = true;
            self.outbox.push_table(i, TableSlot::Primary, op);
        }
        if let Some(every) = self.plan.progress_every {
            match self.last_progress {
                None => self.last_progress = Some(now),
                Some(last) if now.since(last) >= every => {
                    self.last_progress = Some(now);
                    let (items, bytes) = (self.total(), self.bytes);
                    self.out
                        .push_back(Action::Report(DumpEvent::Progress { items, bytes }));
                }
                Some(_) => {}
            }
        }
        if self.segments.iter().all(|s| s.done) && self.outbox.is_idle() {
            let (items, bytes) = (self.total(), self.bytes);
            self.out
                .push_back(Action::Report(DumpEvent::Progress { items, bytes }));
            self.finish(None);
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<DumpEvent, DumpSummary>> {
        // The next page's request before the last page's bytes: a driver then writes (and compresses)
        // one page while the table reads the next.
        if !self.finished {
            if let Some(a) = self.outbox.poll() {
                return Some(a);
            }
        }
        self.out.pop_front()
    }

    /// A new budget, items per second, e.g. measured from the capacity the table reports consumed; the
    /// adaptive rate keeps any cut it is recovering from. No effect without a budget in the plan.
    pub fn retarget(&mut self, items_per_second: u32) {
        if let Some(limit) = &mut self.limit {
            limit.retarget(items_per_second);
        }
    }

    /// When to call [`Dump::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        let waiting = self.segments.iter().any(|s| !s.scanning && !s.done);
        let rate = self.limit.as_ref().filter(|_| waiting).map(RateLimit::next_at);
        earliest(self.outbox.poll_timeout(), rate)
    }
}

crate::io::impl_job!(Dump, DumpEvent, DumpSummary, paced);
