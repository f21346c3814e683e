//! `ddbrep-emu`: a local DynamoDB, DynamoDB Streams and S3 on one SQLite file (S3 bodies in files beside it),
//! speaking the real wire protocols so the unmodified AWS SDKs and AWS CLI work against it.
//!
//! Start it in-process (tests, the simulation) with [`Emulator::builder`], then [`Emulator::serve`] on any
//! [`Listener`], or [`Emulator::spawn_local`] on an ephemeral loopback port:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let emu = ddbrep_emu::Emulator::builder().db(":memory:").open()?;
//! let running = emu.spawn_local().await?;
//! println!("endpoint: {}", running.endpoint());
//! # Ok(()) }
//! ```
//!
//! Layout: `server` (HTTP and dispatch), `dynamodb` (the DynamoDB and Streams protocol and operations),
//! `streams` (the Streams operations), `s3` (S3 REST through s3s, object bodies), `storage` (SQLite: schema,
//! writer, items, streams, S3 metadata), `clock` (injected time and randomness).

pub mod clock;
pub mod dynamodb;
pub mod maintenance;
pub mod pipeline;
pub mod s3;
pub mod server;
pub mod storage;
pub mod streams;
pub mod time_fmt;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clock::{Clock, Rng, SystemClock};
pub use server::Listener;
use storage::streams::ShardPolicy;
use storage::{Durability, Storage, StorageError};

/// How often the server trims stream records and expires TTL items.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Configures and opens an emulator.
pub struct EmulatorBuilder {
    db: PathBuf,
    region: String,
    clock: Arc<dyn Clock>,
    seed: Option<u64>,
    durability: Durability,
    shard_policy: ShardPolicy,
    create_delay_ms: u64,
    background_sweep: bool,
    s3_domain: String,
    pipelines: Vec<pipeline::PipelineSpec>,
}

impl EmulatorBuilder {
    /// Stream pipelines to run while serving (see [`pipeline`]): the replicate and backup handlers on
    /// the emulator's own streams.
    pub fn pipelines(mut self, specs: Vec<pipeline::PipelineSpec>) -> Self {
        self.pipelines = specs;
        self
    }

    /// The host name under which S3 requests are virtual-host style: `bucket.<domain>[:port]` (default
    /// `localhost`). Requests to any other host are path style.
    pub fn s3_domain(mut self, domain: impl Into<String>) -> Self {
        self.s3_domain = domain.into();
        self
    }

    /// Whether the server runs the maintenance sweep on its own every [`SWEEP_INTERVAL`] (default: yes).
    /// Tests that call [`Emulator::sweep`] themselves turn it off, so no sweep races theirs.
    pub fn background_sweep(mut self, on: bool) -> Self {
        self.background_sweep = on;
        self
    }

    /// The database file; `:memory:` (the builder's default) for a throwaway one.
    pub fn db(mut self, path: impl Into<PathBuf>) -> Self {
        self.db = path.into();
        self
    }

    /// The region in ARNs and stream records (default `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A fixed seed for every random choice (default: from the OS).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How durable an acknowledged write is (default: survives a process crash).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// When stream shards roll over.
    pub fn shard_policy(mut self, policy: ShardPolicy) -> Self {
        self.shard_policy = policy;
        self
    }

    /// How long new tables stay CREATING (default 0).
    pub fn create_delay_ms(mut self, ms: u64) -> Self {
        self.create_delay_ms = ms;
        self
    }

    /// Opens the database (creating and migrating it if needed) and the S3 body directory beside it, deleting
    /// body files no object names (left by a crash mid-upload).
    pub fn open(self) -> Result<Emulator, StorageError> {
        let rng = Arc::new(match self.seed {
            Some(seed) => Rng::seeded(seed),
            None => Rng::from_entropy(),
        });
        let storage = Arc::new(Storage::open(&self.db, self.durability, rng.next_u64())?);
        let blobs = Arc::new(s3::blobs::BlobStore::open(
            storage.path(),
            storage.is_temporary(),
            self.durability,
            Arc::clone(&rng),
        )?);
        let keep = storage.read(storage::objects::referenced_files)?;
        let swept = blobs.sweep(&keep)?;
        if swept > 0 {
            tracing::info!(files = swept, "deleted S3 body files that no object names");
        }
        let local_s3 = Arc::new(s3::service::S3Backend::new(
            Arc::clone(&storage),
            Arc::clone(&blobs),
            Arc::clone(&self.clock),
            Arc::clone(&rng),
            self.region.clone(),
        ));
        let s3 = Arc::new(s3::S3::new(
            Arc::clone(&storage),
            blobs,
            Arc::clone(&self.clock),
            Arc::clone(&rng),
            s3::S3Config {
                domain: self.s3_domain,
                region: self.region.clone(),
            },
        ));
        let config = dynamodb::Config {
            region: self.region,
            shard_policy: self.shard_policy,
            create_delay_ms: self.create_delay_ms,
        };
        let region = config.region.clone();
        let service = Arc::new(dynamodb::Service::new(
            Arc::clone(&storage),
            Arc::clone(&self.clock),
            Arc::clone(&rng),
            config,
        ));
        let pipelines = Arc::new(pipeline::Pipelines::new(
            self.pipelines,
            Arc::clone(&service),
            local_s3,
            storage,
            self.clock,
            rng,
            region,
        ));
        Ok(Emulator {
            service,
            s3,
            pipelines,
            background_sweep: self.background_sweep,
        })
    }
}

/// An opened emulator, ready to serve.
#[derive(Clone)]
pub struct Emulator {
    service: Arc<dynamodb::Service>,
    s3: Arc<s3::S3>,
    pipelines: Arc<pipeline::Pipelines>,
    background_sweep: bool,
}

impl Emulator {
    /// The stream pipelines (none unless configured): their status, and a wait for them to catch up.
    pub fn pipelines(&self) -> &Arc<pipeline::Pipelines> {
        &self.pipelines
    }

    /// A builder with the defaults: a throwaway database, `us-east-1`, the system clock.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            db: PathBuf::from(":memory:"),
            region: "us-east-1".into(),
            clock: Arc::new(SystemClock),
            seed: None,
            durability: Durability::default(),
            shard_policy: ShardPolicy::default(),
            create_delay_ms: 0,
            background_sweep: true,
            s3_domain: "localhost".into(),
            pipelines: Vec::new(),
        }
    }

    /// Serves `listener` until `shutdown` completes; requests in flight finish first. Runs the maintenance
    /// sweep (stream retention, time to live) every [`SWEEP_INTERVAL`] and the stream pipelines meanwhile.
    pub async fn serve<L: Listener>(&self, listener: L, shutdown: impl std::future::Future<Output = ()>) {
        let service = Arc::clone(&self.service);
        let background_sweep = self.background_sweep;
        let sweeper = tokio::spawn(async move {
            if !background_sweep {
                return;
            }
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = maintenance::sweep(&service, service.clock.now()).await {
                    tracing::warn!(error = %e, "maintenance sweep failed");
                }
            }
        });
        let pipelines = tokio::spawn(Arc::clone(&self.pipelines).run());
        server::serve(
            Arc::clone(&self.service),
            Arc::clone(&self.s3),
            Arc::clone(&self.pipelines),
            listener,
            shutdown,
        )
        .await;
        pipelines.abort();
        sweeper.abort();
    }

    /// Runs one maintenance sweep now (the server runs them on its own every [`SWEEP_INTERVAL`]).
    pub async fn sweep(&self) -> Result<maintenance::SweepReport, StorageError> {
        maintenance::sweep(&self.service, self.service.clock.now()).await
    }

    /// Serves on an ephemeral loopback port in a background task, until the returned handle is dropped.
    pub async fn spawn_local(&self) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let emu = self.clone();
        let task = tokio::spawn(async move {
            emu.serve(listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        Ok(Running {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// An emulator serving in the background; dropping it stops the server.
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
