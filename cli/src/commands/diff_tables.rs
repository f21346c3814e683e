//! `diff-tables`: compare two tables, optionally repairing the replica (engine: `diff.rs`).

use std::collections::BTreeSet;

use ddbrep_engine::codec::{ddb_json, plain_json};
use ddbrep_engine::diff::{Diff, DiffEvent, DiffPlan, DiffProgress};
use ddbrep_engine::model::Key;
use ddbrep_engine::time::Millis;
use serde_json::json;

use super::context::{self, open_table, rate, segment_plan, Progress};
use super::DiffTablesArgs;
use crate::drive::dynamo::{DynamoTables, Metered};
use crate::drive::run::{run, Clock};
use crate::drive::sink::NoSink;
use crate::drive::Nothing;
use crate::error::CliError;
use crate::output::Output;

/// A key as the original printed it (`{"hash":"hash1","range":"range1"}`), and exactly for `--json`.
pub fn key_fields(key: &Key) -> (String, serde_json::Value) {
    let item = key.to_item();
    let exact = serde_json::from_str(&ddb_json::item_to_string(&item)).unwrap_or(serde_json::Value::Null);
    (plain_json::item_to_string(&item), exact)
}

/// `[progress] Scan rate: S items @ R items/s | Compare rate: R items/s`.
fn progress_line(p: &DiffProgress, elapsed: std::time::Duration) -> String {
    format!(
        "Scan rate: {} items @ {} items/s | Compare rate: {} items/s",
        p.scanned,
        rate(p.scanned, elapsed),
        rate(p.compared, elapsed)
    )
}

/// Runs diff-tables.
pub fn cmd(args: &DiffTablesArgs) -> Result<(), CliError> {
    let (segments, total) = segment_plan(args.segment, args.segments, args.parallel)?;
    if args.backfill && !args.repair {
        return Err(CliError::usage("--backfill only makes sense with --repair"));
    }
    let connection = args.common.connection();
    let jobid = context::jobid();
    let mut out = Output::new(std::io::stdout(), args.common.format(), "diff-tables", jobid);
    context::runtime()?.block_on(async {
        let (mut primary, info) = open_table(&args.primary, &connection).await?;
        let (replica, _) = open_table(&args.replica, &connection).await?;
        if primary.schema != replica.schema {
            return Err(CliError::failed(format!(
                "the key schemas differ: {} has {:?}, {} has {:?}",
                args.primary, primary.schema, args.replica, replica.schema
            )));
        }
        let mut plan = DiffPlan::new(primary.schema.clone());
        plan.page_limit = context::page_limit(&segments);
        plan.segments = segments.clone();
        plan.total_segments = total;
        plan.repair = args.repair;
        plan.backfill = args.backfill;
        plan.ignore = args.ignore.iter().cloned().collect::<BTreeSet<_>>();
        plan.rate_limit = context::rate_limit(args.max_rate, args.capacity_fraction, &info)?;
        primary.meter = context::meter(args.max_rate, args.capacity_fraction, Some(&info), Metered::Reads);
        plan.seed = context::seed();
        let expected = info.item_count * segments.len() as u64 / u64::from(total.max(1));
        let passes = if args.backfill { 1 } else { 2 };
        let progress = Progress::new(expected * passes, "items");
        plan.progress_every = Some(progress.every());
        let tables = DynamoTables {
            primary,
            replica: Some(replica),
        };
        let clock = Clock::start();
        let started = clock.now();
        let summary = run(Diff::new(plan), clock, &tables, &Nothing, &mut NoSink, |event, now| {
            report(&mut out, &progress, event, now, started);
        })
        .await
        .map_err(|e| CliError::failed(format!("diff-tables: {e}")))?;
        progress.finish();
        let p = summary.progress;
        if progress.is_bar() {
            let line = progress_line(&p, clock.now().since(started));
            let _ = out.event(clock.now(), "progress", &line, json!({ "scanned": p.scanned, "compared": p.compared }));
        }
        let _ = out.summary(clock.now(), json!({
            "scanned": p.scanned, "compared": p.compared, "discrepancies": p.discrepancies,
            "repaired": p.repaired, "repair_failures": p.repair_failures,
            "passes": summary.passes.iter().map(|(pass, n)| json!({"pass": format!("{pass:?}").to_lowercase(), "discrepancies": n})).collect::<Vec<_>>(),
            "error": summary.error.as_ref().map(ToString::to_string),
        }));
        if let Some(e) = summary.error {
            return Err(CliError::failed(format!(
                "diff-tables {} {}: {e}",
                args.primary, args.replica
            )));
        }
        if p.repair_failures > 0 {
            return Err(CliError::failed(format!(
                "{} keys could not be repaired (they kept changing); run diff-tables again",
                p.repair_failures
            )));
        }
        if args.exit_code && p.discrepancies > 0 {
            return Err(CliError::differences(p.discrepancies));
        }
        Ok(())
    })
}

fn report(
    out: &mut Output<std::io::Stdout>,
    progress: &Progress,
    event: DiffEvent,
    now: Millis,
    started: Millis,
) {
    let keyed = |out: &mut Output<std::io::Stdout>, tag: &str, key: &Key| {
        let (text, exact) = key_fields(key);
        let _ = out.event(now, tag, &text, json!({ "key": exact }));
    };
    match event {
        DiffEvent::Missing(key) => keyed(out, "missing", &key),
        DiffEvent::Different(key) => keyed(out, "different", &key),
        DiffEvent::Extraneous(key) => keyed(out, "extraneous", &key),
        DiffEvent::Backfill(key) => keyed(out, "backfill", &key),
        DiffEvent::Repaired(key) => {
            if out.is_json() {
                keyed(out, "repaired", &key);
            }
        }
        DiffEvent::RepairFailed { key, attempts } => {
            let (text, exact) = key_fields(&key);
            let _ = out.event(
                now,
                "repair-failed",
                &format!("{text} after {attempts} rounds"),
                json!({ "key": exact, "attempts": attempts }),
            );
        }
        DiffEvent::Discrepancies { pass, count } => {
            let pass = format!("{pass:?}").to_lowercase();
            let _ = out.event(
                now,
                "discrepancies",
                &count.to_string(),
                json!({ "pass": pass, "count": count }),
            );
        }
        DiffEvent::Progress(p) => {
            progress.set(p.scanned);
            let line = progress_line(&p, now.since(started));
            let _ = out.progress(
                now,
                &line,
                json!({ "scanned": p.scanned, "compared": p.compared, "discrepancies": p.discrepancies, "repaired": p.repaired }),
                progress.is_bar(),
            );
        }
    }
}
