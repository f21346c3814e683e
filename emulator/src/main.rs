//! The `ddbrep-emu` binary: a local DynamoDB + DynamoDB Streams + S3 on one SQLite file.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use ddbrep_emu::pipeline::PipelineSpec;
use ddbrep_emu::storage::Durability;
use ddbrep_emu::Emulator;

/// mimalloc, without transparent huge pages, as the `ddbrep` binary (see DESIGN, emulator benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A local DynamoDB, DynamoDB Streams and S3 on one SQLite file, for the unmodified AWS SDKs and CLI.
///
/// Example:
///   ddbrep-emu --db ./dev.sqlite
///   aws --endpoint-url http://localhost:8000 dynamodb list-tables
///   aws --endpoint-url http://localhost:8000 s3 mb s3://backups
///
/// With the stream handlers running on the emulator's own streams:
///   ddbrep-emu --replicate orders=orders-replica --backup orders=s3://backups/ddb
///   curl http://localhost:8000/_ddbrep/pipelines
#[derive(Parser, Debug)]
#[command(name = "ddbrep-emu", version, verbatim_doc_comment)]
struct Args {
    /// Address to listen on. Loopback by default; give another address to serve the network.
    #[arg(long, default_value = "127.0.0.1:8000", env = "DDBREP_EMU_LISTEN")]
    listen: SocketAddr,
    /// The database file (created if missing); `:memory:` for a throwaway one.
    #[arg(long, default_value = "./ddbrep-emu.sqlite", env = "DDBREP_EMU_DB")]
    db: PathBuf,
    /// The region in ARNs and stream records.
    #[arg(long, default_value = "us-east-1", env = "DDBREP_EMU_REGION")]
    region: String,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info`, `debug`, `ddbrep_emu=trace`.
    #[arg(long, default_value = "info", env = "DDBREP_EMU_LOG")]
    log: String,
    /// Make every acknowledged write survive power loss (fsync per commit), not only a process crash.
    #[arg(long)]
    fsync: bool,
    /// A fixed seed for ids and iterators (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// Close a stream shard and open a child after this many records (DynamoDB also rolls shards over
    /// about every 4 hours, which the emulator does too).
    #[arg(long, default_value_t = 100_000)]
    shard_max_records: i64,
    /// S3 requests to `bucket.<domain>[:port]` are virtual-host style; any other host is path style.
    #[arg(long, default_value = "localhost", env = "DDBREP_EMU_S3_DOMAIN")]
    s3_domain: String,
    /// Run the replicate handler on SOURCE's stream into the table REPLICA (created if missing).
    /// Repeatable.
    #[arg(long, value_name = "SOURCE=REPLICA")]
    replicate: Vec<String>,
    /// Run the backup handler on SOURCE's stream into s3://bucket/prefix/SOURCE/ (the bucket created
    /// with versioning if missing). Repeatable.
    #[arg(long, value_name = "SOURCE=s3://bucket/prefix")]
    backup: Vec<String>,
    /// A JSON file of pipelines with Lambda's event source mapping settings (batch_size,
    /// maximum_batching_window_in_seconds, maximum_retry_attempts, bisect_batch_on_function_error,
    /// report_batch_item_failures, starting_position, function_timeout_seconds); see the README.
    #[arg(long, value_name = "FILE", env = "DDBREP_EMU_PIPELINES")]
    pipelines: Option<PathBuf>,
}

fn pipeline_specs(args: &Args) -> anyhow::Result<Vec<PipelineSpec>> {
    let mut specs = Vec::new();
    if let Some(path) = &args.pipelines {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the pipeline configuration {}", path.display()))?;
        specs.extend(ddbrep_emu::pipeline::config::parse_file(
            &path.display().to_string(),
            &text,
        )?);
    }
    for arg in &args.replicate {
        specs.push(PipelineSpec::replicate(arg)?);
    }
    for arg in &args.backup {
        specs.push(PipelineSpec::backup(arg)?);
    }
    let mut names = std::collections::HashSet::new();
    for spec in &specs {
        if !names.insert(spec.name()) {
            anyhow::bail!("the pipeline {} is configured twice", spec.name());
        }
    }
    Ok(specs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).context("invalid --log filter")?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let specs = pipeline_specs(&args)?;
    let mut builder = Emulator::builder()
        .db(&args.db)
        .region(&args.region)
        .s3_domain(&args.s3_domain)
        .durability(if args.fsync {
            Durability::Power
        } else {
            Durability::Process
        });
    if let Some(seed) = args.seed {
        builder = builder.seed(seed);
    }
    let policy = ddbrep_emu::storage::streams::ShardPolicy {
        max_records: args.shard_max_records.max(1),
        ..Default::default()
    };
    builder = builder.shard_policy(policy).pipelines(specs.clone());
    let emu = builder
        .open()
        .with_context(|| format!("cannot open the database {}", args.db.display()))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Not println!: a closed stdout (`ddbrep-emu | head -1`, a parent that read the endpoint and went away)
    // must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "ddbrep-emu listening on http://{addr} (database {})",
        args.db.display()
    );
    for spec in &specs {
        let _ = writeln!(stdout, "pipeline: {}", spec.name());
    }
    let _ = stdout.flush();
    tracing::info!(ready_ms = started.elapsed().as_secs_f64() * 1000.0, "ready");
    emu.serve(listener, shutdown_signal()).await;
    tracing::info!("stopped; every acknowledged write is committed");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
