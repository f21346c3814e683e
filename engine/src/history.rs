//! incremental-record-history: lists every version of one key's backup object — under the canonical name
//! and the names the original tool may have used for composite keys (`backup_key::legacy_key_jsons`) —
//! newest first, reads each version, and emits the text of `codec::history_text` on output stream 0.
//! Performs no I/O. Holds the version list of one key (metadata only) and at most `max_in_flight` bodies.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::backup_key;
use crate::codec::{ddb_json, history_text};
use crate::io::{Action, Input, JobError, ObjectOp, ObjectResult, ObjectVersion};
use crate::model::{Item, Key};
use crate::rekey::{META_REKEY_MERGED, META_REKEY_SOURCE};
use crate::retry::{Outbox, RetryPolicy};
use crate::time::Millis;

/// How to print versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    /// The original's text blocks.
    Text,
    /// One JSON object per line, items in DynamoDB-JSON.
    Json,
}

/// Whose history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPlan {
    /// The key.
    pub key: Key,
    /// The backup prefix.
    pub prefix: String,
    /// The table name in object keys.
    pub table: String,
    /// Output form.
    pub format: HistoryFormat,
    /// Most reads outstanding.
    pub max_in_flight: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
}

impl HistoryPlan {
    /// Text history of `key`.
    pub fn new(key: Key, prefix: impl Into<String>, table: impl Into<String>) -> HistoryPlan {
        HistoryPlan {
            key,
            prefix: prefix.into(),
            table: table.into(),
            format: HistoryFormat::Text,
            max_in_flight: 8,
            retry: RetryPolicy::default(),
            seed: 0,
        }
    }
}

/// What the history job reports (nothing but its output, so far).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryEvent {
    /// A version whose body is not a valid item; printed as deleted would be wrong, so it is skipped.
    Unreadable {
        /// Object key.
        key: String,
        /// Version.
        version_id: String,
    },
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySummary {
    /// Versions printed (delete markers included).
    pub versions: u64,
    /// Why it stopped early.
    pub error: Option<JobError>,
}

#[derive(Debug, Clone)]
enum Tag {
    List(usize),
    Get(usize),
}

#[derive(Debug)]
struct Name {
    object_key: String,
    key_marker: Option<String>,
    version_marker: Option<String>,
    done: bool,
    listing: bool,
}

/// A version read (or a delete marker: no item, no metadata).
#[derive(Debug)]
struct Fetched {
    item: Option<Item>,
    metadata: BTreeMap<String, String>,
}

/// `hash@version`: how rekey seals name versions.
fn token(v: &ObjectVersion) -> String {
    format!(
        "{}@{}",
        v.key.rsplit('/').next().unwrap_or_default(),
        v.version_id
    )
}

/// An incremental-record-history run.
///
/// - Create with [`History::new`].
/// - Inputs: [`History::handle`], [`History::handle_timeout`].
/// - Outputs: [`History::poll`] until `None` after each input, then [`History::poll_timeout`].
#[derive(Debug)]
pub struct History {
    plan: HistoryPlan,
    outbox: Outbox<Tag>,
    names: Vec<Name>,
    versions: Vec<ObjectVersion>,
    /// Index into `versions` of the next to emit, and bodies read ahead (`None`: not yet back).
    next_emit: usize,
    next_get: usize,
    bodies: VecDeque<Option<Fetched>>,
    /// `hash@version` of every object version listed (a rekey seal copying one of them is hidden).
    listed: BTreeSet<String>,
    /// Legacy versions recorded by the rekey seals emitted (hidden) so far.
    sealed: BTreeSet<String>,
    out: VecDeque<Action<HistoryEvent, HistorySummary>>,
    emitted: u64,
    sorted: bool,
    finished: bool,
}

impl History {
    /// A history run.
    pub fn new(plan: HistoryPlan) -> History {
        let names = backup_key::candidate_object_keys(&plan.prefix, &plan.table, &plan.key)
            .into_iter()
            .map(|object_key| Name {
                object_key,
                key_marker: None,
                version_marker: None,
                done: false,
                listing: false,
            })
            .collect();
        let mut job = History {
            outbox: Outbox::new(plan.retry, plan.seed, plan.max_in_flight),
            names,
            versions: Vec::new(),
            next_emit: 0,
            next_get: 0,
            bodies: VecDeque::new(),
            listed: BTreeSet::new(),
            sealed: BTreeSet::new(),
            out: VecDeque::new(),
            emitted: 0,
            sorted: false,
            finished: false,
            plan,
        };
        job.advance();
        job
    }

    fn finish(&mut self, error: Option<JobError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.out.push_back(Action::Done(HistorySummary {
            versions: self.emitted,
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
            Ok(()) => self.advance(),
            Err(e) => self.finish(Some(e)),
        }
    }

    fn on_object(&mut self, tag: Tag, result: ObjectResult) -> Result<(), JobError> {
        match (tag, result) {
            (
                Tag::List(i),
                ObjectResult::Versions {
                    versions,
                    next_key_marker,
                    next_version_marker,
                },
            ) => {
                let Some(name) = self.names.get_mut(i) else {
                    return Ok(());
                };
                name.listing = false;
                name.done = next_key_marker.is_none() && next_version_marker.is_none();
                name.key_marker = next_key_marker;
                name.version_marker = next_version_marker;
                let object_key = name.object_key.clone();
                // The prefix is a whole key: keep exact matches only.
                self.versions
                    .extend(versions.into_iter().filter(|v| v.key == object_key));
                Ok(())
            }
            (Tag::Get(i), result) => {
                let mut meta = BTreeMap::new();
                let item = match result {
                    ObjectResult::Got { body, metadata, .. } => {
                        meta = metadata;
                        let parsed = std::str::from_utf8(&body)
                            .ok()
                            .and_then(|t| ddb_json::parse_item(t).ok());
                        if parsed.is_none() {
                            if let Some(v) = self.versions.get(i) {
                                self.out.push_back(Action::Report(HistoryEvent::Unreadable {
                                    key: v.key.clone(),
                                    version_id: v.version_id.clone(),
                                }));
                            }
                        }
                        parsed
                    }
                    // A version removed meanwhile prints as nothing.
                    ObjectResult::NotFound => None,
                    other => {
                        return Err(JobError::Protocol(format!(
                            "unexpected answer to GetObject: {other:?}"
                        )))
                    }
                };
                let offset = i.saturating_sub(self.next_emit);
                if let Some(slot) = self.bodies.get_mut(offset) {
                    *slot = Some(Fetched { item, metadata: meta });
                }
                self.emit_ready();
                Ok(())
            }
            (tag, result) => Err(JobError::Protocol(format!(
                "unexpected answer {result:?} to {tag:?}"
            ))),
        }
    }

    fn emit_ready(&mut self) {
        while let Some(Some(_)) = self.bodies.front() {
            let marker = self.rekey_marker(self.next_emit);
            if marker == Some(false) {
                // Wait for the seals that may record this marker.
                break;
            }
            let hidden = marker == Some(true);
            let Some(Some(fetched)) = self.bodies.pop_front() else {
                break;
            };
            let Some(v) = self.versions.get(self.next_emit) else {
                break;
            };
            self.next_emit += 1;
            if hidden {
                continue;
            }
            // A rekey seal repeats a version still listed under a legacy name: shown there, at its time.
            if let Some(source) = fetched.metadata.get(META_REKEY_SOURCE) {
                if self.listed.contains(source) {
                    if let Some(merged) = fetched.metadata.get(META_REKEY_MERGED) {
                        self.sealed.extend(merged.split_whitespace().map(str::to_owned));
                    }
                    continue;
                }
            }
            let item = fetched.item;
            let text = if v.delete_marker || item.is_some() {
                match self.plan.format {
                    HistoryFormat::Text => history_text::version_block(v.last_modified, item.as_ref()),
                    HistoryFormat::Json => {
                        history_text::version_json_line(v.last_modified, &v.version_id, item.as_ref())
                    }
                }
            } else {
                continue;
            };
            self.emitted += 1;
            self.out.push_back(Action::Emit {
                stream: 0,
                bytes: text.into_bytes(),
            });
        }
    }

    /// Whether version `i` is the delete marker incremental-rekey put on a legacy name: `Some(true)` (hide
    /// it), `None` (a version to show), `Some(false)` (undecided: a seal that may record it is not read
    /// yet). The marker is rekey's when a seal lists the name's newest object version before it; such a
    /// seal was written after that version and before the marker.
    fn rekey_marker(&self, i: usize) -> Option<bool> {
        let v = self.versions.get(i)?;
        let canonical = &self.names.first()?.object_key;
        if !v.delete_marker || v.key == *canonical {
            return None;
        }
        let x = self.versions[i + 1..]
            .iter()
            .find(|w| w.key == v.key && !w.delete_marker)?;
        let wanted = token(x);
        if self.sealed.contains(&wanted) {
            return Some(true);
        }
        for (j, w) in self.versions.iter().enumerate().skip(i + 1) {
            if w.last_modified < x.last_modified {
                break;
            }
            if w.key != *canonical || w.delete_marker {
                continue;
            }
            match self.bodies.get(j - self.next_emit) {
                Some(Some(f)) => {
                    let records = f
                        .metadata
                        .get(META_REKEY_MERGED)
                        .is_some_and(|m| m.split_whitespace().any(|t| t == wanted));
                    if records {
                        return Some(true);
                    }
                }
                _ => return Some(false),
            }
        }
        None
    }

    /// Backoffs.
    pub fn handle_timeout(&mut self, now: Millis) {
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
        for i in 0..self.names.len() {
            let name = &self.names[i];
            if name.done || name.listing || !self.outbox.has_room() {
                continue;
            }
            let op = ObjectOp::ListVersions {
                prefix: name.object_key.clone(),
                key_marker: name.key_marker.clone(),
                version_marker: name.version_marker.clone(),
            };
            self.names[i].listing = true;
            self.outbox.push_object(Tag::List(i), op);
        }
        if !self.names.iter().all(|n| n.done) {
            return;
        }
        if !self.sorted {
            self.sorted = true;
            // Newest first across names; a stable sort keeps S3's newest-first order within one key.
            self.versions.sort_by_key(|v| std::cmp::Reverse(v.last_modified));
            self.listed = self
                .versions
                .iter()
                .filter(|v| !v.delete_marker)
                .map(token)
                .collect();
        }
        while self.next_get < self.versions.len() && self.outbox.has_room() {
            let i = self.next_get;
            self.next_get += 1;
            let v = &self.versions[i];
            if v.delete_marker {
                self.bodies.push_back(Some(Fetched {
                    item: None,
                    metadata: BTreeMap::new(),
                }));
            } else {
                self.bodies.push_back(None);
                let op = ObjectOp::Get {
                    key: v.key.clone(),
                    version_id: Some(v.version_id.clone()),
                };
                self.outbox.push_object(Tag::Get(i), op);
            }
        }
        self.emit_ready();
        if self.next_emit >= self.versions.len() && self.outbox.is_idle() {
            self.finish(None);
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<HistoryEvent, HistorySummary>> {
        if let Some(a) = self.out.pop_front() {
            return Some(a);
        }
        if self.finished {
            return None;
        }
        self.outbox.poll()
    }

    /// When to call [`History::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        self.outbox.poll_timeout()
    }
}

crate::io::impl_job!(History, HistoryEvent, HistorySummary);
