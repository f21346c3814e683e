//! The offline stream pipeline: the `replicate` and `backup` handlers run in-process on the emulator's
//! own streams, as Lambda's event source mapping runs them on DynamoDB's, so replication and backup happen
//! on a laptop with no AWS account.
//!
//! - The handlers are the engine's stream jobs (`ddbrep_engine::stream::{Replicate, Backup}`), the same
//!   code the Lambda functions and `ddbrep invoke-handler` run; here their requests go to the emulator's
//!   own operations in-process ([`store`]) instead of through an SDK.
//! - One task per pipeline polls the source table's streams, oldest stream first, each stream's shards
//!   parents before children; each shard's position and retries are a [`shard::Cursor`] with Lambda's
//!   semantics (batch size, batching window, retries with backoff, bisection, partial batch responses,
//!   `MaximumRetryAttempts`).
//! - Checkpoints live in the database (`storage::pipeline`), written after every batch: a restart resumes
//!   after the last finished batch, replaying at most the batch in flight at a crash, which both handlers
//!   take harmlessly (per-key last write; the backup's redelivery check).
//! - Visible: a log line per burst of batches and per failed record, and `GET /_ddbrep/pipelines` (JSON:
//!   each pipeline's state, counts, lag, last error, shard checkpoints).

pub mod config;
mod drive;
pub mod shard;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ddbrep_engine::codec::plain_json;
use ddbrep_engine::codec::stream_event::{StreamRecord, StreamViewType};
use ddbrep_engine::retry::Rng as JitterRng;
use ddbrep_engine::stream::{Backup, BackupTarget, BatchEvent, BatchLimits, BatchSummary, Replicate};
use ddbrep_engine::time::Millis;
use serde::Serialize;

pub use config::{ConfigError, PipelineSpec, Settings, StartingPosition, Target};
use shard::{Answer, Cursor, Fetched, Plan, Verdict};
use store::{LocalBucket, LocalTable};

use crate::clock::{Clock, Rng};
use crate::dynamodb::Service;
use crate::s3::service::S3Backend;
use crate::storage::pipeline::{self as checkpoints, Checkpoint};
use crate::storage::streams::{self, ShardRow, StreamRow};
use crate::storage::{Storage, StorageError};

/// How often an idle pipeline looks for new records (Lambda polls a shard four times a second).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Requests in flight per handler invocation.
const MAX_IN_FLIGHT: usize = 16;

/// The pipelines of one emulator.
pub struct Pipelines {
    specs: Vec<PipelineSpec>,
    status: Vec<Mutex<Status>>,
    service: Arc<Service>,
    s3: Arc<S3Backend>,
    storage: Arc<Storage>,
    clock: Arc<dyn Clock>,
    rng: Arc<Rng>,
    region: String,
    progress: tokio::sync::watch::Sender<u64>,
}

/// What a pipeline is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not polled yet.
    Starting,
    /// Nothing to read yet (the source table or its stream is missing), or the target is not ready.
    Waiting,
    /// Polling; every record read so far is done.
    Running,
    /// A batch is being retried.
    Retrying,
    /// The pipeline cannot run (e.g. the stream has no new images); it keeps checking.
    Error,
}

/// One pipeline's status, as `GET /_ddbrep/pipelines` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `replicate SOURCE=REPLICA` or `backup SOURCE=s3://bucket/prefix`.
    pub name: String,
    /// `replicate` or `backup`.
    pub handler: &'static str,
    /// The source table.
    pub source: String,
    /// What it is doing.
    pub state: State,
    /// Why it is waiting, retrying or failing.
    pub reason: Option<String>,
    /// Invocations.
    pub invocations: u64,
    /// Records delivered to the handler (retries included).
    pub records_delivered: u64,
    /// Records applied.
    pub records_applied: u64,
    /// Records the handler skipped as already applied (redeliveries).
    pub records_skipped: u64,
    /// Invocations that failed as a whole or in part.
    pub failed_invocations: u64,
    /// Records skipped after `maximum_retry_attempts`.
    pub records_discarded: u64,
    /// The last failure: its message, and the record's sequence number and key when one record failed.
    pub last_error: Option<ErrorInfo>,
    /// When the last batch finished (epoch ms).
    pub last_batch_at: Option<u64>,
    /// Change lag of the last batch: now less its newest record's `ApproximateCreationDateTime`, ms.
    pub last_batch_lag_ms: Option<u64>,
}

/// A failure, for the status.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorInfo {
    /// When (epoch ms).
    pub at: u64,
    /// What failed.
    pub message: String,
    /// The failed record's sequence number.
    pub sequence_number: Option<String>,
    /// Its key, as plain JSON.
    pub key: Option<String>,
}

impl Pipelines {
    /// The pipelines `specs` over an emulator's services.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        specs: Vec<PipelineSpec>,
        service: Arc<Service>,
        s3: Arc<S3Backend>,
        storage: Arc<Storage>,
        clock: Arc<dyn Clock>,
        rng: Arc<Rng>,
        region: String,
    ) -> Pipelines {
        let status = specs
            .iter()
            .map(|s| {
                Mutex::new(Status {
                    name: s.name(),
                    handler: s.handler(),
                    source: s.source.clone(),
                    state: State::Starting,
                    reason: None,
                    invocations: 0,
                    records_delivered: 0,
                    records_applied: 0,
                    records_skipped: 0,
                    failed_invocations: 0,
                    records_discarded: 0,
                    last_error: None,
                    last_batch_at: None,
                    last_batch_lag_ms: None,
                })
            })
            .collect();
        Pipelines {
            specs,
            status,
            service,
            s3,
            storage,
            clock,
            rng,
            region,
            progress: tokio::sync::watch::channel(0).0,
        }
    }

    /// The configured pipelines.
    pub fn specs(&self) -> &[PipelineSpec] {
        &self.specs
    }

    /// Runs every pipeline until the future is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..self.specs.len() {
            let me = Arc::clone(&self);
            tasks.spawn(async move { me.run_one(index).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Every pipeline's status, with each shard's checkpoint and the records still to do.
    pub fn status(&self) -> Result<serde_json::Value, StorageError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for (spec, status) in self.specs.iter().zip(&self.status) {
            let status = lock(status).clone();
            let name = status.name.clone();
            let source = spec.source.clone();
            let shards = self.storage.read(move |c| shard_report(c, &name, &source, now))?;
            let pending: i64 = shards.iter().map(|s| s.pending_records).sum();
            let lag = shards.iter().filter_map(|s| s.oldest_pending_age_ms).max();
            let mut json = serde_json::to_value(&status).unwrap_or_default();
            json["pending_records"] = serde_json::json!(pending);
            json["lag_ms"] = serde_json::json!(lag.unwrap_or(0));
            json["shards"] = serde_json::to_value(&shards).unwrap_or_default();
            out.push(json);
        }
        Ok(serde_json::json!({ "pipelines": out }))
    }

    /// Completes once every pipeline has finished with every record its source's streams held when it was
    /// called (applied, or discarded after its retries).
    pub async fn caught_up(&self) -> Result<(), StorageError> {
        let mut progress = self.progress.subscribe();
        let upto = self.storage.read(streams::latest_sequence)?;
        loop {
            let mut pending = false;
            for spec in &self.specs {
                let (name, source) = (spec.name(), spec.source.clone());
                pending |= self
                    .storage
                    .read(move |c| checkpoints::pending_through(c, &name, &source, upto))?;
            }
            if !pending {
                return Ok(());
            }
            if progress.changed().await.is_err() {
                return Ok(());
            }
        }
    }

    fn set_state(&self, index: usize, state: State, reason: Option<String>) {
        let mut s = lock(&self.status[index]);
        if s.state != state || s.reason != reason {
            match (&state, &reason) {
                (State::Error, Some(r)) => {
                    tracing::error!(pipeline = s.name, reason = r, "pipeline cannot run")
                }
                (State::Waiting, Some(r)) => {
                    tracing::info!(pipeline = s.name, reason = r, "pipeline waiting")
                }
                _ => {}
            }
        }
        s.state = state;
        s.reason = reason;
    }

    async fn run_one(&self, index: usize) {
        let spec = &self.specs[index];
        let name = spec.name();
        tracing::info!(pipeline = name, "pipeline started");
        let mut runner = Runner {
            cursors: HashMap::new(),
            table: None,
            bucket: None,
            jitter: JitterRng::new(self.rng.next_u64()),
            fresh: None,
            burst: Burst::default(),
            trim_warned: HashSet::new(),
        };
        loop {
            let wait = match self.round(index, &mut runner).await {
                Ok(None) => None,
                Ok(Some(until)) => Some(until),
                Err(e) => {
                    self.set_state(index, State::Error, Some(e));
                    Some(self.clock.now().saturating_add(Duration::from_secs(1)))
                }
            };
            let Some(until) = wait else {
                tokio::task::yield_now().await;
                continue;
            };
            runner.burst.log(&name, self.clock.now());
            let now = self.clock.now();
            let ms = until.0.saturating_sub(now.0);
            let sleep = Duration::from_millis(ms)
                .min(POLL_INTERVAL)
                .max(Duration::from_millis(1));
            tokio::time::sleep(sleep).await;
        }
    }

    /// One pass over the source's shards. `Ok(None)`: work was done, go again at once; `Ok(Some(t))`:
    /// nothing to do before `t` (or the next poll).
    async fn round(&self, index: usize, r: &mut Runner) -> Result<Option<Millis>, String> {
        let spec = &self.specs[index];
        let name = spec.name();
        let now = self.clock.now();
        let idle = now.saturating_add(POLL_INTERVAL);
        let source = spec.source.clone();
        let mut found: Vec<StreamRow> = self
            .storage
            .read(move |c| streams::list_streams(c, Some(&source)))
            .map_err(|e| e.to_string())?;
        found.reverse();
        if found.is_empty() {
            self.set_state(
                index,
                State::Waiting,
                Some(format!("table {} has no stream", spec.source)),
            );
            return Ok(Some(idle));
        }
        if !self.target_ready(index, r).await? {
            return Ok(Some(idle));
        }
        if r.fresh.is_none() {
            let name = name.clone();
            let had = self
                .storage
                .read(move |c| checkpoints::any(c, &name))
                .map_err(|e| e.to_string())?;
            r.fresh = Some(!had);
        }
        let mut next = idle;
        let mut busy = false;
        let mut refused = None;
        for stream in &found {
            if !view_has_new_image(&stream.view_type) {
                refused =
                    Some(format!(
                    "the stream {} of table {} is {}: the {} handler needs NEW_IMAGE or NEW_AND_OLD_IMAGES",
                    stream.arn, spec.source, stream.view_type, spec.handler()
                ));
                continue;
            }
            let arn = stream.arn.clone();
            let shards: Vec<ShardRow> = self
                .storage
                .read(move |c| streams::shards(c, &arn))
                .map_err(|e| e.to_string())?;
            let ids: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
            let mut unfinished: HashSet<String> = HashSet::new();
            for shard in &shards {
                let cursor = self.cursor(index, r, stream, shard).await?;
                if cursor.finished {
                    continue;
                }
                let parent_pending = shard
                    .parent_shard_id
                    .as_deref()
                    .is_some_and(|p| ids.contains(p) && unfinished.contains(p));
                unfinished.insert(shard.shard_id.clone());
                if parent_pending {
                    continue;
                }
                match self.step(index, r, stream, shard, now).await? {
                    Step::Busy => busy = true,
                    Step::Until(t) => next = next.min(t),
                }
            }
        }
        match refused {
            Some(reason) => self.set_state(index, State::Error, Some(reason)),
            None => {
                let retrying = r.cursors.values().any(|c| c.attempts > 0);
                if !retrying {
                    self.set_state(index, State::Running, None);
                }
            }
        }
        Ok(if busy { None } else { Some(next) })
    }

    async fn target_ready(&self, index: usize, r: &mut Runner) -> Result<bool, String> {
        let spec = &self.specs[index];
        match &spec.target {
            Target::Replicate { table } => {
                if r.table.is_some() {
                    return Ok(true);
                }
                match store::ensure_replica(&self.service, &spec.source, table).await? {
                    Some(schema) => {
                        r.table = Some(LocalTable {
                            service: Arc::clone(&self.service),
                            name: table.clone(),
                            schema,
                        });
                        Ok(true)
                    }
                    None => {
                        self.set_state(
                            index,
                            State::Waiting,
                            Some(format!("table {table} is not ACTIVE yet")),
                        );
                        Ok(false)
                    }
                }
            }
            Target::Backup { bucket, .. } => {
                if r.bucket.is_some() {
                    return Ok(true);
                }
                let b = LocalBucket {
                    s3: Arc::clone(&self.s3),
                    storage: Arc::clone(&self.storage),
                    bucket: bucket.clone(),
                };
                b.ensure().await?;
                r.bucket = Some(b);
                Ok(true)
            }
        }
    }

    /// The shard's cursor, from its checkpoint, or where the starting position says on a fresh database.
    async fn cursor<'r>(
        &self,
        index: usize,
        r: &'r mut Runner,
        stream: &StreamRow,
        shard: &ShardRow,
    ) -> Result<&'r mut Cursor, String> {
        let spec = &self.specs[index];
        let key = (stream.arn.clone(), shard.shard_id.clone());
        if !r.cursors.contains_key(&key) {
            let (name, arn, id) = (spec.name(), stream.arn.clone(), shard.shard_id.clone());
            let saved = self
                .storage
                .read(move |c| checkpoints::get(c, &name, &arn, &id))
                .map_err(|e| e.to_string())?;
            let cursor = match saved {
                Some(cp) => Cursor::new(cp.seq, cp.finished, &spec.settings),
                None if spec.settings.starting_position == StartingPosition::Latest
                    && r.fresh == Some(true) =>
                {
                    let (arn, id) = (stream.arn.clone(), shard.shard_id.clone());
                    let newest = self
                        .storage
                        .read(move |c| streams::records_newest(c, &arn, &id))
                        .map_err(|e| e.to_string())?
                        .unwrap_or(shard.first_seq - 1);
                    let cp = Checkpoint {
                        seq: newest,
                        finished: shard.last_seq.is_some(),
                    };
                    self.save(index, stream, shard, cp).await?;
                    Cursor::new(cp.seq, cp.finished, &spec.settings)
                }
                None => Cursor::new(0, false, &spec.settings),
            };
            r.cursors.insert(key.clone(), cursor);
        }
        r.cursors
            .get_mut(&key)
            .ok_or_else(|| "the shard's cursor vanished".to_owned())
    }

    async fn save(
        &self,
        index: usize,
        stream: &StreamRow,
        shard: &ShardRow,
        cp: Checkpoint,
    ) -> Result<(), String> {
        let (name, arn, id, now) = (
            self.specs[index].name(),
            stream.arn.clone(),
            shard.shard_id.clone(),
            self.clock.now().0,
        );
        self.storage
            .write(move |ctx| checkpoints::set(ctx.conn, &name, &arn, &id, cp, now))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.progress.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Reads the shard and invokes the handler once if there is a batch.
    async fn step(
        &self,
        index: usize,
        r: &mut Runner,
        stream: &StreamRow,
        shard: &ShardRow,
        now: Millis,
    ) -> Result<Step, String> {
        let key = (stream.arn.clone(), shard.shard_id.clone());
        let Some(cursor) = r.cursors.get_mut(&key) else {
            return Ok(Step::Until(now.saturating_add(POLL_INTERVAL)));
        };
        let (after, limit) = match cursor.plan(now) {
            Plan::Finished => return Ok(Step::Until(now.saturating_add(POLL_INTERVAL))),
            Plan::WaitUntil(t) => return Ok(Step::Until(t)),
            Plan::Fetch { after, limit } => (after, limit),
        };
        if shard.trimmed_seq > after && r.trim_warned.insert(key.clone()) {
            tracing::warn!(
                pipeline = self.specs[index].name(),
                shard = shard.shard_id,
                "records of this shard left the stream (24 h retention) before the pipeline read them"
            );
        }
        let (arn, id) = (stream.arn.clone(), shard.shard_id.clone());
        let rows = self
            .storage
            .read(move |c| streams::records(c, &arn, &id, after.saturating_add(1), limit))
            .map_err(|e| e.to_string())?;
        let closed = shard.last_seq.is_some();
        match cursor.on_fetched(rows.len(), closed, now) {
            Fetched::Idle => Ok(Step::Until(now.saturating_add(POLL_INTERVAL))),
            Fetched::WaitUntil(t) => Ok(Step::Until(t)),
            Fetched::Finished => {
                let cp = Checkpoint {
                    seq: cursor.checkpoint,
                    finished: true,
                };
                self.save(index, stream, shard, cp).await?;
                Ok(Step::Busy)
            }
            Fetched::Invoke => {
                self.invoke(index, r, stream, shard, rows).await?;
                Ok(Step::Busy)
            }
        }
    }

    async fn invoke(
        &self,
        index: usize,
        r: &mut Runner,
        stream: &StreamRow,
        shard: &ShardRow,
        rows: Vec<(i64, String)>,
    ) -> Result<(), String> {
        let spec = &self.specs[index];
        let name = spec.name();
        let seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
        let started = self.clock.now();
        let limits = BatchLimits {
            max_in_flight: MAX_IN_FLIGHT,
            seed: r.jitter.next_u64(),
            deadline: Some(started.saturating_add(spec.settings.function_timeout)),
            ..BatchLimits::default()
        };
        let records = self.event_records(stream, rows);
        let result = match records {
            Err(e) => Err(e),
            Ok(records) => self.handle(spec, r, records, limits).await,
        };
        let now = self.clock.now();
        let answer = match &result {
            Ok(summary) => match summary.failures.iter().map(|f| f.index).min() {
                None => Answer::Complete,
                Some(i) => Answer::FailedFrom(i),
            },
            Err(_) => Answer::Failed,
        };
        {
            let mut s = lock(&self.status[index]);
            s.invocations += 1;
            s.records_delivered += seqs.len() as u64;
            s.last_batch_at = Some(now.0);
            match &result {
                Ok(summary) => {
                    s.records_applied += summary.applied as u64;
                    s.records_skipped += summary.skipped as u64;
                    s.last_batch_lag_ms = summary.newest_change.map(|t| now.0.saturating_sub(t.0));
                    if let Some(f) = summary.failures.first() {
                        s.failed_invocations += 1;
                        s.last_error = Some(ErrorInfo {
                            at: now.0,
                            message: f.cause.to_string(),
                            sequence_number: Some(f.sequence_number.as_str().to_owned()),
                            key: Some(plain_json::item_to_string(&f.key)),
                        });
                    }
                    r.burst.add(seqs.len(), summary);
                }
                Err(e) => {
                    s.failed_invocations += 1;
                    s.last_error = Some(ErrorInfo {
                        at: now.0,
                        message: e.clone(),
                        sequence_number: None,
                        key: None,
                    });
                    tracing::warn!(
                        pipeline = name,
                        shard = shard.shard_id,
                        error = e,
                        "invocation failed"
                    );
                }
            }
        }
        let key = (stream.arn.clone(), shard.shard_id.clone());
        let Some(cursor) = r.cursors.get_mut(&key) else {
            return Ok(());
        };
        let verdict = cursor.on_answer(&seqs, answer, now, &mut r.jitter);
        let checkpoint = match &verdict {
            Verdict::Advanced(c) => Some(*c),
            Verdict::Retry { checkpoint, retry_at } => {
                let reason = format!(
                    "retry {} in {} ms",
                    cursor.attempts,
                    retry_at.0.saturating_sub(now.0)
                );
                self.set_state(index, State::Retrying, Some(reason));
                *checkpoint
            }
            Verdict::Bisect { limit } => {
                tracing::info!(
                    pipeline = name,
                    shard = shard.shard_id,
                    limit,
                    "bisecting the failed batch"
                );
                None
            }
            Verdict::Discarded { checkpoint, skipped } => {
                tracing::error!(
                    pipeline = name,
                    shard = shard.shard_id,
                    records = skipped.len(),
                    first_sequence_number = %streams::sequence_text(skipped.first().copied().unwrap_or(0)),
                    last_sequence_number = %streams::sequence_text(skipped.last().copied().unwrap_or(0)),
                    "retries exhausted (maximum_retry_attempts): these records are skipped"
                );
                lock(&self.status[index]).records_discarded += skipped.len() as u64;
                Some(*checkpoint)
            }
        };
        if let Some(seq) = checkpoint {
            let cp = Checkpoint { seq, finished: false };
            self.save(index, stream, shard, cp).await?;
        }
        Ok(())
    }

    /// The stored records as Lambda delivers them: the GetRecords shape plus `eventSourceARN`.
    fn event_records(
        &self,
        stream: &StreamRow,
        rows: Vec<(i64, String)>,
    ) -> Result<Vec<StreamRecord>, String> {
        rows.into_iter()
            .map(|(seq, text)| {
                let mut record: StreamRecord = serde_json::from_str(&text)
                    .map_err(|e| format!("stream record {}: {e}", streams::sequence_text(seq)))?;
                record.event_source_arn = Some(stream.arn.clone());
                record.aws_region.get_or_insert_with(|| self.region.clone());
                record
                    .event_source
                    .get_or_insert_with(|| "aws:dynamodb".to_owned());
                Ok(record)
            })
            .collect()
    }

    async fn handle(
        &self,
        spec: &PipelineSpec,
        r: &Runner,
        records: Vec<StreamRecord>,
        limits: BatchLimits,
    ) -> Result<BatchSummary, String> {
        let name = spec.name();
        let report = |e: BatchEvent| match e {
            BatchEvent::Failed(f) => tracing::warn!(
                pipeline = name,
                sequence_number = f.sequence_number.as_str(),
                key = %plain_json::item_to_string(&f.key),
                cause = %f.cause,
                "record not applied; retried from this record"
            ),
        };
        let clock = self.clock.as_ref();
        match &spec.target {
            Target::Replicate { .. } => {
                let job = Replicate::new(records, limits).map_err(|e| e.to_string())?;
                drive::run(job, clock, r.table.as_ref(), None, report)
                    .await
                    .map_err(|e| e.to_string())
            }
            Target::Backup { prefix, .. } => {
                let target = BackupTarget {
                    prefix: prefix.clone(),
                    table: Some(spec.source.clone()),
                    skip_delivered: true,
                };
                let job = Backup::new(records, target, limits).map_err(|e| e.to_string())?;
                drive::run(job, clock, None, r.bucket.as_ref(), report)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// A pipeline task's own state.
struct Runner {
    cursors: HashMap<(String, String), Cursor>,
    table: Option<LocalTable>,
    bucket: Option<LocalBucket>,
    jitter: JitterRng,
    /// Whether the pipeline had no checkpoint when it started (the starting position applies).
    fresh: Option<bool>,
    burst: Burst,
    trim_warned: HashSet<(String, String)>,
}

enum Step {
    Busy,
    Until(Millis),
}

/// The batches since the pipeline was last idle, for one log line per burst.
#[derive(Default)]
struct Burst {
    batches: u64,
    records: u64,
    applied: u64,
    skipped: u64,
    failed: u64,
    newest: Option<Millis>,
}

impl Burst {
    fn add(&mut self, records: usize, summary: &BatchSummary) {
        self.batches += 1;
        self.records += records as u64;
        self.applied += summary.applied as u64;
        self.skipped += summary.skipped as u64;
        self.failed += summary.failures.len() as u64;
        self.newest = self.newest.max(summary.newest_change);
    }

    fn log(&mut self, pipeline: &str, now: Millis) {
        if self.batches == 0 {
            return;
        }
        tracing::info!(
            pipeline,
            batches = self.batches,
            records = self.records,
            applied = self.applied,
            skipped = self.skipped,
            failed = self.failed,
            lag_ms = self.newest.map(|t| now.0.saturating_sub(t.0)),
            "caught up"
        );
        *self = Burst::default();
    }
}

fn view_has_new_image(view: &str) -> bool {
    serde_json::from_value::<StreamViewType>(serde_json::Value::String(view.to_owned()))
        .is_ok_and(StreamViewType::has_new_image)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One shard as the status shows it.
#[derive(Debug, Serialize)]
struct ShardReport {
    stream_arn: String,
    shard_id: String,
    parent_shard_id: Option<String>,
    checkpoint: Option<String>,
    finished: bool,
    pending_records: i64,
    oldest_pending_age_ms: Option<u64>,
}

fn shard_report(
    conn: &rusqlite::Connection,
    pipeline: &str,
    table: &str,
    now: Millis,
) -> rusqlite::Result<Vec<ShardReport>> {
    let mut out = Vec::new();
    for stream in streams::list_streams(conn, Some(table))?.into_iter().rev() {
        for shard in streams::shards(conn, &stream.arn)? {
            let cp = checkpoints::get(conn, pipeline, &stream.arn, &shard.shard_id)?;
            let seq = cp.map_or(0, |c| c.seq);
            let pending = checkpoints::records_after(conn, &stream.arn, &shard.shard_id, seq)?;
            let oldest = checkpoints::oldest_after(conn, &stream.arn, &shard.shard_id, seq)?;
            out.push(ShardReport {
                stream_arn: stream.arn.clone(),
                shard_id: shard.shard_id,
                parent_shard_id: shard.parent_shard_id,
                checkpoint: cp.map(|c| streams::sequence_text(c.seq)),
                finished: cp.is_some_and(|c| c.finished),
                pending_records: pending,
                oldest_pending_age_ms: oldest.map(|t| now.0.saturating_sub(u64::try_from(t).unwrap_or(0))),
            });
        }
    }
    Ok(out)
}
