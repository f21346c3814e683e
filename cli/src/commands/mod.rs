//! The commands: one enum, one `match`. Each tool keeps the original's arguments and options; links named
//! after an original command (`diff-tables -> ddbrep`) run that command (see `main.rs`).

pub mod backup_table;
pub mod context;
pub mod diff_tables;
pub mod incremental;
pub mod install_links;
pub mod invoke_handler;
pub mod metric;
pub mod record;
pub mod restore;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;
use crate::location::{S3Location, TableLocation};

/// The original tool's command names, each of which `ddbrep` answers to when invoked through a link.
pub const ORIGINAL_COMMANDS: [&str; 9] = [
    "diff-record",
    "diff-tables",
    "replicate-record",
    "backup-table",
    "incremental-backfill",
    "incremental-snapshot",
    "incremental-diff-record",
    "incremental-backup-record",
    "incremental-record-history",
];

/// Keeps DynamoDB tables redundant and recoverable: replica checks and repair, dumps, incremental backups
/// with history, on AWS or on a local endpoint.
///
/// Exit codes: 0 success; 1 differences found (with --exit-code); 2 usage error; 3 the work failed (missing
/// table or bucket, a write that could not be made); 255 a bug.
#[derive(Parser, Debug)]
#[command(name = "ddbrep", version)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every tool takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Send every request to this endpoint (also AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// The region for tables given without one, and for S3 (also AWS_REGION, the profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// The AWS profile for credentials and region (also AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// One JSON object per event on stdout, and a final summary, instead of log lines.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The tools.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compare one item in two tables.
    ///
    /// Example: ddbrep diff-record us-east-1/primary eu-west-1/replica '{"id":"abc"}'
    DiffRecord(RecordArgs),
    /// Compare two whole tables, optionally repairing the replica.
    ///
    /// Example: ddbrep diff-tables us-east-1/primary eu-west-2/replica --repair --segment 0 --segments 10
    DiffTables(DiffTablesArgs),
    /// Copy one item's current state from the primary to the replica.
    ///
    /// Example: ddbrep replicate-record us-east-1/primary eu-west-1/replica '{"id":"abc"}'
    ReplicateRecord(RecordArgs),
    /// Dump a table (or one segment) as gzip'd line-delimited DynamoDB-JSON to S3.
    ///
    /// Example: ddbrep backup-table us-east-1/primary s3://my-bucket/some-prefix --jobid my-job-id
    BackupTable(BackupTableArgs),
    /// Write every item of a table as its own object into an incremental backup folder.
    ///
    /// Example: ddbrep incremental-backfill us-east-1/primary s3://dynamodb-backups/incremental
    IncrementalBackfill(TableS3Args),
    /// Check that an incremental backup holds exactly the table: items without an object (missing), objects
    /// holding another state (different), objects whose item is gone (extraneous); --repair fixes the backup
    /// with conditional writes, so a live backup handler's newer write is never overwritten.
    ///
    /// Example: ddbrep incremental-diff-table us-east-1/primary s3://dynamodb-backups/incremental --repair
    IncrementalDiffTable(DiffTableArgs),
    /// Migrate an incremental backup folder written by the original tool (composite keys hashed in other
    /// attribute orders, MD5 names: two objects for one item) to one object per key under its canonical
    /// name, keeping each key's newest state. No version is removed, so history stays readable; idempotent
    /// and resumable. Run it once the original's backup Lambda is replaced by ddbrep's.
    ///
    /// Example: ddbrep incremental-rekey us-east-1/primary s3://dynamodb-backups/incremental --dry-run
    IncrementalRekey(RekeyArgs),
    /// Aggregate an incremental backup folder into one gzip'd line-delimited snapshot object.
    ///
    /// Example: ddbrep incremental-snapshot s3://dynamodb-backups/incremental/primary s3://dynamodb-backups/snapshots/primary
    IncrementalSnapshot(SnapshotArgs),
    /// Compare one item with its incremental backup.
    ///
    /// Example: ddbrep incremental-diff-record us-east-1/primary s3://dynamodb-backups/incremental '{"id":"abc"}'
    IncrementalDiffRecord(TableS3KeyArgs),
    /// Back up one item's current state into an incremental backup folder.
    ///
    /// Example: ddbrep incremental-backup-record us-east-1/primary s3://dynamodb-backups/incremental '{"id":"abc"}'
    IncrementalBackupRecord(TableS3KeyArgs),
    /// Print every backed-up version of one item, newest first.
    ///
    /// Example: ddbrep incremental-record-history us-east-1/primary s3://dynamodb-backups/incremental '{"id":"abc"}'
    IncrementalRecordHistory(TableS3KeyArgs),
    /// Make links named after the original's commands (diff-tables, backup-table, …) pointing at ddbrep.
    ///
    /// Example: ddbrep install-links ~/.local/bin
    InstallLinks(install_links::InstallLinksArgs),
    /// Run the replicate or backup stream handler once on a captured event and print its partial batch
    /// response. The handler reads the Lambda environment (ReplicaTable, BackupBucket, …; see DEPLOY.md)
    /// from the process environment and --env.
    ///
    /// Example: ddbrep invoke-handler replicate --event event.json --env ReplicaTable=replica --endpoint-url http://localhost:8000
    InvokeHandler(invoke_handler::InvokeHandlerArgs),
    /// Restore a table from a backup: a backup-table dump, an incremental-snapshot object, or an incremental
    /// folder (its current state, or the state at an instant with --at), into a new table (--key-schema) or
    /// an existing one (--only-missing, the default, or --overwrite). --dry-run lists what would be written.
    ///
    /// Example: ddbrep restore-table s3://dynamodb-backups/incremental/primary us-east-1/primary-restored --key-schema id:S --at 2026-12-06T10:00:00Z
    RestoreTable(RestoreArgs),
}

/// What restore-table reads.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreSource {
    /// An incremental backup folder (s3://bucket/prefix/table): one versioned object per key.
    Incremental,
    /// A backup-table dump (s3://bucket/prefix/jobid).
    Dump,
    /// An incremental-snapshot object.
    Snapshot,
}

/// restore-table.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup: a dump (s3://bucket/prefix/jobid), a snapshot object, or an incremental folder
    /// (s3://bucket/prefix/table).
    pub source: S3Location,
    /// The table to restore into: region/table, host:port/table or local/table.
    pub table: TableLocation,
    /// What SOURCE is (default: detected; an object is a snapshot, a folder of numbered segments a dump,
    /// any other folder incremental).
    #[arg(long, value_enum)]
    pub from: Option<RestoreSource>,
    /// Restore the state at this instant: RFC 3339 (2026-12-06T10:00:00Z) or epoch seconds.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Undo a window in an existing table: every key changed after T1 and up to T2 goes back to its state
    /// at T1 (deleted if it did not exist then); a key changed again after T2 is reported and left alone.
    #[arg(long, num_args = 2, value_names = ["T1", "T2"], conflicts_with_all = ["at", "only_missing"])]
    pub undo_between: Option<Vec<String>>,
    /// Restore only the keys in FILE, one per line, as plain JSON ({"id":"a"}) or DynamoDB-JSON.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<std::path::PathBuf>,
    /// Read this many of a dump's segments at once.
    #[arg(long, default_value_t = 1)]
    pub parallel: u32,
    /// Write at most this many items per second (halved while DynamoDB throttles).
    #[arg(long)]
    pub max_rate: Option<u32>,
    /// Write at most this fraction (0 to 1] of the table's provisioned write capacity.
    #[arg(long)]
    pub capacity_fraction: Option<f64>,
    /// The key of a table to create: NAME:TYPE or PARTITION:TYPE,SORT:TYPE (types S, N, B).
    #[arg(long, value_name = "SCHEMA")]
    pub key_schema: Option<String>,
    /// Into an existing table: write only keys it does not have (the default).
    #[arg(long)]
    pub only_missing: bool,
    /// Into an existing table: overwrite what it holds (with --at, also delete keys absent at TIME).
    #[arg(long)]
    pub overwrite: bool,
    /// List, key by key, what would be written or deleted, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Exit 1 when the table was not already as restored: a key was (with --dry-run, would be) written
    /// or deleted, or a conflict left a key as someone else wrote it.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Two tables and a key.
#[derive(Args, Debug)]
pub struct RecordArgs {
    /// The primary table: region/table, host:port/table or local/table.
    pub primary: TableLocation,
    /// The replica table.
    pub replica: TableLocation,
    /// The item's key, as plain JSON ({"id":"abc"}) or DynamoDB-JSON ({"id":{"S":"abc"}}).
    pub key: String,
    /// diff-record: exit 1 when the records differ.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub common: Common,
}

/// diff-tables.
#[derive(Args, Debug)]
pub struct DiffTablesArgs {
    /// The primary table: region/table, host:port/table or local/table.
    pub primary: TableLocation,
    /// The replica table.
    pub replica: TableLocation,
    /// Fix discrepancies in the replica table.
    #[arg(long)]
    pub repair: bool,
    /// Only scan the primary and write to the replica (with --repair).
    #[arg(long)]
    pub backfill: bool,
    /// Segment identifier (0-based), for fanning out across machines.
    #[arg(long, requires = "segments")]
    pub segment: Option<u32>,
    /// Total number of segments.
    #[arg(long, requires = "segment")]
    pub segments: Option<u32>,
    /// Scan this many segments in parallel in this process.
    #[arg(long, default_value_t = 1)]
    pub parallel: u32,
    /// Leave this attribute out of the comparison (repeatable), e.g. Global Tables' aws:rep:updatetime.
    #[arg(long = "ignore")]
    pub ignore: Vec<String>,
    /// Read and write at most this many items per second.
    #[arg(long)]
    pub max_rate: Option<u32>,
    /// Read and write at most this fraction (0 to 1] of the table's provisioned read capacity.
    #[arg(long)]
    pub capacity_fraction: Option<f64>,
    /// Exit 1 when discrepancies were found.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub common: Common,
}

/// backup-table.
#[derive(Args, Debug)]
pub struct BackupTableArgs {
    /// The table: region/table, host:port/table or local/table.
    pub table: TableLocation,
    /// Where to write: s3://bucket/prefix (the dump goes to prefix/jobid/segment).
    pub s3url: S3Location,
    /// The job id (default: 16 random hex characters).
    #[arg(long)]
    pub jobid: Option<String>,
    /// Segment identifier (0-based).
    #[arg(long, requires = "segments")]
    pub segment: Option<u32>,
    /// Total number of segments.
    #[arg(long, requires = "segment")]
    pub segments: Option<u32>,
    /// CloudWatch metric namespace/metric-name (dimension Type = Size, RecordCount or Error).
    #[arg(long)]
    pub metric: Option<String>,
    /// Scan this many segments in parallel in this process (without --segment).
    #[arg(long, default_value_t = 1)]
    pub parallel: u32,
    /// Read at most this many items per second.
    #[arg(long)]
    pub max_rate: Option<u32>,
    /// Read and write at most this fraction (0 to 1] of the table's provisioned read capacity.
    #[arg(long)]
    pub capacity_fraction: Option<f64>,
    #[command(flatten)]
    pub common: Common,
}

/// A table and an S3 folder.
#[derive(Args, Debug)]
pub struct TableS3Args {
    /// The table: region/table, host:port/table or local/table.
    pub table: TableLocation,
    /// The incremental backup folder: s3://bucket/prefix (the table name is appended).
    pub s3url: S3Location,
    /// Segment identifier (0-based), for fanning out across machines.
    #[arg(long, requires = "segments")]
    pub segment: Option<u32>,
    /// Total number of segments.
    #[arg(long, requires = "segment")]
    pub segments: Option<u32>,
    /// Scan this many segments in parallel in this process.
    #[arg(long, default_value_t = 1)]
    pub parallel: u32,
    /// Read at most this many items per second.
    #[arg(long)]
    pub max_rate: Option<u32>,
    /// Read and write at most this fraction (0 to 1] of the table's provisioned read capacity.
    #[arg(long)]
    pub capacity_fraction: Option<f64>,

    #[command(flatten)]
    pub common: Common,
}

/// incremental-diff-table.
#[derive(Args, Debug)]
pub struct DiffTableArgs {
    #[command(flatten)]
    pub scan: TableS3Args,
    /// Fix the backup: write missing and different objects, delete extraneous ones.
    #[arg(long)]
    pub repair: bool,
    /// Exit 1 when the backup differs from the table.
    #[arg(long)]
    pub exit_code: bool,
}

/// incremental-rekey.
#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// The table (its key schema tells keys from object bodies): region/table, host:port/table or local/table.
    pub table: TableLocation,
    /// The incremental backup folder: s3://bucket/prefix (the table name is appended).
    pub s3url: S3Location,
    /// List what would be migrated; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: Common,
}

/// incremental-snapshot.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// The incremental folder of one table: s3://bucket/prefix/table.
    pub source: S3Location,
    /// The snapshot object: s3://bucket/key.
    pub dest: S3Location,
    /// CloudWatch metric region/namespace/tablename.
    #[arg(long)]
    pub metric: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// A table, an S3 folder and a key.
#[derive(Args, Debug)]
pub struct TableS3KeyArgs {
    /// The table: region/table, host:port/table or local/table.
    pub table: TableLocation,
    /// The incremental backup folder: s3://bucket/prefix.
    pub s3url: S3Location,
    /// The item's key, as plain JSON or DynamoDB-JSON.
    pub key: String,
    /// incremental-diff-record: exit 1 when the record and its backup differ.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::DiffRecord(args) => record::cmd_two_tables(&args, false),
        Command::DiffTables(args) => diff_tables::cmd(&args),
        Command::ReplicateRecord(args) => record::cmd_two_tables(&args, true),
        Command::BackupTable(args) => backup_table::cmd(&args),
        Command::IncrementalBackfill(args) => incremental::cmd_backfill(&args),
        Command::IncrementalSnapshot(args) => incremental::cmd_snapshot(&args),
        Command::IncrementalDiffTable(args) => incremental::cmd_diff_table(&args),
        Command::IncrementalRekey(args) => incremental::cmd_rekey(&args),
        Command::IncrementalDiffRecord(args) => record::cmd_backup_record(&args, false),
        Command::IncrementalBackupRecord(args) => record::cmd_backup_record(&args, true),
        Command::IncrementalRecordHistory(args) => record::cmd_history(&args),
        Command::InstallLinks(args) => install_links::cmd_install_links(&args),
        Command::InvokeHandler(args) => invoke_handler::cmd(&args),
        Command::RestoreTable(args) => restore::cmd(&args),
    }
}

/// The subcommand's name as typed.
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::DiffRecord(_) => "diff-record",
        Command::DiffTables(_) => "diff-tables",
        Command::ReplicateRecord(_) => "replicate-record",
        Command::BackupTable(_) => "backup-table",
        Command::IncrementalBackfill(_) => "incremental-backfill",
        Command::IncrementalSnapshot(_) => "incremental-snapshot",
        Command::IncrementalDiffTable(_) => "incremental-diff-table",
        Command::IncrementalRekey(_) => "incremental-rekey",
        Command::IncrementalDiffRecord(_) => "incremental-diff-record",
        Command::IncrementalBackupRecord(_) => "incremental-backup-record",
        Command::IncrementalRecordHistory(_) => "incremental-record-history",
        Command::InstallLinks(_) => "install-links",
        Command::InvokeHandler(_) => "invoke-handler",
        Command::RestoreTable(_) => "restore-table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_original_command_is_a_subcommand() {
        let cli = Cli::command();
        for name in ORIGINAL_COMMANDS {
            assert!(cli.find_subcommand(name).is_some(), "{name}");
        }
    }
}
