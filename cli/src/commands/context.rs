//! What every tool does before and after its job: SDK clients from locations, DescribeTable for the key
//! schema (and a clear error for a missing table), HeadBucket, key parsing, segment plans, the runtime,
//! and the progress display.

use std::io::IsTerminal;
use std::time::Duration;

use aws_sdk_dynamodb::types::TableDescription;
use ddbrep_engine::codec::plain_json;
use ddbrep_engine::model::{Key, KeySchema, ScalarType};
use indicatif::{ProgressBar, ProgressStyle};

use super::Common;
use crate::drive::aws::{self, Connection};
use crate::drive::dynamo::{DynamoTable, Meter, Metered};
use crate::drive::errors::{code, describe};
use crate::drive::s3::S3Bucket;
use crate::error::CliError;
use crate::location::{S3Location, TableLocation};
use crate::output::Format;

impl Common {
    /// The connection settings.
    pub fn connection(&self) -> Connection {
        Connection {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }

    /// The output format.
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Log
        }
    }
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
}

/// What DescribeTable told us about a table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Approximate item count (DynamoDB refreshes it about every six hours).
    pub item_count: u64,
    /// Approximate size in bytes.
    pub size_bytes: u64,
    /// Provisioned read capacity units (0 for on-demand).
    pub read_capacity: u64,
    /// Provisioned write capacity units (0 for on-demand).
    pub write_capacity: u64,
}

fn schema_of(location: &TableLocation, table: &TableDescription) -> Result<KeySchema, CliError> {
    let bad = |why: &str| CliError::failed(format!("table {location}: {why}"));
    let type_of = |name: &str| -> Result<ScalarType, CliError> {
        let def = table
            .attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == name)
            .ok_or_else(|| bad(&format!("no AttributeDefinition for key attribute {name}")))?;
        match def.attribute_type().as_str() {
            "S" => Ok(ScalarType::S),
            "N" => Ok(ScalarType::N),
            "B" => Ok(ScalarType::B),
            other => Err(bad(&format!("key attribute {name} has type {other}"))),
        }
    };
    let mut partition = None;
    let mut sort = None;
    for element in table.key_schema() {
        match element.key_type().as_str() {
            "HASH" => partition = Some(element.attribute_name().to_owned()),
            "RANGE" => sort = Some(element.attribute_name().to_owned()),
            _ => {}
        }
    }
    let partition = partition.ok_or_else(|| bad("no HASH key in its KeySchema"))?;
    Ok(match sort {
        None => KeySchema::partition_only(partition.clone(), type_of(&partition)?),
        Some(sort) => KeySchema::composite(
            partition.clone(),
            type_of(&partition)?,
            sort.clone(),
            type_of(&sort)?,
        ),
    })
}

/// Connects to a table and reads its key schema.
pub async fn open_table(
    location: &TableLocation,
    connection: &Connection,
) -> Result<(DynamoTable, TableInfo), CliError> {
    open_table_if_exists(location, connection).await?.ok_or_else(|| {
        CliError::failed(format!("table {location} does not exist"))
            .hinted("check the table name, the region and the endpoint")
    })
}

/// [`open_table`], with `None` for a table that does not exist (a tool that may create it).
pub async fn open_table_if_exists(
    location: &TableLocation,
    connection: &Connection,
) -> Result<Option<(DynamoTable, TableInfo)>, CliError> {
    let client = aws::dynamodb(
        location.region.as_deref(),
        location.endpoint.as_deref(),
        connection,
    )
    .await;
    let described = client.describe_table().table_name(&location.table).send().await;
    let out = match described {
        Ok(out) => out,
        Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => {
            return Err(
                CliError::failed(format!("cannot describe table {location}: {}", describe(&e)))
                    .hinted("is the endpoint reachable and are credentials configured?"),
            )
        }
    };
    let table = out
        .table
        .ok_or_else(|| CliError::failed(format!("table {location}: DescribeTable answered no Table")))?;
    let schema = schema_of(location, &table)?;
    let throughput = table.provisioned_throughput();
    let info = TableInfo {
        item_count: table
            .item_count()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        size_bytes: table
            .table_size_bytes()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        read_capacity: throughput
            .and_then(|t| t.read_capacity_units())
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        write_capacity: throughput
            .and_then(|t| t.write_capacity_units())
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
    };
    Ok(Some((
        DynamoTable {
            client,
            name: location.table.clone(),
            schema,
            meter: None,
        },
        info,
    )))
}

/// Connects to a bucket and checks that it exists.
pub async fn open_bucket(location: &S3Location, connection: &Connection) -> Result<S3Bucket, CliError> {
    let client = aws::s3(None, connection).await;
    match client.head_bucket().bucket(&location.bucket).send().await {
        Ok(_) => Ok(S3Bucket {
            client,
            bucket: location.bucket.clone(),
        }),
        Err(e) if crate::drive::errors::status(&e) == Some(404) => Err(CliError::failed(format!(
            "bucket s3://{} does not exist",
            location.bucket
        ))
        .hinted("create it, or check the bucket name and the endpoint")),
        Err(e) => Err(CliError::failed(format!(
            "cannot reach bucket s3://{}: {}",
            location.bucket,
            describe(&e)
        ))),
    }
}

/// Parses a key given on the command line.
pub fn parse_key(text: &str, schema: &KeySchema) -> Result<Key, CliError> {
    plain_json::parse_key(text, schema).map_err(|e| {
        CliError::usage(format!("invalid key {text}: {e}")).hinted(format!(
            "give the key attributes as JSON, e.g. {}",
            example_key(schema)
        ))
    })
}

fn example_key(schema: &KeySchema) -> String {
    let value = |ty: ScalarType| match ty {
        ScalarType::S => "\"abc\"",
        ScalarType::N => "1",
        ScalarType::B => "\"aGVsbG8=\"",
    };
    let mut parts = vec![format!(
        "\"{}\":{}",
        schema.partition.name,
        value(schema.partition.ty)
    )];
    if let Some(sort) = &schema.sort {
        parts.push(format!("\"{}\":{}", sort.name, value(sort.ty)));
    }
    format!("{{{}}}", parts.join(","))
}

/// Scan `Limit` when one process scans several segments at once (`--parallel`). Each segment keeps a page
/// in flight and one being worked on, and a 1 MB page of ~100-byte items is ~8,000 items, each parsed by the
/// SDK into maps of its own; capped at 2,500 items a page, backup-table `--parallel 4` at 1,000,000 items
/// peaked at 44–47 MiB instead of 83–99 MiB, at the same speed (DESIGN, tools benchmark). A single segment
/// keeps DynamoDB's own 1 MB pages. Larger items fill 1 MB before the cap, so it only ever shrinks a page.
pub const PARALLEL_PAGE_LIMIT: u32 = 2500;

/// The Scan `Limit` for a process scanning `segments` segments at once.
pub fn page_limit(segments: &[u32]) -> Option<u32> {
    (segments.len() > 1).then_some(PARALLEL_PAGE_LIMIT)
}

/// The segments this process scans: `--segment I --segments N` with `--parallel P` scans segments
/// `I*P .. I*P+P` of `N*P` (the union over I is the whole table); without `--segment`, `0..P` of `P`.
pub fn segment_plan(
    segment: Option<u32>,
    segments: Option<u32>,
    parallel: u32,
) -> Result<(Vec<u32>, u32), CliError> {
    if parallel == 0 {
        return Err(CliError::usage("--parallel must be at least 1"));
    }
    match (segment, segments) {
        (Some(segment), Some(total)) => {
            if total == 0 || segment >= total {
                return Err(CliError::usage(format!(
                    "--segment {segment} is not below --segments {total}"
                )));
            }
            let total_scans = total
                .checked_mul(parallel)
                .filter(|t| *t <= 1_000_000)
                .ok_or_else(|| CliError::usage("--segments × --parallel may be at most 1,000,000"))?;
            Ok((
                (segment * parallel..segment * parallel + parallel).collect(),
                total_scans,
            ))
        }
        _ => {
            if parallel > 1_000_000 {
                return Err(CliError::usage("--parallel may be at most 1,000,000"));
            }
            Ok(((0..parallel).collect(), parallel))
        }
    }
}

/// A seed for the jobs' backoff jitter.
pub fn seed() -> u64 {
    fastrand::u64(..)
}

/// A random job id: 16 hex characters, as the original made them.
pub fn jobid() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The live progress display: an indicatif bar on an interactive stderr, nothing otherwise (the tools
/// then print periodic `[progress]` lines).
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for about `total` items (0: unknown), when stderr is a terminal.
    pub fn new(total: u64, unit: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = if total > 0 {
            ProgressBar::new(total)
        } else {
            ProgressBar::new_spinner()
        };
        let template = if total > 0 {
            format!("{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/~{{human_len}} {unit} {{per_sec}} ETA {{eta}}")
        } else {
            format!("{{spinner}} [{{elapsed_precise}}] {{human_pos}} {unit} {{per_sec}}")
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// Whether a bar is showing (so periodic progress lines are not needed).
    pub fn is_bar(&self) -> bool {
        self.bar.is_some()
    }

    /// How often the job should report progress.
    pub fn every(&self) -> Duration {
        if self.is_bar() {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(10)
        }
    }

    /// Items done so far.
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            if bar.length().is_some_and(|len| done > len) {
                bar.set_length(done);
            }
            bar.set_position(done);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Items per second over an elapsed time.
pub fn rate(count: u64, elapsed: Duration) -> u64 {
    let ms = elapsed.as_millis().max(1);
    u64::try_from(u128::from(count) * 1000 / ms).unwrap_or(u64::MAX)
}

/// The items/s budget: `--max-rate`, or `--capacity-fraction` of the table's provisioned read capacity
/// (one RCU reads two 4 KB items per second eventually consistent; the item size is DescribeTable's
/// average). On-demand tables have no provisioned capacity, so a fraction alone sets no limit there.
pub fn rate_limit(
    max_rate: Option<u32>,
    fraction: Option<f64>,
    info: &TableInfo,
) -> Result<Option<u32>, CliError> {
    check_fraction(fraction)?;
    let from_capacity = fraction.and_then(|f| {
        if info.read_capacity == 0 {
            tracing::warn!(
                "the table has no provisioned capacity (on-demand): --capacity-fraction sets no limit"
            );
            return None;
        }
        let avg = info.size_bytes.checked_div(info.item_count).unwrap_or(1).max(1);
        let units_per_item = avg.div_ceil(4096) as f64 / 2.0;
        let items = (info.read_capacity as f64 * f / units_per_item).floor();
        Some(items.clamp(1.0, f64::from(u32::MAX)) as u32)
    });
    Ok(lower(max_rate, from_capacity))
}

/// With `--capacity-fraction` on a table with provisioned capacity: a meter of the table's `counts`
/// requests against that fraction of its read or write capacity, which retargets the job's rate from the
/// capacity its requests report consumed (the estimate of [`rate_limit`] / [`write_rate_limit`] from the
/// average item size is only the start). `--max-rate` stays a ceiling.
pub fn meter(
    max_rate: Option<u32>,
    fraction: Option<f64>,
    info: Option<&TableInfo>,
    counts: Metered,
) -> Option<Meter> {
    let capacity = info.map_or(0, |i| match counts {
        Metered::Reads => i.read_capacity,
        Metered::Writes => i.write_capacity,
    });
    let fraction = fraction.filter(|f| *f > 0.0 && *f <= 1.0)?;
    (capacity > 0).then(|| Meter::new(capacity as f64 * fraction, counts, max_rate))
}

/// `--capacity-fraction` must be in (0, 1].
pub fn check_fraction(fraction: Option<f64>) -> Result<(), CliError> {
    match fraction {
        Some(f) if !(f > 0.0 && f <= 1.0) => Err(CliError::usage(format!(
            "--capacity-fraction {f} is not in (0, 1]"
        ))),
        _ => Ok(()),
    }
}

/// The lower of two optional limits.
fn lower(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The write budget of a tool that writes a table: `--max-rate` items/s, and/or `--capacity-fraction` of the
/// table's provisioned write capacity (one unit writes 1 KB; items of the table's average size).
pub fn write_rate_limit(
    max_rate: Option<u32>,
    fraction: Option<f64>,
    info: Option<&TableInfo>,
) -> Result<Option<u32>, CliError> {
    check_fraction(fraction)?;
    let from_capacity = fraction.and_then(|f| {
        let info = info.filter(|i| i.write_capacity > 0);
        let Some(info) = info else {
            tracing::warn!(
                "the table has no provisioned write capacity (on-demand, or not created yet): --capacity-fraction sets no limit"
            );
            return None;
        };
        let avg = info.size_bytes.checked_div(info.item_count).unwrap_or(1).max(1);
        let units_per_item = avg.div_ceil(1024) as f64;
        let items = (info.write_capacity as f64 * f / units_per_item).floor();
        Some(items.clamp(1.0, f64::from(u32::MAX)) as u32)
    });
    Ok(lower(max_rate, from_capacity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_segments_subdivide_the_given_segment() {
        assert_eq!(segment_plan(None, None, 1).unwrap(), (vec![0], 1));
        assert_eq!(segment_plan(None, None, 3).unwrap(), (vec![0, 1, 2], 3));
        assert_eq!(segment_plan(Some(1), Some(4), 2).unwrap(), (vec![2, 3], 8));
        assert!(segment_plan(Some(4), Some(4), 1).is_err());
        assert!(segment_plan(None, None, 0).is_err());
    }

    #[test]
    fn only_a_process_scanning_several_segments_caps_its_pages() {
        let (one, _) = segment_plan(Some(1), Some(4), 1).unwrap();
        assert_eq!(page_limit(&one), None);
        let (four, _) = segment_plan(None, None, 4).unwrap();
        assert_eq!(page_limit(&four), Some(PARALLEL_PAGE_LIMIT));
    }

    #[test]
    fn a_capacity_fraction_becomes_items_per_second() {
        let info = TableInfo {
            item_count: 1000,
            size_bytes: 1000 * 100,
            read_capacity: 100,
            write_capacity: 100,
        };
        // 100-byte items: half an RCU each, so 100 RCU × 0.5 = 100 items/s at half the capacity.
        assert_eq!(rate_limit(None, Some(0.5), &info).unwrap(), Some(100));
        assert_eq!(rate_limit(Some(10), Some(0.5), &info).unwrap(), Some(10));
        assert!(rate_limit(None, Some(1.5), &info).is_err());
        let on_demand = TableInfo {
            read_capacity: 0,
            ..info
        };
        assert_eq!(rate_limit(None, Some(0.5), &on_demand).unwrap(), None);
    }
}
