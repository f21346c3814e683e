//! `incremental-backfill` (engine: `backfill.rs`) and `incremental-snapshot` (engine: `snapshot.rs`).

use ddbrep_engine::backfill::{Backfill, BackfillEvent, BackfillPlan, BackfillProgress};
use ddbrep_engine::rekey::{Rekey, RekeyEvent, RekeyOutcome, RekeyPlan, RekeyProgress};
use ddbrep_engine::snapshot::{Snapshot, SnapshotEvent, SnapshotPlan};
use serde_json::json;

use super::context::{self, open_bucket, open_table, rate, segment_plan, Progress};
use super::diff_tables::key_fields;
use super::metric;
use super::{DiffTableArgs, RekeyArgs, SnapshotArgs, TableS3Args};
use crate::drive::dynamo::{DynamoTables, Metered};
use crate::drive::run::{run, Clock};
use crate::drive::sink::{Encryption, GzipObjects, NoSink, Sink};
use crate::drive::Nothing;
use crate::error::CliError;
use crate::output::Output;

fn backfill_line(p: &BackfillProgress, elapsed: std::time::Duration) -> String {
    format!(
        "{} items scanned @ {} items/s, {} written, {} already current, {} failed",
        p.scanned,
        rate(p.scanned, elapsed),
        p.written,
        p.unchanged,
        p.failed
    )
}

/// Runs incremental-backfill: every item to `{prefix}/{table}/{key hash}`.
pub fn cmd_backfill(args: &TableS3Args) -> Result<(), CliError> {
    scan_into_backup(args, None)
}

/// Runs incremental-diff-table: the backfill's reconcile loop reporting (and with --repair, fixing) every
/// difference, then the folder pass for extraneous objects.
pub fn cmd_diff_table(args: &DiffTableArgs) -> Result<(), CliError> {
    scan_into_backup(&args.scan, Some(args))
}

/// What a difference is called: `[missing]`, `[different]`, `[extraneous]`.
fn difference(in_table: bool, in_backup: bool) -> &'static str {
    match (in_table, in_backup) {
        (true, false) => "missing",
        (true, true) => "different",
        _ => "extraneous",
    }
}

fn scan_into_backup(args: &TableS3Args, check: Option<&DiffTableArgs>) -> Result<(), CliError> {
    let tool = if check.is_some() {
        "incremental-diff-table"
    } else {
        "incremental-backfill"
    };
    let (segments, total) = segment_plan(args.segment, args.segments, args.parallel)?;
    let connection = args.common.connection();
    let jobid = context::jobid();
    let mut out = Output::new(std::io::stdout(), args.common.format(), tool, jobid);
    context::runtime()?.block_on(async {
        let (mut table, info) = open_table(&args.table, &connection).await?;
        let bucket = open_bucket(&args.s3url, &connection).await?;
        table.meter = context::meter(args.max_rate, args.capacity_fraction, Some(&info), Metered::Reads);
        let mut plan = BackfillPlan::new(table.schema.clone(), args.s3url.prefix.clone(), table.name.clone());
        plan.page_limit = context::page_limit(&segments);
        plan.segments = segments.clone();
        plan.total_segments = total;
        plan.rate_limit = context::rate_limit(args.max_rate, args.capacity_fraction, &info)?;
        plan.seed = context::seed();
        if let Some(check) = check {
            plan.repair = check.repair;
            // A check reports what is missing: no write before the object is read.
            plan.presume_absent = false;
            // The folder holds every segment's objects: only a run over the whole table checks it.
            plan.extraneous = args.segment.is_none();
        }
        let progress = Progress::new(info.item_count * segments.len() as u64 / u64::from(total.max(1)), "items");
        plan.progress_every = Some(progress.every());
        let tables = DynamoTables {
            primary: table,
            replica: None,
        };
        let clock = Clock::start();
        let started = clock.now();
        let s3url = &args.s3url;
        let summary = run(Backfill::new(plan), clock, &tables, &bucket, &mut NoSink, |event, now| match event {
            BackfillEvent::Progress(p) => {
                progress.set(p.scanned);
                let _ = out.progress(now, &backfill_line(&p, now.since(started)), json!({ "scanned": p.scanned, "written": p.written, "unchanged": p.unchanged, "failed": p.failed }), progress.is_bar());
            }
            BackfillEvent::Failed { key, attempts } => {
                let (text, exact) = key_fields(&key);
                let _ = out.event(now, "failed", &format!("{text} after {attempts} rounds"), json!({ "key": exact, "attempts": attempts }));
            }
            BackfillEvent::Differs { key, in_table, in_backup } => {
                let (text, exact) = key_fields(&key);
                let _ = out.event(now, difference(in_table, in_backup), &text, json!({ "key": exact }));
            }
            BackfillEvent::Unreadable { object, error } => {
                let _ = out.event(now, "unreadable", &format!("s3://{}/{object}: {error}", s3url.bucket), json!({ "object": object, "error": error }));
            }
        })
        .await
        .map_err(|e| CliError::failed(format!("{tool}: {e}")))?;
        progress.finish();
        let p = summary.progress;
        let now = clock.now();
        let discrepancies = p.missing + p.different + p.extraneous;
        if check.is_some() {
            let _ = out.event(now, "discrepancies", &discrepancies.to_string(), json!({ "discrepancies": discrepancies }));
            if args.segment.is_some() {
                let _ = out.line(now, "note", "extraneous objects are not checked by a run over one segment", json!({}));
            }
        } else if !out.is_json() {
            let _ = out.event(now, "done", &backfill_line(&p, now.since(started)), json!({}));
        }
        let _ = out.summary(now, json!({
            "scanned": p.scanned, "written": p.written, "unchanged": p.unchanged, "failed": p.failed,
            "missing": p.missing, "different": p.different, "extraneous": p.extraneous, "unreadable": p.unreadable,
            "error": summary.error.as_ref().map(ToString::to_string),
        }));
        if let Some(e) = summary.error {
            return Err(CliError::failed(format!("{tool} {} with {}: {e}", args.table, args.s3url)));
        }
        if p.failed > 0 {
            return Err(CliError::failed(format!(
                "{} items could not be brought up to date (they kept changing); run {tool} again",
                p.failed
            )));
        }
        if check.is_some_and(|c| c.exit_code && !c.repair) && (discrepancies > 0 || p.unreadable > 0) {
            return Err(CliError::differences(discrepancies + p.unreadable));
        }
        Ok(())
    })
}

fn rekey_line(p: &RekeyProgress) -> String {
    format!(
        "{} names listed, {} canonical, {} keys migrated, {} already migrated, {} unreadable, {} failed",
        p.listed, p.canonical, p.migrated, p.already, p.unreadable, p.failed
    )
}

/// Runs incremental-rekey: every key of the folder under its canonical name alone.
pub fn cmd_rekey(args: &RekeyArgs) -> Result<(), CliError> {
    let connection = args.common.connection();
    let mut out = Output::new(
        std::io::stdout(),
        args.common.format(),
        "incremental-rekey",
        context::jobid(),
    );
    context::runtime()?.block_on(async {
        let (table, _) = open_table(&args.table, &connection).await?;
        let bucket = open_bucket(&args.s3url, &connection).await?;
        let folder = format!("{}/{}/", args.s3url.prefix, table.name);
        let mut plan = RekeyPlan::new(folder.clone(), table.schema.clone());
        plan.dry_run = args.dry_run;
        plan.seed = context::seed();
        let progress = Progress::new(0, "names");
        plan.progress_every = Some(progress.every());
        let clock = Clock::start();
        let s3 = |object: &str| format!("s3://{}/{object}", args.s3url.bucket);
        let verb = if args.dry_run { "would migrate" } else { "migrated" };
        let summary = run(Rekey::new(plan), clock, &Nothing, &bucket, &mut NoSink, |event, now| match event {
            RekeyEvent::Progress(p) => {
                progress.set(p.listed);
                let _ = out.progress(now, &rekey_line(&p), json!({ "listed": p.listed, "canonical": p.canonical, "migrated": p.migrated, "already": p.already }), progress.is_bar());
            }
            RekeyEvent::Migrated { key, canonical, legacy, outcome } => {
                let (text, exact) = key_fields(&key);
                let (how, from) = match &outcome {
                    RekeyOutcome::Copied { from } => ("state copied from", Some(s3(from))),
                    RekeyOutcome::Kept => ("state kept", None),
                    RekeyOutcome::Deleted => ("deleted", None),
                };
                let legacy: Vec<String> = legacy.iter().map(|o| s3(o)).collect();
                let line = format!("{text} {verb} to {} ({how}{}); delete marker on {}", s3(&canonical), from.as_ref().map(|f| format!(" {f}")).unwrap_or_default(), if legacy.is_empty() { "none".to_owned() } else { legacy.join(", ") });
                let _ = out.event(now, "rekey", &line, json!({ "key": exact, "canonical": s3(&canonical), "outcome": how, "from": from, "legacy": legacy, "dry_run": args.dry_run }));
            }
            RekeyEvent::Unreadable { object, error } => {
                let _ = out.event(now, "unreadable", &format!("{}: {error}", s3(&object)), json!({ "object": object, "error": error }));
            }
            RekeyEvent::Failed { key, rounds } => {
                let (text, exact) = key_fields(&key);
                let _ = out.event(now, "failed", &format!("{text}: its canonical object kept changing through {rounds} rounds; run incremental-rekey again"), json!({ "key": exact, "rounds": rounds }));
            }
            RekeyEvent::Raced { key, canonical } => {
                let (text, exact) = key_fields(&key);
                let _ = out.event(now, "raced", &format!("{text}: a delete was carried onto {} while a live write landed there; run incremental-diff-table --repair", s3(&canonical)), json!({ "key": exact, "canonical": s3(&canonical) }));
            }
        })
        .await
        .map_err(|e| CliError::failed(format!("incremental-rekey: {e}")))?;
        progress.finish();
        let p = summary.progress;
        let now = clock.now();
        if !out.is_json() {
            let _ = out.event(now, "done", &rekey_line(&p), json!({}));
        }
        let _ = out.summary(now, json!({
            "listed": p.listed, "canonical": p.canonical, "migrated": p.migrated, "already": p.already,
            "empty": p.empty, "unreadable": p.unreadable, "failed": p.failed, "raced": p.raced,
            "dry_run": args.dry_run, "error": summary.error.as_ref().map(ToString::to_string),
        }));
        if let Some(e) = summary.error {
            return Err(CliError::failed(format!("incremental-rekey {} in s3://{}/{folder}: {e}", args.table, args.s3url.bucket)));
        }
        if p.failed > 0 {
            return Err(CliError::failed(format!("{} keys could not be migrated (their canonical objects kept changing); run incremental-rekey again", p.failed)));
        }
        Ok(())
    })
}

/// Runs incremental-snapshot: every object under the source folder into one gzip'd object.
pub fn cmd_snapshot(args: &SnapshotArgs) -> Result<(), CliError> {
    if let Some(spec) = &args.metric {
        metric::parse_snapshot(spec)?;
    }
    if args.dest.prefix.is_empty() {
        return Err(CliError::usage(format!(
            "{}: the destination needs an object key (s3://bucket/key)",
            args.dest
        )));
    }
    let connection = args.common.connection();
    let mut out = Output::new(
        std::io::stdout(),
        args.common.format(),
        "incremental-snapshot",
        context::jobid(),
    );
    context::runtime()?.block_on(async {
        let source = open_bucket(&args.source, &connection).await?;
        let dest = if args.dest.bucket == args.source.bucket {
            source.clone()
        } else {
            open_bucket(&args.dest, &connection).await?
        };
        let clock = Clock::start();
        let _ = out.line(
            clock.now(),
            "start",
            &format!("Starting snapshot from {} to {}", args.source, args.dest),
            json!({ "source": args.source.to_string(), "dest": args.dest.to_string() }),
        );
        // A folder: list `prefix/`, not every key that merely starts with the prefix's text.
        let prefix = if args.source.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", args.source.prefix)
        };
        let mut plan = SnapshotPlan::new(prefix);
        plan.seed = context::seed();
        let progress = Progress::new(0, "objects");
        plan.progress_every = Some(progress.every());
        let mut sink = GzipObjects::new(
            dest.client.clone(),
            dest.bucket.clone(),
            [(0, args.dest.prefix.clone())],
        )
        .with_encryption(Some(Encryption::from_env(|name| std::env::var(name).ok())));
        let result = run(
            Snapshot::new(plan),
            clock,
            &Nothing,
            &source,
            &mut sink,
            |event, now| match event {
                SnapshotEvent::Progress {
                    listed,
                    objects,
                    bytes,
                } => {
                    progress.set(objects);
                    let _ = out.progress(
                        now,
                        &format!("{objects} items, {bytes} bytes ({listed} listed)"),
                        json!({ "listed": listed, "objects": objects, "bytes": bytes }),
                        progress.is_bar(),
                    );
                }
            },
        )
        .await;
        progress.finish();
        let outcome = match result {
            Err(e) => Err(e.to_string()),
            Ok(summary) => match summary.error {
                Some(e) => Err(e.to_string()),
                None => sink.finish().await.map(|()| summary).map_err(|e| e.to_string()),
            },
        };
        match outcome {
            Ok(summary) => {
                let size: u64 = sink.written().iter().map(|o| o.bytes_out).sum();
                let now = clock.now();
                let _ = out.line(
                    now,
                    "uploaded",
                    &format!("Uploaded snapshot to {}", args.dest),
                    json!({ "dest": args.dest.to_string() }),
                );
                let _ = out.line(
                    now,
                    "wrote",
                    &format!("Wrote {} items and {size} bytes to snapshot", summary.objects),
                    json!({ "items": summary.objects, "bytes": size, "vanished": summary.vanished }),
                );
                let _ = out.summary(
                    now,
                    json!({ "items": summary.objects, "bytes": size, "vanished": summary.vanished }),
                );
                if let Some(spec) = &args.metric {
                    metric::publish_snapshot(spec, &connection, Some((size, summary.objects))).await;
                }
                Ok(())
            }
            Err(e) => {
                sink.abort().await;
                if let Some(spec) = &args.metric {
                    metric::publish_snapshot(spec, &connection, None).await;
                }
                Err(CliError::failed(format!(
                    "incremental-snapshot {} to {}: {e}",
                    args.source, args.dest
                )))
            }
        }
    })
}
