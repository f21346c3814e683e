//! incremental-snapshot: lists every object under a prefix (an incremental backup folder,
//! `{prefix}/{table}/`), reads each, and emits its body followed by `\n` on output stream 0, which the
//! driver gzips and uploads to the destination. Bodies are emitted in listing order whatever order the
//! reads finish in, so the same bucket gives the same snapshot. Performs no I/O; holds at most
//! `max_in_flight` bodies and one listing page.

use std::collections::VecDeque;
use std::time::Duration;

use crate::io::{Action, Input, JobError, ObjectInfo, ObjectOp, ObjectResult};
use crate::retry::{Outbox, RetryPolicy};
use crate::time::Millis;

/// What to snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPlan {
    /// The prefix to list, as given (`backups/mytable/`).
    pub prefix: String,
    /// Most reads outstanding (and bodies held).
    pub max_in_flight: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
    /// How often to report progress.
    pub progress_every: Option<Duration>,
}

impl SnapshotPlan {
    /// A snapshot of everything under `prefix`.
    pub fn new(prefix: impl Into<String>) -> SnapshotPlan {
        SnapshotPlan {
            prefix: prefix.into(),
            max_in_flight: 32,
            retry: RetryPolicy::default(),
            seed: 0,
            progress_every: Some(Duration::from_secs(10)),
        }
    }
}

/// What incremental-snapshot reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotEvent {
    /// Counters so far.
    Progress {
        /// Objects listed.
        listed: u64,
        /// Objects written into the snapshot.
        objects: u64,
        /// Bytes emitted.
        bytes: u64,
    },
}

/// How a snapshot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// Objects written into the snapshot.
    pub objects: u64,
    /// Objects listed but gone when read (deleted meanwhile).
    pub vanished: u64,
    /// Bytes emitted (before compression).
    pub bytes: u64,
    /// Why it stopped early.
    pub error: Option<JobError>,
}

#[derive(Debug, Clone)]
enum Tag {
    List,
    Get(u64),
}

/// An incremental-snapshot run.
///
/// - Create with [`Snapshot::new`] (it queues the first listing).
/// - Inputs: [`Snapshot::handle`], [`Snapshot::handle_timeout`].
/// - Outputs: [`Snapshot::poll`] until `None` after each input, then [`Snapshot::poll_timeout`].
#[derive(Debug)]
pub struct Snapshot {
    plan: SnapshotPlan,
    outbox: Outbox<Tag>,
    /// Listed objects not yet asked for.
    listed: VecDeque<ObjectInfo>,
    /// Reads in listing order: sequence number and body once read (`Some(None)`: vanished).
    reading: VecDeque<(u64, Option<Option<Vec<u8>>>)>,
    next_seq: u64,
    continuation: Option<String>,
    listing: bool,
    list_done: bool,
    out: VecDeque<Action<SnapshotEvent, SnapshotSummary>>,
    listed_count: u64,
    objects: u64,
    vanished: u64,
    bytes: u64,
    last_progress: Option<Millis>,
    finished: bool,
}

impl Snapshot {
    /// A snapshot run.
    pub fn new(plan: SnapshotPlan) -> Snapshot {
        let mut job = Snapshot {
            // One more than the reads, so the next listing page can be fetched while they run.
            outbox: Outbox::new(plan.retry, plan.seed, plan.max_in_flight.max(1) + 1),
            listed: VecDeque::new(),
            reading: VecDeque::new(),
            next_seq: 0,
            continuation: None,
            listing: false,
            list_done: false,
            out: VecDeque::new(),
            listed_count: 0,
            objects: 0,
            vanished: 0,
            bytes: 0,
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
        self.out.push_back(Action::Done(SnapshotSummary {
            objects: self.objects,
            vanished: self.vanished,
            bytes: self.bytes,
            error,
        }));
    }

    /// Feeds in a finished request.
    pub fn handle(&mut self, input: Input, now: Millis) {
        if self.finished {
            return;
        }
        let outcome = match self.outbox.take_object(input, now) {
            Ok(Some((tag, result))) => self.on_object(tag, result),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
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
                self.listed_count += objects.len() as u64;
                self.list_done = next.is_none();
                self.continuation = next;
                self.listed.extend(objects);
                Ok(())
            }
            (Tag::Get(seq), ObjectResult::Got { body, .. }) => {
                self.fill(seq, Some(body));
                Ok(())
            }
            (Tag::Get(seq), ObjectResult::NotFound) => {
                self.fill(seq, None);
                Ok(())
            }
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {result:?} to {tag:?}"
            ))),
        }
    }

    fn fill(&mut self, seq: u64, body: Option<Vec<u8>>) {
        if let Some(slot) = self.reading.iter_mut().find(|(s, _)| *s == seq) {
            slot.1 = Some(body);
        }
        while let Some((_, Some(_))) = self.reading.front() {
            let Some((_, Some(body))) = self.reading.pop_front() else {
                break;
            };
            match body {
                Some(mut body) => {
                    body.push(b'\n');
                    self.objects += 1;
                    self.bytes += body.len() as u64;
                    self.out.push_back(Action::Emit {
                        stream: 0,
                        bytes: body,
                    });
                }
                None => self.vanished += 1,
            }
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
        while self.reading.len() < self.plan.max_in_flight.max(1) && self.outbox.has_room() {
            let Some(info) = self.listed.pop_front() else {
                break;
            };
            let seq = self.next_seq;
            self.next_seq += 1;
            self.reading.push_back((seq, None));
            self.outbox.push_object(
                Tag::Get(seq),
                ObjectOp::Get {
                    key: info.key,
                    version_id: None,
                },
            );
        }
        if !self.listing && !self.list_done && self.listed.is_empty() && self.outbox.has_room() {
            self.listing = true;
            self.outbox.push_object(
                Tag::List,
                ObjectOp::List {
                    prefix: self.plan.prefix.clone(),
                    continuation: self.continuation.clone(),
                },
            );
        }
        if let Some(every) = self.plan.progress_every {
            match self.last_progress {
                None => self.last_progress = Some(now),
                Some(last) if now.since(last) >= every => {
                    self.last_progress = Some(now);
                    self.out.push_back(Action::Report(SnapshotEvent::Progress {
                        listed: self.listed_count,
                        objects: self.objects,
                        bytes: self.bytes,
                    }));
                }
                Some(_) => {}
            }
        }
        if self.list_done && self.listed.is_empty() && self.reading.is_empty() && self.outbox.is_idle() {
            self.out.push_back(Action::Report(SnapshotEvent::Progress {
                listed: self.listed_count,
                objects: self.objects,
                bytes: self.bytes,
            }));
            self.finish(None);
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<SnapshotEvent, SnapshotSummary>> {
        if let Some(a) = self.out.pop_front() {
            return Some(a);
        }
        if self.finished {
            return None;
        }
        self.outbox.poll()
    }

    /// When to call [`Snapshot::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        self.outbox.poll_timeout()
    }
}

crate::io::impl_job!(Snapshot, SnapshotEvent, SnapshotSummary);
