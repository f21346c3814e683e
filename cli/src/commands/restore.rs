//! `restore-table SOURCE TABLE` (engine: `restore.rs`): an incremental folder's current state, or its
//! state at an instant (`--at`), into a new table or an existing one.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use ddbrep_engine::codec::stream_event::EpochTime;
use ddbrep_engine::model::{Key, KeySchema, ScalarType};
use ddbrep_engine::restore::{Restore, RestoreEvent, RestoreFrom, RestoreMode, RestorePlan};
use ddbrep_engine::time::Millis;
use serde_json::json;

use super::context::{self, open_bucket, open_table_if_exists, Progress};
use super::diff_tables::key_fields;
use super::{RestoreArgs, RestoreSource};
use crate::drive::aws::{self, Connection};
use crate::drive::dynamo::{DynamoTable, DynamoTables, Metered};
use crate::drive::errors::describe;
use crate::drive::run::{run, Clock};
use crate::drive::s3::S3Bucket;
use crate::drive::sink::NoSink;
use crate::drive::Nothing;
use crate::error::CliError;
use crate::location::TableLocation;
use crate::output::Output;

/// How long a new table may take to become ACTIVE.
const CREATE_WAIT: Duration = Duration::from_secs(300);

/// `--at`: epoch seconds (`1765000000`, `1765000000.250`) or RFC 3339 (`2026-12-06T10:00:00Z`).
pub fn parse_instant(text: &str) -> Result<Millis, CliError> {
    let text = text.trim();
    if let Some(t) = EpochTime::parse_seconds(text) {
        return Ok(t.0);
    }
    let parsed = DateTime::from_str(text, DateTimeFormat::DateTimeWithOffset)
        .or_else(|_| DateTime::from_str(text, DateTimeFormat::DateTime))
        .map_err(|_| {
            CliError::usage(format!(
                "--at {text:?}: not an instant (give RFC 3339, 2026-12-06T10:00:00Z, or epoch seconds)"
            ))
        })?;
    let ms = parsed
        .to_millis()
        .ok()
        .and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(|| CliError::usage(format!("--at {text:?}: before 1970")))?;
    Ok(Millis(ms))
}

/// `--key-schema`: `id:S`, or `pk:S,sk:N` (partition key first).
pub fn parse_key_schema(text: &str) -> Result<KeySchema, CliError> {
    let bad = || {
        CliError::usage(format!(
            "--key-schema {text:?}: expected NAME:TYPE or PARTITION:TYPE,SORT:TYPE with TYPE one of S, N, B"
        ))
    };
    let part = |p: &str| -> Result<(String, ScalarType), CliError> {
        let (name, ty) = p.trim().rsplit_once(':').ok_or_else(bad)?;
        let ty = ScalarType::from_tag(ty.trim()).ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        Ok((name.to_owned(), ty))
    };
    let parts: Vec<&str> = text.split(',').collect();
    match parts.as_slice() {
        [p] => {
            let (n, t) = part(p)?;
            Ok(KeySchema::partition_only(n, t))
        }
        [p, s] => {
            let ((pn, pt), (sn, st)) = (part(p)?, part(s)?);
            if pn == sn {
                return Err(bad());
            }
            Ok(KeySchema::composite(pn, pt, sn, st))
        }
        _ => Err(bad()),
    }
}

fn attribute_type(ty: ScalarType) -> ScalarAttributeType {
    match ty {
        ScalarType::S => ScalarAttributeType::S,
        ScalarType::N => ScalarAttributeType::N,
        ScalarType::B => ScalarAttributeType::B,
    }
}

/// Creates an on-demand table with `schema` and waits until it is ACTIVE.
async fn create_table(
    location: &TableLocation,
    schema: &KeySchema,
    connection: &Connection,
) -> Result<DynamoTable, CliError> {
    let client = aws::dynamodb(
        location.region.as_deref(),
        location.endpoint.as_deref(),
        connection,
    )
    .await;
    let mut request = client
        .create_table()
        .table_name(&location.table)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, key_type) in schema.attributes().zip([KeyType::Hash, KeyType::Range]) {
        let definition = AttributeDefinition::builder()
            .attribute_name(&attr.name)
            .attribute_type(attribute_type(attr.ty))
            .build()
            .map_err(|e| CliError::failed(format!("CreateTable {location}: {e}")))?;
        let element = KeySchemaElement::builder()
            .attribute_name(&attr.name)
            .key_type(key_type)
            .build()
            .map_err(|e| CliError::failed(format!("CreateTable {location}: {e}")))?;
        request = request.attribute_definitions(definition).key_schema(element);
    }
    request
        .send()
        .await
        .map_err(|e| CliError::failed(format!("cannot create table {location}: {}", describe(&e))))?;
    client
        .wait_until_table_exists()
        .table_name(&location.table)
        .wait(CREATE_WAIT)
        .await
        .map_err(|e| CliError::failed(format!("table {location} did not become ACTIVE: {e}")))?;
    Ok(DynamoTable {
        client,
        name: location.table.clone(),
        schema: schema.clone(),
        meter: None,
    })
}

fn describe_source(from: RestoreSource) -> &'static str {
    match from {
        RestoreSource::Incremental => "an incremental folder",
        RestoreSource::Dump => "a backup-table dump",
        RestoreSource::Snapshot => "an incremental-snapshot object",
    }
}

/// What SOURCE is: an object of that name is a snapshot; a folder whose objects are all named by a segment
/// number (`0`, `1`, …) is a backup-table dump; any other folder is incremental (its objects are named by
/// key hashes).
async fn detect(bucket: &S3Bucket, prefix: &str) -> Result<RestoreSource, CliError> {
    let head = bucket
        .client
        .head_object()
        .bucket(&bucket.bucket)
        .key(prefix)
        .send()
        .await;
    if head.is_ok() {
        return Ok(RestoreSource::Snapshot);
    }
    let folder = format!("{prefix}/");
    let listed = bucket
        .client
        .list_objects_v2()
        .bucket(&bucket.bucket)
        .prefix(&folder)
        .max_keys(100)
        .send()
        .await
        .map_err(|e| {
            CliError::failed(format!(
                "cannot list s3://{}/{folder}: {}",
                bucket.bucket,
                describe(&e)
            ))
        })?;
    let names: Vec<&str> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key()?.strip_prefix(folder.as_str()))
        .collect();
    if names.is_empty() {
        return Err(CliError::failed(format!(
            "s3://{}/{prefix} is neither an object nor a folder with objects in it",
            bucket.bucket
        ))
        .hinted("give a dump (s3://bucket/prefix/jobid), a snapshot object, or an incremental folder (s3://bucket/prefix/table)"));
    }
    if names.iter().all(|n| n.parse::<u32>().is_ok()) {
        return Ok(RestoreSource::Dump);
    }
    Ok(RestoreSource::Incremental)
}

/// `--keys FILE`: one key per line, plain or DynamoDB JSON; blank lines skipped.
fn read_keys(path: &std::path::Path, schema: &KeySchema) -> Result<Vec<Key>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("--keys {}: {e}", path.display())))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let key = context::parse_key(line.trim(), schema)
            .map_err(|e| CliError::usage(format!("--keys {} line {}: {e}", path.display(), n + 1)))?;
        keys.push(key);
    }
    Ok(keys)
}

fn schema_text(schema: &KeySchema) -> String {
    schema
        .attributes()
        .map(|a| format!("{}:{}", a.name, a.ty.tag()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs restore-table.
pub fn cmd(args: &RestoreArgs) -> Result<(), CliError> {
    // Refused before anything is created.
    if let Some(f) = args.capacity_fraction.filter(|f| !(*f > 0.0 && *f <= 1.0)) {
        return Err(CliError::usage(format!(
            "--capacity-fraction {f} is not in (0, 1]"
        )));
    }
    if args.only_missing && args.overwrite {
        return Err(CliError::usage("give --only-missing or --overwrite, not both"));
    }
    if args.source.prefix.is_empty() {
        return Err(CliError::usage(format!(
            "{}: give the table's incremental folder, s3://bucket/prefix/table",
            args.source
        )));
    }
    let mut at = args.at.as_deref().map(parse_instant).transpose()?;
    let undo = match args.undo_between.as_deref() {
        Some([t1, t2]) => {
            let (t1, t2) = (parse_instant(t1)?, parse_instant(t2)?);
            if t1 >= t2 {
                return Err(CliError::usage(format!(
                    "--undo-between {} {}: the window must start before it ends",
                    t1.to_rfc3339(),
                    t2.to_rfc3339()
                )));
            }
            at = Some(t1);
            Some(t2)
        }
        Some(_) => return Err(CliError::usage("--undo-between takes two instants, T1 and T2")),
        None => None,
    };
    let given_schema = args.key_schema.as_deref().map(parse_key_schema).transpose()?;
    let connection = args.common.connection();
    let mut out = Output::new(
        std::io::stdout(),
        args.common.format(),
        "restore-table",
        context::jobid(),
    );
    context::runtime()?.block_on(async {
        let bucket = open_bucket(&args.source, &connection).await?;
        let from = match args.from {
            Some(from) => from,
            None => detect(&bucket, &args.source.prefix).await?,
        };
        if at.is_some() && from != RestoreSource::Incremental {
            return Err(CliError::usage(format!(
                "--at needs an incremental folder; {} is {}, which holds one state of each item",
                args.source,
                describe_source(from)
            )));
        }
        let existing = open_table_if_exists(&args.table, &connection).await?;
        let exists = existing.is_some();
        if undo.is_some() && !exists {
            return Err(CliError::usage(format!(
                "--undo-between works on an existing table; {} does not exist",
                args.table
            )));
        }
        let mut table_info = None;
        let (table, schema, mode) = if let Some((table, info)) = existing {
            table_info = Some(info);
            if let Some(given) = &given_schema {
                if *given != table.schema {
                    return Err(CliError::usage(format!(
                        "--key-schema {} does not match table {}'s key, {}",
                        schema_text(given),
                        args.table,
                        schema_text(&table.schema)
                    )));
                }
            }
            let mode = if args.overwrite || undo.is_some() {
                RestoreMode::Overwrite
            } else {
                RestoreMode::OnlyMissing
            };
            let schema = table.schema.clone();
            (Some(table), schema, mode)
        } else {
            let Some(schema) = given_schema.clone() else {
                return Err(CliError::usage(format!(
                    "table {} does not exist: give --key-schema (e.g. id:S or pk:S,sk:N) to create it",
                    args.table
                )));
            };
            let table = if args.dry_run {
                None
            } else {
                Some(create_table(&args.table, &schema, &connection).await?)
            };
            (table, schema, RestoreMode::Put)
        };
        let clock = Clock::start();
        let at_text = at.map(Millis::to_rfc3339);
        let _ = out.line(
            clock.now(),
            "start",
            &format!(
                "Restoring {} ({}) into {}{}{}{}",
                args.source,
                describe_source(from),
                args.table,
                match (&at_text, undo) {
                    (Some(t1), Some(t2)) => format!(" as of {t1}, for keys changed until {}", t2.to_rfc3339()),
                    (Some(t), None) => format!(" as of {t}"),
                    _ => String::new(),
                },
                match mode {
                    RestoreMode::OnlyMissing => " (only missing keys)",
                    RestoreMode::Overwrite if undo.is_some() => " (undoing the window)",
                    RestoreMode::Overwrite => " (overwriting)",
                    RestoreMode::Put => " (new table)",
                },
                if args.dry_run { ", dry run" } else { "" }
            ),
            json!({ "source": args.source.to_string(), "from": describe_source(from), "table": args.table.to_string(), "at": at_text, "dry_run": args.dry_run }),
        );
        let (engine_from, prefix) = match from {
            RestoreSource::Incremental => (RestoreFrom::Incremental, format!("{}/", args.source.prefix)),
            RestoreSource::Dump => (RestoreFrom::Dump, format!("{}/", args.source.prefix)),
            RestoreSource::Snapshot => (RestoreFrom::Snapshot, args.source.prefix.clone()),
        };
        let mut plan = RestorePlan::new(prefix, schema);
        plan.from = engine_from;
        plan.at = at;
        plan.mode = mode;
        plan.delete_absent = (args.overwrite && at.is_some()) || undo.is_some();
        plan.undo_until = undo;
        plan.parallel = usize::try_from(args.parallel.max(1)).unwrap_or(1);
        plan.rate_limit = context::write_rate_limit(args.max_rate, args.capacity_fraction, table_info.as_ref())?;
        if let Some(path) = &args.keys {
            if from != RestoreSource::Incremental {
                return Err(CliError::usage(format!(
                    "--keys needs an incremental folder; {} is {}",
                    args.source,
                    describe_source(from)
                )));
            }
            plan.keys = Some(read_keys(path, &plan.schema)?);
        }
        plan.dry_run = args.dry_run;
        plan.seed = context::seed();
        let progress = Progress::new(0, "keys");
        plan.progress_every = Some(progress.every());
        let report = |event: RestoreEvent, now: Millis| match event {
            RestoreEvent::Planned { key, item } => {
                let (text, exact) = key_fields(&key);
                let (tag, item_json) = match &item {
                    Some(item) => (
                        "put",
                        serde_json::from_str::<serde_json::Value>(&ddbrep_engine::codec::ddb_json::item_to_string(item))
                            .unwrap_or_default(),
                    ),
                    None => ("delete", serde_json::Value::Null),
                };
                let _ = out.event(now, tag, &text, json!({ "key": exact, "item": item_json }));
            }
            RestoreEvent::AlreadyPresent { key } => {
                let (text, exact) = key_fields(&key);
                let _ = out.event(now, "present", &format!("{text} is in the table already; left alone"), json!({ "key": exact }));
            }
            RestoreEvent::Conflict { key, object } => {
                let (text, exact) = match &key {
                    Some(key) => key_fields(key),
                    None => (format!("s3://{}/{object}", args.source.bucket), serde_json::Value::Null),
                };
                let _ = out.event(now, "conflict", &format!("{text} changed again after the window; left as it is"), json!({ "key": exact, "object": object }));
            }
            RestoreEvent::ChangedMeanwhile { key } => {
                let (text, exact) = key_fields(&key);
                let _ = out.event(now, "conflict", &format!("{text} was written by someone else while being restored; the newer write was kept"), json!({ "key": exact }));
            }
            RestoreEvent::Unreadable { object, error } => {
                let _ = out.event(now, "unreadable", &format!("s3://{}/{object}: {error}", args.source.bucket), json!({ "object": object, "error": error }));
            }
            RestoreEvent::Progress { keys, written, deleted } => {
                progress.set(keys);
                let _ = out.progress(now, &format!("{keys} keys read, {written} written, {deleted} deleted"), json!({ "keys": keys, "written": written, "deleted": deleted }), progress.is_bar());
            }
        };
        let result = match table {
            Some(mut table) => {
                table.meter = context::meter(args.max_rate, args.capacity_fraction, table_info.as_ref(), Metered::Writes);
                let tables = DynamoTables {
                    primary: table,
                    replica: None,
                };
                run(Restore::new(plan), clock, &tables, &bucket, &mut NoSink, report).await
            }
            None => run(Restore::new(plan), clock, &Nothing, &bucket, &mut NoSink, report).await,
        };
        progress.finish();
        let summary = result.map_err(|e| CliError::failed(format!("restore-table: {e}")))?;
        let now = clock.now();
        let verb = if args.dry_run { "Would write" } else { "Wrote" };
        let _ = out.line(
            now,
            "done",
            &format!(
                "{verb} {} items and delete {} of {} keys ({} absent at that time, {} already present, {} unchanged in the window, {} conflicts, {} unreadable)",
                summary.written, summary.deleted, summary.keys, summary.absent, summary.present, summary.unchanged, summary.conflicts, summary.unreadable
            ),
            json!({}),
        );
        let _ = out.summary(now, json!({
            "keys": summary.keys, "written": summary.written, "deleted": summary.deleted, "absent": summary.absent,
            "present": summary.present, "unchanged": summary.unchanged, "conflicts": summary.conflicts, "current": summary.current,
            "unreadable": summary.unreadable, "legacy": summary.legacy, "dry_run": args.dry_run,
            "error": summary.error.as_ref().map(ToString::to_string),
        }));
        if let Some(e) = summary.error {
            return Err(CliError::failed(format!("restore-table {} into {}: {e}", args.source, args.table)));
        }
        if let (Some(at), Some(oldest), None) = (at, summary.oldest, undo) {
            if at < oldest && summary.written + summary.deleted == 0 {
                return Err(CliError::failed(format!(
                    "--at {} is before the oldest version in {} ({}): there is nothing to restore at that time",
                    at.to_rfc3339(),
                    args.source,
                    oldest.to_rfc3339()
                )));
            }
        }
        if summary.legacy > 0 {
            let _ = out.line(
                clock.now(),
                "note",
                &format!(
                    "{} objects of {} are under the original's other key names; a key under two names may restore either state: run incremental-rekey first for exact results",
                    summary.legacy, args.source
                ),
                json!({ "legacy": summary.legacy }),
            );
        }
        if summary.unreadable > 0 {
            return Err(CliError::failed(format!(
                "{} objects of {} are not items of the table (listed above as [unreadable]); everything else was restored",
                summary.unreadable, args.source
            )));
        }
        if args.exit_code && summary.written + summary.deleted + summary.conflicts > 0 {
            return Err(CliError::differences(1));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_or_epoch_seconds() {
        assert_eq!(parse_instant("1765000000").unwrap(), Millis(1_765_000_000_000));
        assert_eq!(parse_instant("1765000000.25").unwrap(), Millis(1_765_000_000_250));
        assert_eq!(
            parse_instant("2026-12-06T10:00:00Z").unwrap().to_rfc3339(),
            "2026-12-06T10:00:00.000Z"
        );
        assert_eq!(
            parse_instant("2026-12-06T12:00:00.5+02:00").unwrap().to_rfc3339(),
            "2026-12-06T10:00:00.500Z"
        );
        assert!(parse_instant("yesterday").is_err());
        assert!(parse_instant("1969-12-31T00:00:00Z").is_err());
    }

    #[test]
    fn key_schemas_name_one_or_two_typed_attributes() {
        assert_eq!(
            parse_key_schema("id:S").unwrap(),
            KeySchema::partition_only("id", ScalarType::S)
        );
        assert_eq!(
            parse_key_schema("pk:S, sk:N").unwrap(),
            KeySchema::composite("pk", ScalarType::S, "sk", ScalarType::N)
        );
        for bad in ["id", "id:X", ":S", "a:S,a:N", "a:S,b:N,c:B", ""] {
            assert!(parse_key_schema(bad).is_err(), "{bad}");
        }
    }
}
