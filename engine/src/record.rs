//! The single-record tools: diff-record, replicate-record, incremental-diff-record and
//! incremental-backup-record, as one job with four plans. Performs no I/O.
//!
//! replicate-record and incremental-backup-record write through the reconcile loop (`reconcile.rs`), so
//! racing live replication or a live backup they cannot leave the target older than the primary.

use std::collections::{BTreeSet, VecDeque};

use crate::backup_key;
use crate::codec::{ddb_json, plain_json};
use crate::io::{Action, Input, JobError, ObjectOp, ObjectResult, TableOp, TableResult, TableSlot};
use crate::model::{Item, Key, KeySchema};
use crate::reconcile::{equal_ignoring, result_name, RTag, Reconciler, Target, Verdict};
use crate::retry::{Outbox, RetryPolicy};
use crate::time::Millis;

/// Which tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordTool {
    /// diff-record: the key in the primary and the replica.
    Diff,
    /// replicate-record: bring the replica's copy up to date.
    Replicate,
    /// incremental-diff-record: the key in the table and its backup object (legacy names too).
    DiffBackup {
        /// Backup prefix.
        prefix: String,
        /// Table name in object keys.
        table: String,
    },
    /// incremental-backup-record: bring the backup object up to date.
    Backup {
        /// Backup prefix.
        prefix: String,
        /// Table name in object keys.
        table: String,
    },
}

/// One record, one tool.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPlan {
    /// The tool.
    pub tool: RecordTool,
    /// The table's key schema.
    pub schema: KeySchema,
    /// The key.
    pub key: Key,
    /// Rounds of the write loop before giving up.
    pub max_rounds: u32,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
}

impl RecordPlan {
    /// A plan with default limits.
    pub fn new(tool: RecordTool, schema: KeySchema, key: Key) -> RecordPlan {
        RecordPlan {
            tool,
            schema,
            key,
            max_rounds: 10,
            retry: RetryPolicy::default(),
            seed: 0,
        }
    }
}

/// What the single-record tools report.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordEvent {
    /// Both sides of a comparison (diff-record: primary and replica; incremental-diff-record: table and
    /// backup object).
    Compared {
        /// The primary / table item.
        primary: Option<Item>,
        /// The replica item / the backup object's item.
        other: Option<Item>,
        /// Canonical equality.
        equivalent: bool,
    },
    /// The target was written and confirmed.
    Written,
    /// The target already matched.
    AlreadyCurrent,
    /// The write loop gave up.
    Failed {
        /// Rounds tried.
        attempts: u32,
    },
}

/// How it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    /// For the diff tools: whether the two sides are equivalent; for the writers: whether the target is
    /// now current.
    pub ok: bool,
    /// Why it stopped early.
    pub error: Option<JobError>,
}

/// diff-record's text (BRIEF §3): `Primary record`, dashes, the item, `Replica record`, dashes, the item,
/// then the verdict line. Items print as 2-space plain JSON; an absent item prints as `undefined`, as the
/// original printed it.
pub fn diff_record_text(primary: Option<&Item>, replica: Option<&Item>, equivalent: bool) -> String {
    let show =
        |item: Option<&Item>| item.map_or_else(|| "undefined".to_owned(), plain_json::item_to_pretty_string);
    let verdict = if equivalent {
        "✔ The records are equivalent"
    } else {
        "✘ The records are not equivalent"
    };
    format!(
        "Primary record\n--------------\n{}\n\nReplica record\n--------------\n{}\n\n{verdict}\n",
        show(primary),
        show(replica)
    )
}

#[derive(Debug, Clone)]
enum Tag {
    GetPrimary,
    GetReplica,
    GetObject(usize),
    Reconcile(RTag),
}

impl From<RTag> for Tag {
    fn from(t: RTag) -> Tag {
        Tag::Reconcile(t)
    }
}

/// A single-record run.
///
/// - Create with [`Record::new`].
/// - Inputs: [`Record::handle`], [`Record::handle_timeout`].
/// - Outputs: [`Record::poll`] until `None` after each input, then [`Record::poll_timeout`].
#[derive(Debug)]
pub struct Record {
    plan: RecordPlan,
    outbox: Outbox<Tag>,
    reconciler: Option<Reconciler>,
    primary: Option<Option<Item>>,
    other: Option<Option<Item>>,
    object_names: Vec<String>,
    out: VecDeque<Action<RecordEvent, RecordSummary>>,
    ok: bool,
    finished: bool,
}

impl Record {
    /// A run of the plan's tool.
    pub fn new(plan: RecordPlan) -> Record {
        let mut job = Record {
            outbox: Outbox::new(plan.retry, plan.seed, 4),
            reconciler: None,
            primary: None,
            other: None,
            object_names: Vec::new(),
            out: VecDeque::new(),
            ok: false,
            finished: false,
            plan,
        };
        let key = job.plan.key.clone();
        match job.plan.tool.clone() {
            RecordTool::Diff => {
                job.outbox.push_table(
                    Tag::GetPrimary,
                    TableSlot::Primary,
                    TableOp::Get {
                        key: key.clone(),
                        consistent: true,
                    },
                );
                job.outbox.push_table(
                    Tag::GetReplica,
                    TableSlot::Replica,
                    TableOp::Get {
                        key,
                        consistent: true,
                    },
                );
            }
            RecordTool::DiffBackup { prefix, table } => {
                job.object_names = backup_key::candidate_object_keys(&prefix, &table, &key);
                job.outbox.push_table(
                    Tag::GetPrimary,
                    TableSlot::Primary,
                    TableOp::Get {
                        key,
                        consistent: true,
                    },
                );
                job.get_object(0);
            }
            RecordTool::Replicate => {
                job.start_reconcile(Target::Replica, key);
            }
            RecordTool::Backup { prefix, table } => {
                job.start_reconcile(Target::Objects { prefix, table }, key);
            }
        }
        job
    }

    fn start_reconcile(&mut self, target: Target, key: Key) {
        let mut r = Reconciler::new(
            target,
            self.plan.schema.clone(),
            BTreeSet::new(),
            true,
            self.plan.max_rounds,
        );
        r.add(key);
        r.pump(&mut self.outbox);
        self.reconciler = Some(r);
    }

    fn get_object(&mut self, i: usize) {
        if let Some(name) = self.object_names.get(i) {
            self.outbox.push_object(
                Tag::GetObject(i),
                ObjectOp::Get {
                    key: name.clone(),
                    version_id: None,
                },
            );
        }
    }

    fn finish(&mut self, error: Option<JobError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.out.push_back(Action::Done(RecordSummary {
            ok: self.ok && error.is_none(),
            error,
        }));
    }

    /// Feeds in a finished request.
    pub fn handle(&mut self, input: Input, now: Millis) {
        if let Some(r) = &mut self.reconciler {
            r.set_now(now);
        }
        if self.finished {
            return;
        }
        let outcome = match input {
            Input::Table { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(request) => match result {
                    Err(e) => self.outbox.retry(request, e, now),
                    Ok(result) => match request.tag {
                        Tag::Reconcile(tag) => match &mut self.reconciler {
                            Some(r) => r.handle_table(tag, request.attempt, result, &mut self.outbox, now),
                            None => Ok(()),
                        },
                        tag => self.on_get(tag, result),
                    },
                },
            },
            Input::Object { id, result } => match self.outbox.take(id) {
                None => Ok(()),
                Some(request) => match result {
                    Err(e) => self.outbox.retry(request, e, now),
                    Ok(result) => match request.tag {
                        Tag::Reconcile(tag) => match &mut self.reconciler {
                            Some(r) => r.handle_object(tag, result),
                            None => Ok(()),
                        },
                        Tag::GetObject(i) => self.on_object(i, result),
                        tag => Err(JobError::Protocol(format!("unexpected object answer to {tag:?}"))),
                    },
                },
            },
        };
        match outcome {
            Ok(()) => self.advance(),
            Err(e) => self.finish(Some(e)),
        }
    }

    fn on_get(&mut self, tag: Tag, result: TableResult) -> Result<(), JobError> {
        let TableResult::Item(item) = result else {
            return Err(JobError::Protocol(format!(
                "unexpected answer {} to GetItem",
                result_name(&result)
            )));
        };
        match tag {
            Tag::GetPrimary => self.primary = Some(item),
            _ => self.other = Some(item),
        }
        Ok(())
    }

    fn on_object(&mut self, i: usize, result: ObjectResult) -> Result<(), JobError> {
        match result {
            ObjectResult::Got { body, .. } => {
                let item = std::str::from_utf8(&body)
                    .map_err(|e| JobError::Protocol(format!("the backup object is not text: {e}")))
                    .and_then(|t| {
                        ddb_json::parse_item(t)
                            .map_err(|e| JobError::Protocol(format!("the backup object is not an item: {e}")))
                    })?;
                self.other = Some(Some(item));
            }
            // Try the next name the original may have used.
            ObjectResult::NotFound if i + 1 < self.object_names.len() => self.get_object(i + 1),
            ObjectResult::NotFound => self.other = Some(None),
            other => {
                return Err(JobError::Protocol(format!(
                    "unexpected answer to GetObject: {other:?}"
                )))
            }
        }
        Ok(())
    }

    /// Backoffs.
    pub fn handle_timeout(&mut self, now: Millis) {
        if let Some(r) = &mut self.reconciler {
            r.set_now(now);
        }
        if self.finished {
            return;
        }
        self.outbox.handle_timeout(now);
        self.advance();
    }

    fn advance(&mut self) {
        if self.finished {
            return;
        }
        if let Some(r) = &mut self.reconciler {
            let mut verdicts = Vec::new();
            while let Some(v) = r.poll_verdict() {
                verdicts.push(v);
            }
            r.pump(&mut self.outbox);
            for v in verdicts {
                match v {
                    Verdict::Same { .. } => {
                        self.ok = true;
                        self.out.push_back(Action::Report(RecordEvent::AlreadyCurrent));
                    }
                    Verdict::Differs { .. } => {}
                    Verdict::Repaired { .. } => {
                        self.ok = true;
                        self.out.push_back(Action::Report(RecordEvent::Written));
                    }
                    Verdict::Failed { attempts, .. } => {
                        self.out
                            .push_back(Action::Report(RecordEvent::Failed { attempts }));
                    }
                }
            }
            if r.is_empty() && self.outbox.is_idle() {
                self.finish(None);
            }
            return;
        }
        if let (Some(primary), Some(other)) = (&self.primary, &self.other) {
            let equivalent = equal_ignoring(primary.as_ref(), other.as_ref(), &BTreeSet::new());
            self.ok = equivalent;
            self.out.push_back(Action::Report(RecordEvent::Compared {
                primary: primary.clone(),
                other: other.clone(),
                equivalent,
            }));
            self.finish(None);
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<RecordEvent, RecordSummary>> {
        if let Some(a) = self.out.pop_front() {
            return Some(a);
        }
        if self.finished {
            return None;
        }
        self.outbox.poll()
    }

    /// When to call [`Record::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        self.outbox.poll_timeout()
    }
}

crate::io::impl_job!(Record, RecordEvent, RecordSummary);
