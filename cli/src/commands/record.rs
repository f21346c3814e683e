//! The single-record tools (engine: `record.rs`, `history.rs`): `diff-record`, `replicate-record`,
//! `incremental-diff-record`, `incremental-backup-record`, `incremental-record-history`.

use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::history::{History, HistoryEvent, HistoryFormat, HistoryPlan};
use ddbrep_engine::model::Item;
use ddbrep_engine::record::{diff_record_text, Record, RecordEvent, RecordPlan, RecordSummary, RecordTool};
use serde_json::json;

use super::context::{self, open_bucket, open_table, parse_key};
use super::diff_tables::key_fields;
use super::{RecordArgs, TableS3KeyArgs};
use crate::drive::dynamo::DynamoTables;
use crate::drive::run::{run, Clock};
use crate::drive::s3::S3Bucket;
use crate::drive::sink::{NoSink, Sink, WriterSink};
use crate::drive::{Nothing, ObjectStore};
use crate::error::CliError;
use crate::output::Output;

fn exact(item: Option<&Item>) -> serde_json::Value {
    item.and_then(|i| serde_json::from_str(&ddb_json::item_to_string(i)).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Which single-record tool, for the shared runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Diff,
    Replicate,
    DiffBackup,
    Backup,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Diff => "diff-record",
            Kind::Replicate => "replicate-record",
            Kind::DiffBackup => "incremental-diff-record",
            Kind::Backup => "incremental-backup-record",
        }
    }
}

async fn run_record<O: ObjectStore>(
    kind: Kind,
    plan: RecordPlan,
    tables: &DynamoTables,
    objects: &O,
    out: &mut Output<std::io::Stdout>,
    key_text: &str,
) -> Result<RecordSummary, CliError> {
    let clock = Clock::start();
    let summary = run(Record::new(plan), clock, tables, objects, &mut NoSink, |event, now| match event {
        RecordEvent::Compared {
            primary,
            other,
            equivalent,
        } => {
            if out.is_json() {
                let _ = out.event(now, "compared", "", json!({ "primary": exact(primary.as_ref()), "other": exact(other.as_ref()), "equivalent": equivalent }));
            } else {
                let text = diff_record_text(primary.as_ref(), other.as_ref(), equivalent);
                let _ = std::io::Write::write_all(out.writer(), text.as_bytes());
            }
        }
        RecordEvent::Written => {
            let _ = out.event(now, "written", key_text, json!({}));
        }
        RecordEvent::AlreadyCurrent => {
            let _ = out.event(now, "current", key_text, json!({}));
        }
        RecordEvent::Failed { attempts } => {
            let _ = out.event(now, "failed", &format!("{key_text} after {attempts} rounds"), json!({ "attempts": attempts }));
        }
    })
    .await
    .map_err(|e| CliError::failed(format!("{}: {e}", kind.name())))?;
    let _ = out.summary(
        clock.now(),
        json!({ "ok": summary.ok, "error": summary.error.as_ref().map(ToString::to_string) }),
    );
    if let Some(e) = &summary.error {
        return Err(CliError::failed(format!("{} {key_text}: {e}", kind.name())));
    }
    Ok(summary)
}

/// diff-record and replicate-record.
pub fn cmd_two_tables(args: &RecordArgs, replicate: bool) -> Result<(), CliError> {
    let kind = if replicate { Kind::Replicate } else { Kind::Diff };
    let connection = args.common.connection();
    let mut out = Output::new(
        std::io::stdout(),
        args.common.format(),
        kind.name(),
        context::jobid(),
    );
    context::runtime()?.block_on(async {
        let (primary, _) = open_table(&args.primary, &connection).await?;
        let (replica, _) = open_table(&args.replica, &connection).await?;
        if primary.schema != replica.schema {
            return Err(CliError::failed(format!(
                "the key schemas of {} and {} differ",
                args.primary, args.replica
            )));
        }
        let key = parse_key(&args.key, &primary.schema)?;
        let (key_text, _) = key_fields(&key);
        let tool = if replicate {
            RecordTool::Replicate
        } else {
            RecordTool::Diff
        };
        let mut plan = RecordPlan::new(tool, primary.schema.clone(), key);
        plan.seed = context::seed();
        let tables = DynamoTables {
            primary,
            replica: Some(replica),
        };
        let summary = run_record(kind, plan, &tables, &Nothing, &mut out, &key_text).await?;
        finish(kind, &summary, args.exit_code, &key_text)
    })
}

fn finish(kind: Kind, summary: &RecordSummary, exit_code: bool, key_text: &str) -> Result<(), CliError> {
    match kind {
        Kind::Diff | Kind::DiffBackup if exit_code && !summary.ok => Err(CliError::differences(1)),
        Kind::Replicate | Kind::Backup if !summary.ok => Err(CliError::failed(format!(
            "{} {key_text}: the target could not be brought up to date (the item kept changing); run it again",
            kind.name()
        ))),
        _ => Ok(()),
    }
}

async fn open_table_and_bucket(
    args: &TableS3KeyArgs,
) -> Result<(DynamoTables, S3Bucket, ddbrep_engine::model::Key), CliError> {
    let connection = args.common.connection();
    let (table, _) = open_table(&args.table, &connection).await?;
    let bucket = open_bucket(&args.s3url, &connection).await?;
    let key = parse_key(&args.key, &table.schema)?;
    Ok((
        DynamoTables {
            primary: table,
            replica: None,
        },
        bucket,
        key,
    ))
}

/// incremental-diff-record and incremental-backup-record.
pub fn cmd_backup_record(args: &TableS3KeyArgs, write: bool) -> Result<(), CliError> {
    let kind = if write { Kind::Backup } else { Kind::DiffBackup };
    let mut out = Output::new(
        std::io::stdout(),
        args.common.format(),
        kind.name(),
        context::jobid(),
    );
    context::runtime()?.block_on(async {
        let (tables, bucket, key) = open_table_and_bucket(args).await?;
        let (key_text, _) = key_fields(&key);
        let prefix = args.s3url.prefix.clone();
        let table = tables.primary.name.clone();
        let tool = if write {
            RecordTool::Backup { prefix, table }
        } else {
            RecordTool::DiffBackup { prefix, table }
        };
        let mut plan = RecordPlan::new(tool, tables.primary.schema.clone(), key);
        plan.seed = context::seed();
        let summary = run_record(kind, plan, &tables, &bucket, &mut out, &key_text).await?;
        finish(kind, &summary, args.exit_code, &key_text)
    })
}

/// incremental-record-history: every version of the item's backup object, newest first.
pub fn cmd_history(args: &TableS3KeyArgs) -> Result<(), CliError> {
    context::runtime()?.block_on(async {
        let (tables, bucket, key) = open_table_and_bucket(args).await?;
        let mut plan = HistoryPlan::new(key, args.s3url.prefix.clone(), tables.primary.name.clone());
        plan.format = if args.common.json {
            HistoryFormat::Json
        } else {
            HistoryFormat::Text
        };
        plan.seed = context::seed();
        let mut sink = WriterSink(std::io::BufWriter::new(std::io::stdout()));
        let summary = run(
            History::new(plan),
            Clock::start(),
            &Nothing,
            &bucket,
            &mut sink,
            |event, _| match event {
                HistoryEvent::Unreadable { key, version_id } => {
                    eprintln!(
                        "warning: s3://{}/{key} version {version_id} is not a DynamoDB-JSON item; skipped",
                        bucket.bucket
                    );
                }
            },
        )
        .await
        .map_err(|e| CliError::failed(format!("incremental-record-history: {e}")))?;
        sink.finish().await.map_err(|e| CliError::failed(e.to_string()))?;
        match summary.error {
            Some(e) => Err(CliError::failed(format!(
                "incremental-record-history {}: {e}",
                args.key
            ))),
            None => Ok(()),
        }
    })
}
