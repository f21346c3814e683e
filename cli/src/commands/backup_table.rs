//! `backup-table`: dump a table (or segments of it) as gzip'd line-delimited DynamoDB-JSON objects at
//! `{prefix}/{jobid}/{segment}` (engine: `dump.rs`; output: `drive::sink::GzipObjects`).

use ddbrep_engine::dump::{Dump, DumpEvent, DumpPlan};
use serde_json::json;

use super::context::{self, open_bucket, open_table, Progress};
use super::metric;
use super::BackupTableArgs;
use crate::drive::dynamo::{DynamoTables, Metered};
use crate::drive::run::{run, Clock};
use crate::drive::sink::{Encryption, GzipObjects, Sink};
use crate::drive::Nothing;
use crate::error::CliError;
use crate::output::Output;

/// The object key of one segment's dump.
pub fn dump_key(prefix: &str, jobid: &str, segment: u32) -> String {
    if prefix.is_empty() {
        format!("{jobid}/{segment}")
    } else {
        format!("{prefix}/{jobid}/{segment}")
    }
}

/// Runs backup-table.
pub fn cmd(args: &BackupTableArgs) -> Result<(), CliError> {
    let (segments, total) = match (args.segment, args.segments, args.parallel) {
        (Some(_), _, p) if p > 1 => {
            return Err(CliError::usage(
                "--parallel with --segment would change the object names; use --segments N×P instead",
            ))
        }
        (segment, segments, parallel) => context::segment_plan(segment, segments, parallel)?,
    };
    if let Some(spec) = &args.metric {
        metric::parse_backup(spec)?;
    }
    let jobid = args.jobid.clone().unwrap_or_else(context::jobid);
    if jobid.is_empty() || jobid.contains('/') {
        return Err(CliError::usage(format!(
            "--jobid {jobid:?} must be non-empty and contain no /"
        )));
    }
    let connection = args.common.connection();
    let mut out = Output::new(
        std::io::stdout(),
        args.common.format(),
        "backup-table",
        jobid.clone(),
    );
    context::runtime()?.block_on(async {
        let (mut table, info) = open_table(&args.table, &connection).await?;
        table.meter = context::meter(args.max_rate, args.capacity_fraction, Some(&info), Metered::Reads);
        let bucket = open_bucket(&args.s3url, &connection).await?;
        let clock = Clock::start();
        for s in &segments {
            let _ = out.event(
                clock.now(),
                &format!("segment {s}"),
                &format!("Starting backup job {jobid} of {}", args.table),
                json!({ "segment": s, "table": args.table.to_string() }),
            );
        }
        let plan = DumpPlan {
            segments: segments.clone(),
            total_segments: total,
            rate_limit: context::rate_limit(args.max_rate, args.capacity_fraction, &info)?,
            seed: context::seed(),
            page_limit: context::page_limit(&segments),
            ..DumpPlan::default()
        };
        let progress = Progress::new(info.item_count * segments.len() as u64 / u64::from(total.max(1)), "items");
        let plan = DumpPlan {
            progress_every: Some(progress.every()),
            ..plan
        };
        let mut sink = GzipObjects::new(
            bucket.client.clone(),
            bucket.bucket.clone(),
            segments
                .iter()
                .map(|s| (*s, dump_key(&args.s3url.prefix, &jobid, *s))),
        )
        .with_encryption(Some(Encryption::from_env(|name| std::env::var(name).ok())));
        let tables = DynamoTables {
            primary: table,
            replica: None,
        };
        let result = run(Dump::new(plan), clock, &tables, &Nothing, &mut sink, |event, now| match event {
            DumpEvent::Progress { items, bytes } => {
                progress.set(items);
                let _ = out.progress(now, &format!("{items} items, {bytes} bytes"), json!({ "items": items, "bytes": bytes }), progress.is_bar());
            }
            DumpEvent::SegmentDone { segment, items } => {
                if out.is_json() {
                    let _ = out.event(now, "segment-done", "", json!({ "segment": segment, "items": items }));
                }
            }
        })
        .await;
        progress.finish();
        let failure = match result {
            Err(e) => Some(e.to_string()),
            Ok(summary) => match summary.error {
                Some(e) => Some(e.to_string()),
                None => match sink.finish().await {
                    Err(e) => Some(e.to_string()),
                    Ok(()) => {
                        let written = sink.written();
                        let mut count = 0;
                        for ((segment, items), object) in summary.items.iter().zip(&written) {
                            count += items;
                            let now = clock.now();
                            let tag = format!("segment {segment}");
                            let url = format!("s3://{}/{}", bucket.bucket, object.key);
                            let _ = out.event(now, &tag, &format!("Uploaded dynamo backup to {url}"), json!({ "segment": segment, "object": url, "bytes": object.bytes_out }));
                            let _ = out.event(now, &tag, &format!("Wrote {items} items to backup"), json!({ "segment": segment, "items": items }));
                        }
                        let size: u64 = written.iter().map(|o| o.bytes_out).sum();
                        let _ = out.summary(clock.now(), json!({ "jobid": jobid, "items": count, "bytes": size, "objects": written.iter().map(|o| format!("s3://{}/{}", bucket.bucket, o.key)).collect::<Vec<_>>() }));
                        if let Some(spec) = &args.metric {
                            metric::publish_backup(spec, &connection, Some((size, count))).await;
                        }
                        None
                    }
                },
            },
        };
        match failure {
            None => Ok(()),
            Some(e) => {
                sink.abort().await;
                if let Some(spec) = &args.metric {
                    metric::publish_backup(spec, &connection, None).await;
                }
                Err(CliError::failed(format!("backup-table {} to {}: {e}", args.table, args.s3url))
                    .hinted("no partial dump was left behind; run it again"))
            }
        }
    })
}
