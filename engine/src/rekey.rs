//! incremental-rekey: migrates an incremental folder (`{prefix}/{table}/`) written by the original tool —
//! composite keys hashed in other attribute orders, MD5 names — to the canonical layout of
//! [`crate::backup_key`], so that every key has one current object under its canonical name.
//!
//! # What it does, per key
//! The folder's version listing names every object; an object whose name is not its key's canonical name
//! (learnt from a body: the newest non-marker version) is *legacy*. For its key, every candidate name
//! ([`backup_key::candidate_hashes`]) is listed, and the key's newest state is decided across them by
//! LastModified (ties go to the canonical name):
//! - The newest state is moved onto the canonical name as a **seal**: a new version whose body is that
//!   state, whose metadata is the source version's plus [`META_REKEY_SOURCE`] (`hash@version`),
//!   [`META_REKEY_MERGED`] (every legacy `hash@version` it supersedes) and the source's change time
//!   ([`META_CREATION_TIME`]), written on condition that the canonical object is still what was read
//!   (`If-Match` / `If-None-Match`), so a live backup handler's newer write is never overwritten (a failed
//!   condition starts the key again). When the newest state is a delete, the canonical object is deleted.
//! - Then every legacy name whose current version is an object gets a delete marker: current-state
//!   readers (restore, snapshot, diff-table) see one object per key. **No version is ever removed**: the
//!   legacy names keep their history, which the history and restore tools still read.
//!
//! # Idempotent and resumable
//! A legacy name's current delete marker is ours when a seal on the canonical name lists the name's newest
//! object version in [`META_REKEY_MERGED`]; a delete marker newer than the canonical object that no seal
//! lists is a real delete the canonical name missed. A run stopped anywhere (after the seal, between
//! markers) is finished by the next run; a finished key costs a read of its newest body, one listing per
//! candidate name and a read of the canonical object.
//!
//! # Precondition
//! Nothing writes legacy names any more (the original's backup Lambda has been replaced by ddbrep's, which
//! writes canonical names only); the canonical names may be written live meanwhile.
//!
//! Performs no I/O. Holds one listing page, the names not yet handled, and a few keys' version lists.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::backup_key;
use crate::codec::ddb_json;
use crate::codec::stream_event::EpochTime;
use crate::io::{Action, Input, JobError, ObjectCondition, ObjectOp, ObjectResult, ObjectVersion};
use crate::model::{Key, KeySchema};
use crate::retry::{Outbox, RetryPolicy};
use crate::stream::META_CREATION_TIME;
use crate::time::Millis;

/// Seal metadata: the version whose state the seal holds, `hash@version`.
pub const META_REKEY_SOURCE: &str = "ddbrep-rekey-source";
/// Seal metadata: the legacy versions the seal supersedes, `hash@version` separated by spaces.
pub const META_REKEY_MERGED: &str = "ddbrep-rekey-merged";

/// Rounds of a key whose canonical object keeps changing under the seal before it is reported.
const MAX_ROUNDS: u32 = 5;
/// Most requests one key has outstanding at once (its candidate names' listings, or its seal probes).
const PER_KEY: usize = 8;
/// Folder names read ahead of the keys being worked on.
const QUEUE_AHEAD: usize = 1000;

/// What to migrate.
#[derive(Debug, Clone, PartialEq)]
pub struct RekeyPlan {
    /// The folder: `{prefix}/{table}/`.
    pub folder: String,
    /// The table's key schema (to learn keys from bodies).
    pub schema: KeySchema,
    /// Report what would be done, write nothing.
    pub dry_run: bool,
    /// Most requests outstanding.
    pub max_in_flight: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Backoff seed.
    pub seed: u64,
    /// How often to report progress.
    pub progress_every: Option<Duration>,
}

impl RekeyPlan {
    /// A migration of `folder` (with its trailing `/`).
    pub fn new(folder: impl Into<String>, schema: KeySchema) -> RekeyPlan {
        RekeyPlan {
            folder: folder.into(),
            schema,
            dry_run: false,
            max_in_flight: 64,
            retry: RetryPolicy::default(),
            seed: 0,
            progress_every: Some(Duration::from_secs(10)),
        }
    }
}

/// Where a migrated key's current state came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RekeyOutcome {
    /// A legacy name held the newest state; it was copied onto the canonical name.
    Copied {
        /// The legacy object.
        from: String,
    },
    /// The canonical name already held the newest state (sealed again to record the merge).
    Kept,
    /// The newest state is a delete: the canonical object is (now) deleted.
    Deleted,
}

/// What incremental-rekey reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RekeyEvent {
    /// A key's legacy names merged into its canonical name (or, in a dry run, that would be).
    Migrated {
        /// The key.
        key: Key,
        /// Its canonical object.
        canonical: String,
        /// Legacy objects given a delete marker.
        legacy: Vec<String>,
        /// Where its state came from.
        outcome: RekeyOutcome,
    },
    /// An object whose body is not an item of the table: left alone.
    Unreadable {
        /// The object.
        object: String,
        /// Why.
        error: String,
    },
    /// A key whose canonical object kept changing (live writes) through every round: left for a rerun.
    Failed {
        /// The key.
        key: Key,
        /// Rounds tried.
        rounds: u32,
    },
    /// A delete was carried onto the canonical name while a live write landed there: the backup may now
    /// hide that write; `incremental-diff-table --repair` puts it back.
    Raced {
        /// The key.
        key: Key,
        /// Its canonical object.
        canonical: String,
    },
    /// Counters so far.
    Progress(RekeyProgress),
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekeyProgress {
    /// Object names listed in the folder.
    pub listed: u64,
    /// Names already canonical.
    pub canonical: u64,
    /// Keys migrated (or that would be, in a dry run).
    pub migrated: u64,
    /// Legacy names already migrated by an earlier run.
    pub already: u64,
    /// Names with only delete markers (nothing to migrate).
    pub empty: u64,
    /// Objects whose body is not an item.
    pub unreadable: u64,
    /// Keys left for a rerun.
    pub failed: u64,
    /// Delete carried over a live write.
    pub raced: u64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekeySummary {
    /// Final counters.
    pub progress: RekeyProgress,
    /// Why it stopped early.
    pub error: Option<JobError>,
}

#[derive(Debug, Clone)]
enum Step {
    ReadKey,
    List(usize),
    Probe(String),
    Winner,
    Seal,
    Delete,
    Verify,
    Mark,
}

#[derive(Debug, Clone)]
enum Tag {
    Folder,
    Task(u64, Step),
}

/// One name's versions (newest first) and its listing position.
#[derive(Debug, Clone)]
struct NameListing {
    object: String,
    hash: String,
    versions: Vec<ObjectVersion>,
    key_marker: Option<String>,
    version_marker: Option<String>,
    done: bool,
}

/// A version read: body, ETag, metadata.
#[derive(Debug, Clone)]
struct Read {
    body: Vec<u8>,
    etag: String,
    metadata: BTreeMap<String, String>,
}

/// What to do with a key once its names are listed and probed.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    /// Nothing left: the key is canonical already.
    Nothing,
    /// Write a seal holding `names[source]`'s current version, then mark `mark`.
    Seal { source: usize, mark: Vec<usize> },
    /// Delete the canonical object (a newer delete on a legacy name), then mark `mark`.
    Delete { mark: Vec<usize> },
    /// Only mark `mark` (the canonical name already records them, or holds nothing).
    Mark { mark: Vec<usize> },
}

#[derive(Debug)]
struct Task {
    /// The folder name that started it.
    first: String,
    /// The version of `first` read to learn the key, kept as the seal's source when it is the newest
    /// state (the common case: one legacy object and nothing else), which saves reading it again.
    first_read: Option<(String, Read)>,
    key: Option<Key>,
    names: Vec<NameListing>,
    /// Canonical versions read (by version id).
    probes: BTreeMap<String, Option<Read>>,
    winner: Option<Read>,
    decision: Option<Decision>,
    rounds: u32,
    outstanding: usize,
    /// Canonical newest LastModified when decided (a delete's race check).
    seen: Option<Millis>,
}

impl Task {
    fn token(&self, name: usize, version_id: &str) -> String {
        format!("{}@{version_id}", self.names[name].hash)
    }
}

/// An incremental-rekey run.
///
/// - Create with [`Rekey::new`] (it queues the first listing).
/// - Inputs: [`Rekey::handle`], [`Rekey::handle_timeout`].
/// - Outputs: [`Rekey::poll`] until `None` after each input, then [`Rekey::poll_timeout`].
#[derive(Debug)]
pub struct Rekey {
    plan: RekeyPlan,
    outbox: Outbox<Tag>,
    /// The folder listing's position, and the name whose versions it is in the middle of.
    key_marker: Option<String>,
    version_marker: Option<String>,
    listing: bool,
    list_done: bool,
    open_name: Option<(String, Option<String>)>,
    /// Names to handle: object and its newest non-marker version.
    queue: VecDeque<(String, String)>,
    tasks: BTreeMap<u64, Task>,
    /// Tasks waiting for another on the same canonical name.
    parked: VecDeque<u64>,
    busy: BTreeSet<String>,
    next_task: u64,
    progress: RekeyProgress,
    last_progress: Option<Millis>,
    out: VecDeque<Action<RekeyEvent, RekeySummary>>,
    finished: bool,
}

impl Rekey {
    /// A rekey run.
    pub fn new(plan: RekeyPlan) -> Rekey {
        let mut job = Rekey {
            outbox: Outbox::new(plan.retry, plan.seed, plan.max_in_flight),
            key_marker: None,
            version_marker: None,
            listing: false,
            list_done: false,
            open_name: None,
            queue: VecDeque::new(),
            tasks: BTreeMap::new(),
            parked: VecDeque::new(),
            busy: BTreeSet::new(),
            next_task: 0,
            progress: RekeyProgress::default(),
            last_progress: None,
            out: VecDeque::new(),
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
        self.out
            .push_back(Action::Report(RekeyEvent::Progress(self.progress)));
        self.out.push_back(Action::Done(RekeySummary {
            progress: self.progress,
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
        match tag {
            Tag::Folder => match result {
                ObjectResult::Versions {
                    versions,
                    next_key_marker,
                    next_version_marker,
                } => {
                    self.listing = false;
                    self.list_done = next_key_marker.is_none() && next_version_marker.is_none();
                    self.key_marker = next_key_marker;
                    self.version_marker = next_version_marker;
                    self.take_folder_page(versions);
                    Ok(())
                }
                other => Err(JobError::Protocol(format!(
                    "unexpected answer to ListObjectVersions: {other:?}"
                ))),
            },
            Tag::Task(id, step) => {
                let Some(task) = self.tasks.get_mut(&id) else {
                    return Ok(());
                };
                task.outstanding = task.outstanding.saturating_sub(1);
                self.on_task(id, step, result)
            }
        }
    }

    /// Groups a page of the folder's version listing by name (a name's versions are contiguous, newest
    /// first, and may continue on the next page).
    fn take_folder_page(&mut self, versions: Vec<ObjectVersion>) {
        for v in versions {
            match &mut self.open_name {
                Some((name, newest)) if *name == v.key => {
                    if newest.is_none() && !v.delete_marker {
                        *newest = Some(v.version_id);
                    }
                }
                _ => {
                    self.close_name();
                    let newest = (!v.delete_marker).then_some(v.version_id);
                    self.open_name = Some((v.key, newest));
                }
            }
        }
        if self.list_done {
            self.close_name();
        }
    }

    fn close_name(&mut self) {
        let Some((name, newest)) = self.open_name.take() else {
            return;
        };
        self.progress.listed += 1;
        let hash = name.rsplit('/').next().unwrap_or_default();
        match newest {
            None => self.progress.empty += 1,
            // With one key attribute there is one key order: a SHA-256 name is the canonical one.
            Some(_) if self.plan.schema.sort.is_none() && hash.len() == 64 => self.progress.canonical += 1,
            Some(version) => self.queue.push_back((name, version)),
        }
    }

    fn on_task(&mut self, id: u64, step: Step, result: ObjectResult) -> Result<(), JobError> {
        let Some(task) = self.tasks.get_mut(&id) else {
            return Ok(());
        };
        match (step, result) {
            (
                Step::ReadKey,
                ObjectResult::Got {
                    body,
                    etag,
                    version_id,
                    metadata,
                    ..
                },
            ) => {
                let parsed = std::str::from_utf8(&body)
                    .map_err(|e| e.to_string())
                    .and_then(|t| ddb_json::parse_item(t).map_err(|e| e.to_string()))
                    .and_then(|item| self.plan.schema.key_of(&item).map_err(|e| e.to_string()));
                match parsed {
                    Err(error) => {
                        let object = task.first.clone();
                        self.progress.unreadable += 1;
                        self.out
                            .push_back(Action::Report(RekeyEvent::Unreadable { object, error }));
                        self.end(id);
                    }
                    Ok(key) => {
                        let canonical = format!("{}{}", self.plan.folder, backup_key::key_hash(&key));
                        if canonical == task.first {
                            self.progress.canonical += 1;
                            self.end(id);
                        } else {
                            task.names = backup_key::candidate_hashes(&key)
                                .into_iter()
                                .map(|hash| NameListing {
                                    object: format!("{}{hash}", self.plan.folder),
                                    hash,
                                    versions: Vec::new(),
                                    key_marker: None,
                                    version_marker: None,
                                    done: false,
                                })
                                .collect();
                            task.key = Some(key);
                            task.first_read = version_id.map(|v| (v, Read { body, etag, metadata }));
                            if self.busy.contains(&canonical) {
                                self.parked.push_back(id);
                            } else {
                                self.busy.insert(canonical);
                                self.list_names(id);
                            }
                        }
                    }
                }
            }
            // Gone since the folder was listed (nothing to migrate).
            (Step::ReadKey, ObjectResult::NotFound) => {
                self.progress.empty += 1;
                self.end(id);
            }
            (
                Step::List(i),
                ObjectResult::Versions {
                    versions,
                    next_key_marker,
                    next_version_marker,
                },
            ) => {
                if let Some(name) = task.names.get_mut(i) {
                    let object = name.object.clone();
                    name.versions
                        .extend(versions.into_iter().filter(|v| v.key == object));
                    name.done = next_key_marker.is_none() && next_version_marker.is_none();
                    name.key_marker = next_key_marker;
                    name.version_marker = next_version_marker;
                    if !name.done {
                        let op = list_op(name);
                        task.outstanding += 1;
                        self.outbox.push_object(Tag::Task(id, Step::List(i)), op);
                    }
                }
                if task.outstanding == 0 {
                    self.probe(id);
                }
            }
            (Step::Probe(version), result) => {
                task.probes.insert(version, got(result)?);
                if task.outstanding == 0 {
                    self.decide(id);
                }
            }
            (Step::Winner, result) => match got(result)? {
                Some(read) => {
                    task.winner = Some(read);
                    self.seal(id);
                }
                // The version vanished (someone removed it): start the key again.
                None => self.again(id),
            },
            (Step::Seal, ObjectResult::Put { .. }) => self.mark(id),
            (Step::Seal, ObjectResult::PreconditionFailed) => self.again(id),
            (Step::Delete, ObjectResult::Deleted) => {
                // Newest first: a live write since the decision would be on the first page.
                let op = ObjectOp::ListVersions {
                    prefix: task.names[0].object.clone(),
                    key_marker: None,
                    version_marker: None,
                };
                task.outstanding += 1;
                self.outbox.push_object(Tag::Task(id, Step::Verify), op);
            }
            (Step::Verify, ObjectResult::Versions { versions, .. }) => {
                let object = task.names[0].object.clone();
                let seen = task.seen;
                // An object written after the state the delete was decided on: a live write, now hidden.
                let raced = versions
                    .iter()
                    .filter(|v| v.key == object && !v.delete_marker)
                    .any(|v| seen.is_none_or(|s| v.last_modified > s));
                if raced {
                    if let Some(key) = task.key.clone() {
                        self.progress.raced += 1;
                        self.out.push_back(Action::Report(RekeyEvent::Raced {
                            key,
                            canonical: object,
                        }));
                    }
                }
                self.mark(id);
            }
            (Step::Mark, ObjectResult::Deleted) => {
                if task.outstanding == 0 {
                    self.migrated(id);
                }
            }
            (step, other) => {
                return Err(JobError::Protocol(format!(
                    "unexpected answer {other:?} to {step:?}"
                )))
            }
        }
        Ok(())
    }

    fn list_names(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        for (i, name) in task.names.iter().enumerate() {
            task.outstanding += 1;
            self.outbox
                .push_object(Tag::Task(id, Step::List(i)), list_op(name));
        }
    }

    /// Reads the canonical versions the decision needs: the current one (its ETag and whether it is a
    /// seal), and, when a legacy name's delete marker is newer, the versions that may be the seal
    /// recording that marker.
    fn probe(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        let canonical = &task.names[0];
        let mut wanted: Vec<String> = Vec::new();
        if let Some(cur) = canonical.versions.first() {
            if !cur.delete_marker {
                wanted.push(cur.version_id.clone());
                // The oldest newest-object among legacy names whose current marker is newer than the
                // canonical object: seals recording those markers are written after it.
                let since = task.names[1..]
                    .iter()
                    .filter(|n| {
                        n.versions
                            .first()
                            .is_some_and(|v| v.delete_marker && v.last_modified > cur.last_modified)
                    })
                    .filter_map(|n| n.versions.iter().find(|v| !v.delete_marker))
                    .map(|v| v.last_modified)
                    .min();
                if let Some(since) = since {
                    wanted.extend(
                        canonical
                            .versions
                            .iter()
                            .skip(1)
                            .filter(|v| !v.delete_marker && v.last_modified >= since)
                            .take(PER_KEY - 1)
                            .map(|v| v.version_id.clone()),
                    );
                }
            }
        }
        let object = canonical.object.clone();
        task.probes.clear();
        for version in wanted {
            task.outstanding += 1;
            self.outbox.push_object(
                Tag::Task(id, Step::Probe(version.clone())),
                ObjectOp::Get {
                    key: object.clone(),
                    version_id: Some(version),
                },
            );
        }
        if task.outstanding == 0 {
            self.decide(id);
        }
    }

    fn decide(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        let decision = decide(task);
        task.seen = task.names[0].versions.first().map(|v| v.last_modified);
        if self.plan.dry_run {
            task.decision = Some(decision.clone());
            match decision {
                Decision::Nothing => {
                    self.progress.already += 1;
                    self.end(id);
                }
                _ => self.migrated(id),
            }
            return;
        }
        match &decision {
            Decision::Nothing => {
                task.decision = Some(decision);
                self.progress.already += 1;
                self.end(id);
            }
            Decision::Seal { source, .. } => {
                let source = *source;
                let version = task.names[source].versions.first().map(|v| v.version_id.clone());
                task.decision = Some(decision);
                match (source, version) {
                    (0, Some(v)) => {
                        task.winner = task.probes.get(&v).cloned().flatten();
                        if task.winner.is_some() {
                            self.seal(id);
                        } else {
                            self.again(id);
                        }
                    }
                    (_, Some(v))
                        if task.names[source].object == task.first
                            && task.first_read.as_ref().is_some_and(|(read, _)| *read == v) =>
                    {
                        task.winner = task.first_read.as_ref().map(|(_, read)| read.clone());
                        self.seal(id);
                    }
                    (_, Some(v)) => {
                        let object = task.names[source].object.clone();
                        task.outstanding += 1;
                        self.outbox.push_object(
                            Tag::Task(id, Step::Winner),
                            ObjectOp::Get {
                                key: object,
                                version_id: Some(v),
                            },
                        );
                    }
                    (_, None) => self.again(id),
                }
            }
            Decision::Delete { .. } => {
                let object = task.names[0].object.clone();
                task.decision = Some(decision);
                task.outstanding += 1;
                self.outbox
                    .push_object(Tag::Task(id, Step::Delete), ObjectOp::Delete { key: object });
            }
            Decision::Mark { .. } => {
                task.decision = Some(decision);
                self.mark(id);
            }
        }
    }

    /// Writes the seal: the winner's body onto the canonical name, on condition that it is unchanged.
    fn seal(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        let (Some(Decision::Seal { source, mark }), Some(winner)) =
            (task.decision.clone(), task.winner.take())
        else {
            return;
        };
        let Some(src) = task.names[source].versions.first().cloned() else {
            return;
        };
        let mut metadata = winner.metadata.clone();
        let mut merged: BTreeSet<String> = metadata
            .get(META_REKEY_MERGED)
            .map(|m| m.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        for &i in &mark {
            if let Some(v) = task.names[i].versions.first() {
                merged.insert(task.token(i, &v.version_id));
            }
        }
        if !metadata.contains_key(META_REKEY_SOURCE) {
            metadata.insert(META_REKEY_SOURCE.to_owned(), task.token(source, &src.version_id));
        }
        metadata.insert(
            META_REKEY_MERGED.to_owned(),
            merged.into_iter().collect::<Vec<_>>().join(" "),
        );
        metadata
            .entry(META_CREATION_TIME.to_owned())
            .or_insert_with(|| EpochTime(src.last_modified).to_seconds_text());
        let condition = match task.names[0].versions.first() {
            Some(cur) if !cur.delete_marker => match task.probes.get(&cur.version_id) {
                Some(Some(read)) => ObjectCondition::IfMatch(read.etag.clone()),
                _ => ObjectCondition::IfNoneMatch,
            },
            _ => ObjectCondition::IfNoneMatch,
        };
        let key = task.names[0].object.clone();
        task.outstanding += 1;
        self.outbox.push_object(
            Tag::Task(id, Step::Seal),
            ObjectOp::Put {
                key,
                body: winner.body,
                metadata,
                condition,
            },
        );
    }

    /// Puts a delete marker on every legacy name whose current version is an object.
    fn mark(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        let mark = match &task.decision {
            Some(Decision::Seal { mark, .. } | Decision::Delete { mark } | Decision::Mark { mark }) => {
                mark.clone()
            }
            _ => Vec::new(),
        };
        for i in mark {
            let key = task.names[i].object.clone();
            task.outstanding += 1;
            self.outbox
                .push_object(Tag::Task(id, Step::Mark), ObjectOp::Delete { key });
        }
        if task.outstanding == 0 {
            self.migrated(id);
        }
    }

    fn migrated(&mut self, id: u64) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        let (outcome, mark) = match &task.decision {
            Some(Decision::Seal { source: 0, mark }) => (RekeyOutcome::Kept, mark.clone()),
            Some(Decision::Seal { source, mark }) => (
                RekeyOutcome::Copied {
                    from: task.names[*source].object.clone(),
                },
                mark.clone(),
            ),
            Some(Decision::Delete { mark }) => (RekeyOutcome::Deleted, mark.clone()),
            Some(Decision::Mark { mark }) => {
                let deleted = task.names[0].versions.first().is_none_or(|v| v.delete_marker);
                let outcome = if deleted {
                    RekeyOutcome::Deleted
                } else {
                    RekeyOutcome::Kept
                };
                (outcome, mark.clone())
            }
            _ => (RekeyOutcome::Kept, Vec::new()),
        };
        if let Some(key) = task.key.clone() {
            self.progress.migrated += 1;
            self.out.push_back(Action::Report(RekeyEvent::Migrated {
                key,
                canonical: task.names[0].object.clone(),
                legacy: mark.iter().map(|&i| task.names[i].object.clone()).collect(),
                outcome,
            }));
        }
        self.end(id);
    }

    /// The canonical object changed under the seal: list the key's names again.
    fn again(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        task.rounds += 1;
        if task.rounds >= MAX_ROUNDS {
            if let Some(key) = task.key.clone() {
                self.progress.failed += 1;
                self.out.push_back(Action::Report(RekeyEvent::Failed {
                    key,
                    rounds: task.rounds,
                }));
            }
            self.end(id);
            return;
        }
        for name in &mut task.names {
            name.versions.clear();
            name.key_marker = None;
            name.version_marker = None;
            name.done = false;
        }
        task.probes.clear();
        task.winner = None;
        task.decision = None;
        self.list_names(id);
    }

    fn end(&mut self, id: u64) {
        let Some(task) = self.tasks.remove(&id) else {
            return;
        };
        if let Some(name) = task.names.first() {
            if self.busy.remove(&name.object) {
                // Wake one key parked on this canonical name.
                if let Some(pos) = self.parked.iter().position(|p| {
                    self.tasks
                        .get(p)
                        .and_then(|t| t.names.first())
                        .is_some_and(|n| n.object == name.object)
                }) {
                    if let Some(next) = self.parked.remove(pos) {
                        self.busy.insert(name.object.clone());
                        self.list_names(next);
                    }
                }
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
        let max_tasks = (self.plan.max_in_flight.saturating_sub(1) / PER_KEY).max(1);
        while self.tasks.len() < max_tasks {
            let Some((first, first_version)) = self.queue.pop_front() else {
                break;
            };
            let id = self.next_task;
            self.next_task += 1;
            self.tasks.insert(
                id,
                Task {
                    first: first.clone(),
                    first_read: None,
                    key: None,
                    names: Vec::new(),
                    probes: BTreeMap::new(),
                    winner: None,
                    decision: None,
                    rounds: 0,
                    outstanding: 1,
                    seen: None,
                },
            );
            self.outbox.push_object(
                Tag::Task(id, Step::ReadKey),
                ObjectOp::Get {
                    key: first,
                    version_id: Some(first_version),
                },
            );
        }
        if !self.listing && !self.list_done && self.queue.len() < QUEUE_AHEAD {
            self.listing = true;
            self.outbox.push_object(
                Tag::Folder,
                ObjectOp::ListVersions {
                    prefix: self.plan.folder.clone(),
                    key_marker: self.key_marker.clone(),
                    version_marker: self.version_marker.clone(),
                },
            );
        }
        if let Some(every) = self.plan.progress_every {
            match self.last_progress {
                None => self.last_progress = Some(now),
                Some(last) if now.since(last) >= every => {
                    self.last_progress = Some(now);
                    self.out
                        .push_back(Action::Report(RekeyEvent::Progress(self.progress)));
                }
                Some(_) => {}
            }
        }
        if self.list_done && self.queue.is_empty() && self.tasks.is_empty() && self.outbox.is_idle() {
            self.finish(None);
        }
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<RekeyEvent, RekeySummary>> {
        if let Some(a) = self.out.pop_front() {
            return Some(a);
        }
        if self.finished {
            return None;
        }
        self.outbox.poll()
    }

    /// When to call [`Rekey::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.finished {
            return None;
        }
        self.outbox.poll_timeout()
    }
}

crate::io::impl_job!(Rekey, RekeyEvent, RekeySummary);

fn list_op(name: &NameListing) -> ObjectOp {
    ObjectOp::ListVersions {
        prefix: name.object.clone(),
        key_marker: name.key_marker.clone(),
        version_marker: name.version_marker.clone(),
    }
}

/// A GET's answer: what was read, or `None` for a 404.
fn got(result: ObjectResult) -> Result<Option<Read>, JobError> {
    match result {
        ObjectResult::Got {
            body, etag, metadata, ..
        } => Ok(Some(Read { body, etag, metadata })),
        ObjectResult::NotFound => Ok(None),
        other => Err(JobError::Protocol(format!(
            "unexpected answer to GetObject: {other:?}"
        ))),
    }
}

/// The key's newest state across its names, and what it takes to leave it on the canonical name alone.
fn decide(task: &Task) -> Decision {
    let canonical = task.names[0].versions.first();
    let merged: BTreeSet<&str> = task
        .probes
        .values()
        .flatten()
        .filter_map(|r| r.metadata.get(META_REKEY_MERGED))
        .flat_map(|m| m.split_whitespace())
        .collect();
    // (time, name, is a delete); the canonical name first, so it wins ties.
    let mut newest: Option<(Millis, usize, bool)> = canonical.map(|v| (v.last_modified, 0, v.delete_marker));
    let mut mark = Vec::new();
    for (i, name) in task.names.iter().enumerate().skip(1) {
        let Some(cur) = name.versions.first() else {
            continue;
        };
        if cur.delete_marker {
            let Some(prev) = name.versions.iter().find(|v| !v.delete_marker) else {
                continue;
            };
            // An older delete, or the marker an earlier run put there: the canonical name has it.
            if canonical.is_some_and(|c| cur.last_modified <= c.last_modified)
                || merged.contains(task.token(i, &prev.version_id).as_str())
            {
                continue;
            }
        } else {
            mark.push(i);
        }
        if newest.is_none_or(|(t, _, _)| cur.last_modified > t) {
            newest = Some((cur.last_modified, i, cur.delete_marker));
        }
    }
    let Some((_, winner, deleted)) = newest else {
        return Decision::Nothing;
    };
    let canonical_object = canonical.is_some_and(|c| !c.delete_marker);
    match (winner, deleted) {
        (0, _) if mark.is_empty() => Decision::Nothing,
        (0, true) => Decision::Mark { mark },
        (0, false) => {
            // Already a seal recording every legacy object about to be marked: only the markers are left.
            let recorded = canonical
                .and_then(|c| task.probes.get(&c.version_id))
                .and_then(|r| r.as_ref())
                .and_then(|r| r.metadata.get(META_REKEY_MERGED))
                .is_some_and(|m| {
                    let tokens: BTreeSet<&str> = m.split_whitespace().collect();
                    mark.iter().all(|&i| {
                        task.names[i]
                            .versions
                            .first()
                            .is_some_and(|v| tokens.contains(task.token(i, &v.version_id).as_str()))
                    })
                });
            if recorded {
                Decision::Mark { mark }
            } else {
                Decision::Seal { source: 0, mark }
            }
        }
        (_, true) if canonical_object => Decision::Delete { mark },
        (_, true) if mark.is_empty() => Decision::Nothing,
        (_, true) => Decision::Mark { mark },
        (source, false) => Decision::Seal { source, mark },
    }
}
