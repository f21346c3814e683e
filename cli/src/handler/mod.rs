//! The stream handlers `replicate` and `backup`: a DynamoDB stream event in, the engine's stream job
//! (`ddbrep_engine::stream`) run on the drivers, Lambda's partial batch response out.
//!
//! One code path for every place a handler runs: the Lambda binary (`lambdas/`, on `lambda_runtime`),
//! `ddbrep invoke-handler` (a captured event, once), and tests. The configuration is the original's Lambda
//! environment ([`env`]).
//!
//! - `replicate`: records grouped by replica table (`ReplicaTable`, or `ReplicaTableMap` by the event's
//!   source table), one [`Replicate`] job per replica table, on one DynamoDB client (`ReplicaRegion`,
//!   `ReplicaEndpoint`, static keys or `ReplicaRoleArn`).
//! - `backup`: one [`Backup`] job on the `BackupBucket` client (`BackupRegion`), objects under
//!   `BackupPrefix/<source table>/<key hash>`.
//! - `TurnoverRole`/`TurnoverAt` drop the records on the other side of a turnover before either runs.
//!
//! The outcome gives the response (`{"batchItemFailures":[{"itemIdentifier":"<SequenceNumber>"}]}`), a
//! log line per batch and per failed key (with its key and sequence number), and a CloudWatch Embedded
//! Metric Format line (records applied, skipped, failed, and the change lag) for alarms on a stuck stream.

pub mod env;

use std::collections::BTreeMap;

use aws_credential_types::Credentials;
use ddbrep_engine::codec::plain_json;
use ddbrep_engine::codec::stream_event::{parse_event, StreamEvent, StreamRecord};
use ddbrep_engine::stream::{
    keys_schema, Backup, BackupTarget, BatchError, BatchEvent, BatchLimits, BatchSummary, Replicate,
};
use ddbrep_engine::time::Millis;
use serde_json::json;

use crate::drive::aws::{self, Connection, Service};
use crate::drive::dynamo::{DynamoTable, DynamoTables};
use crate::drive::run::{run, Clock, RunError};
use crate::drive::s3::S3Bucket;
use crate::drive::sink::NoSink;
use crate::drive::Nothing;
use env::{Config, EnvError};

/// Which handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    /// Keep a replica table in sync.
    Replicate,
    /// Keep the incremental backup in S3.
    Backup,
}

impl HandlerKind {
    /// From a handler name: `replicate` / `backup`, or the original's `index.replicate` / `index.backup`
    /// (what `_HANDLER` holds for a function configured for the original).
    pub fn parse(name: &str) -> Option<HandlerKind> {
        match name.trim().strip_prefix("index.").unwrap_or(name.trim()) {
            "replicate" => Some(HandlerKind::Replicate),
            "backup" => Some(HandlerKind::Backup),
            _ => None,
        }
    }

    /// `replicate` or `backup`.
    pub fn name(self) -> &'static str {
        match self {
            HandlerKind::Replicate => "replicate",
            HandlerKind::Backup => "backup",
        }
    }
}

/// Why an invocation failed as a whole (Lambda then retries the whole batch).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The environment is not a usable configuration.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The event is not a DynamoDB stream event.
    #[error("the event is not a DynamoDB stream event: {0}")]
    Event(String),
    /// The records cannot be handled at all (a stream without new images).
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A record's source table has no replica table.
    #[error(
        "no replica table for records of table {0}: set ReplicaTable, or add the table to ReplicaTableMap"
    )]
    NoReplica(String),
    /// The driver loop failed (a bug).
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A handler, configured once per process (Lambda container) and invoked per batch.
#[derive(Debug, Clone)]
pub struct Handler {
    kind: HandlerKind,
    config: Config,
    replica: Option<aws_sdk_dynamodb::Client>,
    bucket: Option<S3Bucket>,
    /// Requests in flight per job.
    pub max_in_flight: usize,
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The handler.
    pub kind: HandlerKind,
    /// The merged summary of the batch's jobs; failure indexes are positions in the event.
    pub summary: BatchSummary,
    /// Records left out by the turnover filter.
    pub filtered: usize,
}

impl Outcome {
    /// Lambda's partial batch response.
    pub fn response(&self) -> serde_json::Value {
        let failures: Vec<serde_json::Value> = self
            .summary
            .batch_item_failures()
            .iter()
            .map(|s| json!({ "itemIdentifier": s.as_str() }))
            .collect();
        json!({ "batchItemFailures": failures })
    }

    /// The change lag at `now`: from the newest change's `ApproximateCreationDateTime`.
    pub fn lag(&self, now: Millis) -> Option<u64> {
        self.summary.newest_change.map(|t| now.0.saturating_sub(t.0))
    }

    /// One CloudWatch Embedded Metric Format line (namespace `ddbrep`, dimension `Handler`): printed to
    /// stdout in Lambda, it becomes metrics without a PutMetricData call.
    pub fn emf(&self, now: Millis) -> serde_json::Value {
        let mut metrics = vec![
            json!({"Name": "RecordsApplied", "Unit": "Count"}),
            json!({"Name": "RecordsSkipped", "Unit": "Count"}),
            json!({"Name": "RecordsFailed", "Unit": "Count"}),
        ];
        let mut line = json!({
            "Handler": self.kind.name(),
            "RecordsApplied": self.summary.applied,
            "RecordsSkipped": self.summary.skipped + self.filtered,
            "RecordsFailed": self.summary.failures.len(),
        });
        if let Some(lag) = self.lag(now) {
            metrics.push(json!({"Name": "ChangeLag", "Unit": "Milliseconds"}));
            line["ChangeLag"] = json!(lag);
        }
        line["_aws"] = json!({
            "Timestamp": now.0,
            "CloudWatchMetrics": [{
                "Namespace": "ddbrep",
                "Dimensions": [["Handler"]],
                "Metrics": metrics,
            }],
        });
        line
    }
}

impl Handler {
    /// Builds the handler's clients from the configuration. `connection` carries the endpoint overrides
    /// of the environment (`AWS_ENDPOINT_URL…`) or of `ddbrep invoke-handler`'s flags; `ReplicaEndpoint`
    /// comes first for the replica.
    pub async fn new(
        kind: HandlerKind,
        config: Config,
        connection: &Connection,
    ) -> Result<Handler, HandlerError> {
        let (replica, bucket) = match kind {
            HandlerKind::Replicate => {
                let r = config.require_replica()?;
                let endpoint = r.endpoint.as_deref();
                let sdk = aws::load(Service::DynamoDb, r.region.as_deref(), endpoint, connection).await;
                let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk);
                if let Some(c) = &r.credentials {
                    builder = builder.credentials_provider(Credentials::new(
                        c.access_key_id.clone(),
                        c.secret_access_key.clone(),
                        None,
                        None,
                        "ReplicaAccessKeyId",
                    ));
                } else if let Some(role) = &r.role_arn {
                    let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                        .session_name("ddbrep-replicate")
                        .configure(&sdk)
                        .build()
                        .await;
                    builder = builder.credentials_provider(provider);
                }
                (Some(aws_sdk_dynamodb::Client::from_conf(builder.build())), None)
            }
            HandlerKind::Backup => {
                let b = config.require_backup()?;
                let client = aws::s3(b.region.as_deref(), connection).await;
                let bucket = S3Bucket {
                    client,
                    bucket: b.bucket.clone(),
                };
                (None, Some(bucket))
            }
        };
        Ok(Handler {
            kind,
            config,
            replica,
            bucket,
            max_in_flight: 16,
        })
    }

    /// The handler.
    pub fn kind(&self) -> HandlerKind {
        self.kind
    }

    /// Handles one event given as JSON text (parsed exactly: numbers and binary as they are).
    pub async fn invoke_text(&self, text: &str, deadline: Option<Millis>) -> Result<Outcome, HandlerError> {
        let event = parse_event(text).map_err(|e| HandlerError::Event(e.to_string()))?;
        self.invoke(event, deadline).await
    }

    /// Handles one event. `deadline`: stop retrying and report what is left at this instant (the Lambda
    /// invocation's deadline less a margin).
    pub async fn invoke(
        &self,
        event: StreamEvent,
        deadline: Option<Millis>,
    ) -> Result<Outcome, HandlerError> {
        let total = event.records.len();
        let kept: Vec<(usize, StreamRecord)> = event
            .records
            .into_iter()
            .enumerate()
            .filter(
                |(_, r)| match (&self.config.turnover, r.dynamodb.approximate_creation_date_time) {
                    (Some(turnover), Some(created)) => turnover.keeps(created.0),
                    _ => true,
                },
            )
            .collect();
        let filtered = total - kept.len();
        let limits = BatchLimits {
            max_in_flight: self.max_in_flight,
            deadline,
            seed: fastrand::u64(..),
            ..BatchLimits::default()
        };
        let mut summary = match self.kind {
            HandlerKind::Replicate => self.replicate(kept, &limits).await?,
            HandlerKind::Backup => self.backup(kept, &limits).await?,
        };
        summary.records = total;
        let outcome = Outcome {
            kind: self.kind,
            summary,
            filtered,
        };
        let s = &outcome.summary;
        tracing::info!(
            handler = self.kind.name(),
            records = s.records,
            applied = s.applied,
            skipped = s.skipped,
            filtered,
            failed = s.failures.len(),
            requests = s.requests,
            "batch done"
        );
        Ok(outcome)
    }

    async fn replicate(
        &self,
        kept: Vec<(usize, StreamRecord)>,
        limits: &BatchLimits,
    ) -> Result<BatchSummary, HandlerError> {
        let Some(client) = &self.replica else {
            return Err(EnvError::Missing("ReplicaTable", "replicate").into());
        };
        let replica = self.config.require_replica()?;
        let mut groups: BTreeMap<String, Vec<(usize, StreamRecord)>> = BTreeMap::new();
        for (i, record) in kept {
            let source = record.source_table();
            let table = replica
                .table_for(source)
                .ok_or_else(|| HandlerError::NoReplica(source.unwrap_or("(no eventSourceARN)").to_owned()))?;
            groups.entry(table.to_owned()).or_default().push((i, record));
        }
        let mut merged = BatchSummary::default();
        for (table, group) in groups {
            let (indexes, records): (Vec<usize>, Vec<StreamRecord>) = group.into_iter().unzip();
            // No record with a usable key: the job sends nothing and reports each record.
            let target = records
                .iter()
                .find_map(|r| keys_schema(&r.dynamodb.keys).ok())
                .map(|schema| DynamoTable {
                    client: client.clone(),
                    name: table,
                    schema,
                    meter: None,
                });
            let job = Replicate::new(records, limits.clone())?;
            let summary = self.run_replicate(job, target).await?;
            merge(&mut merged, summary, &indexes);
        }
        Ok(merged)
    }

    async fn run_replicate(
        &self,
        job: Replicate,
        target: Option<DynamoTable>,
    ) -> Result<BatchSummary, HandlerError> {
        let report = |e: BatchEvent, _| log_event(self.kind, &e);
        let summary = match target {
            Some(table) => {
                let tables = DynamoTables {
                    primary: table.clone(),
                    replica: Some(table),
                };
                run(job, Clock::start(), &tables, &Nothing, &mut NoSink, report).await?
            }
            None => run(job, Clock::start(), &Nothing, &Nothing, &mut NoSink, report).await?,
        };
        Ok(summary)
    }

    async fn backup(
        &self,
        kept: Vec<(usize, StreamRecord)>,
        limits: &BatchLimits,
    ) -> Result<BatchSummary, HandlerError> {
        let (Some(bucket), Some(config)) = (&self.bucket, &self.config.backup) else {
            return Err(EnvError::Missing("BackupBucket", "backup").into());
        };
        let (indexes, records): (Vec<usize>, Vec<StreamRecord>) = kept.into_iter().unzip();
        let target = BackupTarget {
            prefix: config.prefix.clone(),
            table: None,
            skip_delivered: config.skip_delivered,
        };
        let job = Backup::new(records, target, limits.clone())?;
        let report = |e: BatchEvent, _| log_event(self.kind, &e);
        let summary = run(job, Clock::start(), &Nothing, bucket, &mut NoSink, report).await?;
        let mut merged = BatchSummary::default();
        merge(&mut merged, summary, &indexes);
        Ok(merged)
    }
}

/// Adds one job's summary to the invocation's, mapping its record positions back to the event's.
fn merge(into: &mut BatchSummary, summary: BatchSummary, indexes: &[usize]) {
    into.records += summary.records;
    into.applied += summary.applied;
    into.skipped += summary.skipped;
    into.requests += summary.requests;
    into.newest_change = into.newest_change.max(summary.newest_change);
    for mut failure in summary.failures {
        if let Some(&i) = indexes.get(failure.index) {
            failure.index = i;
        }
        into.failures.push(failure);
    }
    into.failures.sort_by_key(|f| f.index);
}

fn log_event(kind: HandlerKind, event: &BatchEvent) {
    match event {
        BatchEvent::Failed(f) => tracing::warn!(
            handler = kind.name(),
            sequence_number = f.sequence_number.as_str(),
            key = %plain_json::item_to_string(&f.key),
            cause = %f.cause,
            "record not applied; reported in batchItemFailures, Lambda redelivers from the first"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_handler_names_are_understood() {
        assert_eq!(
            HandlerKind::parse("index.replicate"),
            Some(HandlerKind::Replicate)
        );
        assert_eq!(HandlerKind::parse("backup"), Some(HandlerKind::Backup));
        assert_eq!(HandlerKind::parse("index.other"), None);
    }

    #[test]
    fn the_response_and_the_metric_line_name_what_failed() {
        use ddbrep_engine::codec::stream_event::SequenceNumber;
        use ddbrep_engine::stream::{BatchFailure, FailureCause};
        let outcome = Outcome {
            kind: HandlerKind::Replicate,
            summary: BatchSummary {
                records: 3,
                applied: 2,
                failures: vec![BatchFailure {
                    index: 2,
                    sequence_number: SequenceNumber::parse("333").unwrap(),
                    key: Default::default(),
                    cause: FailureCause::OutOfTime,
                }],
                newest_change: Some(Millis(1_000)),
                ..BatchSummary::default()
            },
            filtered: 0,
        };
        assert_eq!(
            outcome.response().to_string(),
            r#"{"batchItemFailures":[{"itemIdentifier":"333"}]}"#
        );
        let emf = outcome.emf(Millis(4_500));
        assert_eq!(emf["ChangeLag"], 3_500);
        assert_eq!(emf["RecordsFailed"], 1);
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ddbrep");
    }
}
