//! What pipelines to run: `--replicate SOURCE=REPLICA` and `--backup SOURCE=s3://bucket/prefix` on the
//! command line, or the same in a JSON file with the event source mapping's settings per pipeline:
//!
//! ```json
//! { "pipelines": [
//!     { "replicate": "orders=orders-replica", "batch_size": 500 },
//!     { "backup": "orders=s3://backups/ddb", "bisect_batch_on_function_error": true,
//!       "maximum_retry_attempts": 10, "maximum_batching_window_in_seconds": 1 }
//! ] }
//! ```
//!
//! The settings are Lambda's (`CreateEventSourceMapping`), with Lambda's defaults and limits.

use std::time::Duration;

use serde::Deserialize;

/// A configuration the emulator cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `SOURCE=TARGET` argument that does not parse.
    #[error("{flag} {arg:?}: {why}")]
    Argument {
        /// `--replicate` or `--backup`.
        flag: &'static str,
        /// The argument.
        arg: String,
        /// What is wrong.
        why: String,
    },
    /// The file is not a valid configuration.
    #[error("pipeline configuration {path}: {why}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The replicate handler, into this table (created if missing, with the source's key schema).
    Replicate {
        /// The replica table.
        table: String,
    },
    /// The backup handler, into `s3://bucket/prefix/<source table>/…` (the bucket created with
    /// versioning if missing).
    Backup {
        /// The bucket.
        bucket: String,
        /// The prefix, without a trailing `/`.
        prefix: String,
    },
}

/// Where to start on a database the pipeline has never run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum StartingPosition {
    /// Every record the stream still holds.
    #[default]
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    /// Only records written after the pipeline starts.
    #[serde(rename = "LATEST")]
    Latest,
}

/// The event source mapping's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `BatchSize`: most records per invocation (1–10,000; default 100).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (0–300; default 0).
    pub batching_window: Duration,
    /// `MaximumRetryAttempts`: `None` retries until the record leaves the stream (Lambda's -1, the default).
    pub maximum_retry_attempts: Option<u32>,
    /// `BisectBatchOnFunctionError` (default off).
    pub bisect_batch_on_function_error: bool,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]` (default on, as DEPLOY.md configures Lambda).
    pub report_batch_item_failures: bool,
    /// `StartingPosition` (default TRIM_HORIZON).
    pub starting_position: StartingPosition,
    /// The function timeout: the handler reports what it has not finished by then (default 60 s).
    pub function_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            batch_size: 100,
            batching_window: Duration::ZERO,
            maximum_retry_attempts: None,
            bisect_batch_on_function_error: false,
            report_batch_item_failures: true,
            starting_position: StartingPosition::TrimHorizon,
            function_timeout: Duration::from_secs(60),
        }
    }
}

/// One pipeline: a source table's stream, a handler and its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSpec {
    /// The source table.
    pub source: String,
    /// The handler and where it writes.
    pub target: Target,
    /// The event source mapping's settings.
    pub settings: Settings,
}

impl PipelineSpec {
    /// `--replicate SOURCE=REPLICA`.
    pub fn replicate(arg: &str) -> Result<PipelineSpec, ConfigError> {
        let err = |why: &str| ConfigError::Argument {
            flag: "--replicate",
            arg: arg.to_owned(),
            why: why.to_owned(),
        };
        let (source, replica) = split(arg).ok_or_else(|| err("expected SOURCE=REPLICA"))?;
        if source == replica {
            return Err(err("a table cannot be its own replica"));
        }
        for name in [source, replica] {
            check_table_name(name).map_err(|why| err(&why))?;
        }
        Ok(PipelineSpec {
            source: source.to_owned(),
            target: Target::Replicate {
                table: replica.to_owned(),
            },
            settings: Settings::default(),
        })
    }

    /// `--backup SOURCE=s3://bucket/prefix`.
    pub fn backup(arg: &str) -> Result<PipelineSpec, ConfigError> {
        let err = |why: &str| ConfigError::Argument {
            flag: "--backup",
            arg: arg.to_owned(),
            why: why.to_owned(),
        };
        let (source, url) = split(arg).ok_or_else(|| err("expected SOURCE=s3://bucket/prefix"))?;
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| err("the target must be an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(err("the s3:// URL has no bucket"));
        }
        if !s3s::path::check_bucket_name(bucket) {
            return Err(err(&format!("{bucket:?} is not a valid bucket name")));
        }
        check_table_name(source).map_err(|why| err(&why))?;
        Ok(PipelineSpec {
            source: source.to_owned(),
            target: Target::Backup {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_end_matches('/').to_owned(),
            },
            settings: Settings::default(),
        })
    }

    /// A name for logs, status and checkpoints: `replicate orders=orders-replica`,
    /// `backup orders=s3://backups/ddb`.
    pub fn name(&self) -> String {
        match &self.target {
            Target::Replicate { table } => format!("replicate {}={table}", self.source),
            Target::Backup { bucket, prefix } if prefix.is_empty() => {
                format!("backup {}=s3://{bucket}", self.source)
            }
            Target::Backup { bucket, prefix } => format!("backup {}=s3://{bucket}/{prefix}", self.source),
        }
    }

    /// `replicate` or `backup`.
    pub fn handler(&self) -> &'static str {
        match self.target {
            Target::Replicate { .. } => "replicate",
            Target::Backup { .. } => "backup",
        }
    }
}

/// DynamoDB's table name rule: 3 to 255 of `a-z A-Z 0-9 _ - .`.
fn check_table_name(name: &str) -> Result<(), String> {
    let ok = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid table name (3 to 255 letters, digits, '_', '-' or '.')"
        ))
    }
}

fn split(arg: &str) -> Option<(&str, &str)> {
    let (a, b) = arg.split_once('=')?;
    let (a, b) = (a.trim(), b.trim());
    (!a.is_empty() && !b.is_empty()).then_some((a, b))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pipelines: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    replicate: Option<String>,
    backup: Option<String>,
    batch_size: Option<u32>,
    maximum_batching_window_in_seconds: Option<u32>,
    maximum_retry_attempts: Option<i64>,
    bisect_batch_on_function_error: Option<bool>,
    report_batch_item_failures: Option<bool>,
    starting_position: Option<StartingPosition>,
    function_timeout_seconds: Option<u32>,
}

/// Reads a configuration file's text (`path` is for messages).
pub fn parse_file(path: &str, text: &str) -> Result<Vec<PipelineSpec>, ConfigError> {
    let err = |why: String| ConfigError::File {
        path: path.to_owned(),
        why,
    };
    let file: File = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut specs = Vec::new();
    for (i, e) in file.pipelines.into_iter().enumerate() {
        let at = |why: String| err(format!("pipelines[{i}]: {why}"));
        let mut spec = match (&e.replicate, &e.backup) {
            (Some(r), None) => PipelineSpec::replicate(r),
            (None, Some(b)) => PipelineSpec::backup(b),
            _ => return Err(at("give exactly one of \"replicate\" and \"backup\"".into())),
        }
        .map_err(|x| at(x.to_string()))?;
        let s = &mut spec.settings;
        if let Some(n) = e.batch_size {
            if !(1..=10_000).contains(&n) {
                return Err(at(format!("batch_size {n} is not within 1..=10000")));
            }
            s.batch_size = n;
        }
        if let Some(w) = e.maximum_batching_window_in_seconds {
            if w > 300 {
                return Err(at(format!(
                    "maximum_batching_window_in_seconds {w} is not within 0..=300"
                )));
            }
            s.batching_window = Duration::from_secs(u64::from(w));
        }
        if let Some(r) = e.maximum_retry_attempts {
            s.maximum_retry_attempts = match r {
                -1 => None,
                0..=10_000 => u32::try_from(r).ok(),
                _ => {
                    return Err(at(format!(
                        "maximum_retry_attempts {r} is not -1 (unlimited) or within 0..=10000"
                    )))
                }
            };
        }
        if let Some(b) = e.bisect_batch_on_function_error {
            s.bisect_batch_on_function_error = b;
        }
        if let Some(b) = e.report_batch_item_failures {
            s.report_batch_item_failures = b;
        }
        if let Some(p) = e.starting_position {
            s.starting_position = p;
        }
        if let Some(t) = e.function_timeout_seconds {
            if !(1..=900).contains(&t) {
                return Err(at(format!("function_timeout_seconds {t} is not within 1..=900")));
            }
            s.function_timeout = Duration::from_secs(u64::from(t));
        }
        specs.push(spec);
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_a_source_and_a_target() {
        let r = PipelineSpec::replicate("orders=orders-replica").unwrap();
        assert_eq!(r.name(), "replicate orders=orders-replica");
        let b = PipelineSpec::backup("orders=s3://backups/ddb/").unwrap();
        assert_eq!(
            b.target,
            Target::Backup {
                bucket: "backups".into(),
                prefix: "ddb".into()
            }
        );
        assert_eq!(b.name(), "backup orders=s3://backups/ddb");
        assert!(PipelineSpec::replicate("orders").is_err());
        assert!(PipelineSpec::replicate("orders=orders").is_err());
        assert!(PipelineSpec::backup("orders=backups/ddb").is_err());
        assert!(PipelineSpec::backup("orders=s3:///x").is_err());
        assert!(PipelineSpec::backup("orders=s3://B_ad/x").is_err());
        assert!(PipelineSpec::replicate("ab=orders-replica").is_err());
        assert!(PipelineSpec::replicate("orders=with space").is_err());
    }

    #[test]
    fn a_file_sets_lambdas_settings_and_refuses_what_lambda_refuses() {
        let specs = parse_file(
            "p.json",
            r#"{"pipelines":[
                {"replicate":"aaa=bbb","batch_size":500,"maximum_retry_attempts":-1},
                {"backup":"aaa=s3://bkt/p","bisect_batch_on_function_error":true,"maximum_retry_attempts":3,
                 "maximum_batching_window_in_seconds":2,"starting_position":"LATEST"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].settings.batch_size, 500);
        assert_eq!(specs[0].settings.maximum_retry_attempts, None);
        let s = &specs[1].settings;
        assert!(s.bisect_batch_on_function_error);
        assert_eq!(s.maximum_retry_attempts, Some(3));
        assert_eq!(s.batching_window, Duration::from_secs(2));
        assert_eq!(s.starting_position, StartingPosition::Latest);
        for bad in [
            r#"{"pipelines":[{"replicate":"aaa=bbb","batch_size":0}]}"#,
            r#"{"pipelines":[{"replicate":"aaa=bbb","batch_size":10001}]}"#,
            r#"{"pipelines":[{"replicate":"aaa=bbb","maximum_retry_attempts":-2}]}"#,
            r#"{"pipelines":[{"replicate":"aaa=bbb","backup":"aaa=s3://xyz"}]}"#,
            r#"{"pipelines":[{"replicate":"aaa=bbb","batchsize":5}]}"#,
            r#"{"pipelines":[{}]}"#,
            r#"not json"#,
        ] {
            let e = parse_file("p.json", bad).unwrap_err().to_string();
            assert!(e.starts_with("pipeline configuration p.json: "), "{e}");
        }
    }
}
