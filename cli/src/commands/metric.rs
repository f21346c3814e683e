//! `--metric`: CloudWatch PutMetricData, as the original published it.
//!
//! - backup-table `--metric NAMESPACE/METRIC`: metric `METRIC` in us-east-1 with dimension `Type` = `Size`
//!   (bytes stored), `RecordCount`, or `Error` (value 1 on failure).
//! - incremental-snapshot `--metric REGION/NAMESPACE/TABLE`: `BackupSize`, `BackupRecordCount`, or
//!   `BackupErrors` (on failure), each with dimension `TableName` = `TABLE`.
//!
//! A metric that cannot be published is reported on stderr; it does not fail a backup that succeeded.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::drive::aws::{self, Connection};
use crate::error::CliError;

/// One datum before it is built.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Datum {
    /// MetricName.
    pub name: String,
    /// Dimension name and value.
    pub dimension: (String, String),
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: Option<&'static str>,
}

/// The data backup-table publishes: `(bytes, records)` on success, an error datum otherwise.
pub fn backup_data(metric: &str, outcome: Option<(u64, u64)>) -> Vec<Datum> {
    let datum = |ty: &str, value: f64, unit| Datum {
        name: metric.to_owned(),
        dimension: ("Type".into(), ty.into()),
        value,
        unit,
    };
    match outcome {
        None => vec![datum("Error", 1.0, None)],
        Some((bytes, records)) => vec![
            datum("Size", bytes as f64, Some("Bytes")),
            datum("RecordCount", records as f64, Some("Count")),
        ],
    }
}

/// The data incremental-snapshot publishes.
pub fn snapshot_data(table: &str, outcome: Option<(u64, u64)>) -> Vec<Datum> {
    let datum = |name: &str, value: f64, unit| Datum {
        name: name.to_owned(),
        dimension: ("TableName".into(), table.into()),
        value,
        unit,
    };
    match outcome {
        None => vec![datum("BackupErrors", 1.0, None)],
        Some((bytes, records)) => vec![
            datum("BackupSize", bytes as f64, Some("Bytes")),
            datum("BackupRecordCount", records as f64, Some("Count")),
        ],
    }
}

/// Checks a backup-table `--metric` (`NAMESPACE/METRIC`).
pub fn parse_backup(spec: &str) -> Result<(String, String), CliError> {
    match spec.split('/').collect::<Vec<_>>().as_slice() {
        [ns, name] if !ns.is_empty() && !name.is_empty() => Ok(((*ns).into(), (*name).into())),
        _ => Err(CliError::usage(format!(
            "--metric {spec:?}: expected namespace/metric-name"
        ))),
    }
}

/// Checks an incremental-snapshot `--metric` (`REGION/NAMESPACE/TABLE`).
pub fn parse_snapshot(spec: &str) -> Result<(String, String, String), CliError> {
    match spec.split('/').collect::<Vec<_>>().as_slice() {
        [region, ns, table] if !region.is_empty() && !ns.is_empty() && !table.is_empty() => {
            Ok(((*region).into(), (*ns).into(), (*table).into()))
        }
        _ => Err(CliError::usage(format!(
            "--metric {spec:?}: expected region/namespace/tablename"
        ))),
    }
}

async fn put(region: &str, namespace: &str, data: Vec<Datum>, connection: &Connection) {
    let client = aws::cloudwatch(Some(region), connection).await;
    let data = data
        .into_iter()
        .map(|d| {
            MetricDatum::builder()
                .metric_name(d.name)
                .dimensions(
                    Dimension::builder()
                        .name(d.dimension.0)
                        .value(d.dimension.1)
                        .build(),
                )
                .value(d.value)
                .set_unit(d.unit.map(StandardUnit::from))
                .build()
        })
        .collect();
    let sent = client
        .put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await;
    if let Err(e) = sent {
        eprintln!(
            "error: could not publish CloudWatch metrics to {namespace}: {}",
            crate::drive::errors::describe(&e)
        );
    }
}

/// Publishes backup-table's metrics (`spec` already checked).
pub async fn publish_backup(spec: &str, connection: &Connection, outcome: Option<(u64, u64)>) {
    if let Ok((namespace, metric)) = parse_backup(spec) {
        put("us-east-1", &namespace, backup_data(&metric, outcome), connection).await;
    }
}

/// Publishes incremental-snapshot's metrics (`spec` already checked).
pub async fn publish_snapshot(spec: &str, connection: &Connection, outcome: Option<(u64, u64)>) {
    if let Ok((region, namespace, table)) = parse_snapshot(spec) {
        put(&region, &namespace, snapshot_data(&table, outcome), connection).await;
    }
}
