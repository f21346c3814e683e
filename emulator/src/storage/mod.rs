//! Storage: one SQLite database in WAL mode, one writer thread with group commit, readers on their own
//! connections.
//!
//! # Writes
//! Every change goes through [`Storage::write`]: the closure runs on the writer thread inside a savepoint of
//! the current group transaction; an `Err` rolls back just its savepoint. The writer takes every job that is
//! waiting, runs them one after another, commits once, and only then answers each caller, so an answered
//! write is durable (against a process crash with `synchronous=NORMAL`, against power loss with `FULL`). A
//! change, its index entries and its stream record are written by one job, hence in one transaction.
//!
//! # Checkpoints
//! The WAL is copied back into the database by a checkpointer thread on its own connection, not by the
//! writer: the writer's WAL hook wakes it each time the log has grown by [`CHECKPOINT_FRAMES`] pages, and a
//! PASSIVE checkpoint runs beside the writer without blocking it, after which the checkpointer syncs the
//! database file itself (SQLite syncs it only when a checkpoint reaches the end of the log, which one beside
//! a busy writer never does). When the log reaches [`WRITER_CHECKPOINT_FRAMES`] the writer asks for one more
//! pass and, once that pass is done, checkpoints itself: it finds only that pass's tail to copy and sync, and
//! as no other writer is appending, its checkpoint completes the log, so the log starts over and stays
//! short. A checkpoint changes where committed pages live, not what is committed, so durability is the
//! commit's, as before.
//!
//! # Reads
//! [`Storage::read`] runs on a pooled read-only connection; WAL readers see every committed write and never
//! block the writer. Reads are strongly consistent: a write is committed before it is answered.
//!
//! # Catalog
//! Table definitions are cached in memory ([`catalog`]); only writer jobs change them, after their SQL
//! succeeded.

pub mod catalog;
pub mod items;
pub mod keys;
pub mod objects;
pub mod pipeline;
pub mod schema;
pub mod streams;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use self::catalog::{Catalog, Table, TableMeta};

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread is gone (shut down or crashed).
    #[error("the storage writer has stopped")]
    WriterGone,
    /// A stored table definition could not be read.
    #[error("corrupt table definition {name:?}: {reason}")]
    CorruptCatalog {
        /// The table.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A file system error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives a process crash (`kill -9`); the default.
    #[default]
    Process,
    /// `synchronous=FULL`: survives power loss too.
    Power,
}

/// What a writer job sees: the group transaction (behind a savepoint) and the catalog.
pub struct WriteCtx<'a> {
    /// The open savepoint; use it as a connection.
    pub conn: &'a Connection,
    catalog: &'a RwLock<Catalog>,
    /// Item count and size changes of this job, per table; folded into one UPDATE per table per group.
    counters: RefCell<BTreeMap<i64, (i64, i64)>>,
}

impl WriteCtx<'_> {
    /// Records that a table gained `items` items and `bytes` bytes (negative to lose them).
    pub fn count(&self, table_id: i64, items: i64, bytes: i64) {
        let mut counters = self.counters.borrow_mut();
        let entry = counters.entry(table_id).or_default();
        entry.0 += items;
        entry.1 += bytes;
    }

    /// A table's definition.
    pub fn table(&self, name: &str) -> Option<Arc<Table>> {
        read_lock(self.catalog).get(name)
    }

    /// Records a new or changed table definition in the catalog (after its SQL succeeded).
    pub fn put_table(&self, table: Table) {
        write_lock(self.catalog).put(table);
    }

    /// Removes a table from the catalog (after its SQL succeeded).
    pub fn remove_table(&self, name: &str) {
        write_lock(self.catalog).remove(name);
    }
}

type Reply = Box<dyn FnOnce(Result<(), Arc<rusqlite::Error>>) + Send>;
type Job = Box<dyn FnOnce(&WriteCtx<'_>) -> (Reply, bool) + Send>;

/// WAL pages at which the writer wakes the checkpointer (SQLite's own autocheckpoint default).
pub const CHECKPOINT_FRAMES: i32 = 1000;

/// WAL pages at which the writer checkpoints itself (64 MiB of 4 KiB pages). Under a steady load the
/// checkpointer trails the writer and never finds the log fully copied, so the log would never start over;
/// the writer's checkpoint copies what the checkpointer has not yet (the frames it did are skipped) and, with
/// no other writer, finishes, so the next transaction starts the log from the beginning.
pub const WRITER_CHECKPOINT_FRAMES: i32 = 16_384;

/// The most jobs one group transaction takes.
const MAX_GROUP: usize = 1024;

/// The database: writer, readers, catalog.
pub struct Storage {
    jobs: mpsc::UnboundedSender<Job>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    catalog: Arc<RwLock<Catalog>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The checkpointer thread and its bell.
    checkpointer: Mutex<Option<(Arc<Wake>, std::thread::JoinHandle<()>)>>,
    /// A throwaway database file to delete on drop (`:memory:`).
    temporary: bool,
}

/// How much of the database file a reader connection maps into memory: its pages are then read in place,
/// without a `pread` and a copy into SQLite's page cache each. (Pages still in the WAL are read from it.)
const READER_MMAP_BYTES: i64 = 1 << 30;

/// `f` between `BEGIN` and `COMMIT` (or `ROLLBACK` if it failed).
fn in_read_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = f(conn);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = conn.prepare_cached(end).and_then(|mut s| s.execute([]));
    let value = result?;
    ended?;
    Ok(value)
}

impl Storage {
    /// Opens (creating if needed) the database at `path`, migrates it, loads the catalog and starts the
    /// writer. `:memory:` means a throwaway database in a temporary file, deleted when dropped.
    pub fn open(path: &Path, durability: Durability, seed: u64) -> Result<Storage, StorageError> {
        let (path, temporary) = if path.as_os_str() == ":memory:" {
            // Unique within this process (a counter) and across processes (the pid).
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("ddbrep-emu-{}-{n}-{seed:016x}.sqlite", std::process::id());
            let path = std::env::temp_dir().join(name);
            remove_database_files(&path);
            (path, true)
        } else {
            (path.to_path_buf(), false)
        };
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = match (durability, temporary) {
            (_, true) => "OFF",
            (Durability::Process, false) => "NORMAL",
            (Durability::Power, false) => "FULL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "cache_size", -8192)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        schema::migrate(&mut conn)?;
        let catalog = Arc::new(RwLock::new(load_catalog(&conn)?));

        let wake = Arc::new(Wake::default());
        let checkpoint_conn = Connection::open(&path)?;
        checkpoint_conn.busy_timeout(std::time::Duration::from_secs(10))?;
        learn_wal_mode(&checkpoint_conn)?;
        let checkpointer_wake = Arc::clone(&wake);
        // A throwaway database is never synced (synchronous=OFF).
        let db_file = if temporary {
            None
        } else {
            Some(std::fs::File::open(&path)?)
        };
        let checkpointer = std::thread::Builder::new()
            .name("ddbrep-emu-checkpointer".into())
            .spawn(move || run_checkpointer(&checkpoint_conn, db_file.as_ref(), &checkpointer_wake))?;
        let hook_wake = Arc::clone(&wake);
        let mut policy = LogPolicy::default();
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
            if policy.after_commit(pages, &hook_wake) {
                // Never an error from here: SQLite would report it as the commit's, though the commit is
                // done. Busy (the checkpointer is at work) is retried at the next commit.
                match wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                    Ok(_) => policy.checkpointed(),
                    Err(error) => tracing::debug!(%error, "writer checkpoint deferred"),
                }
            }
            Ok(())
        }))?;

        let (jobs, rx) = mpsc::unbounded_channel();
        let writer_catalog = Arc::clone(&catalog);
        let writer = std::thread::Builder::new()
            .name("ddbrep-emu-writer".into())
            .spawn(move || run_writer(conn, rx, writer_catalog))?;
        Ok(Storage {
            jobs,
            readers: Mutex::new(Vec::new()),
            path,
            catalog,
            writer: Mutex::new(Some(writer)),
            checkpointer: Mutex::new(Some((wake, checkpointer))),
            temporary,
        })
    }

    /// Runs `job` on the writer thread in its own savepoint; `Err` rolls it back. Answers once the group
    /// transaction holding it has committed.
    pub async fn write<T, E, F>(&self, job: F) -> Result<Result<T, E>, StorageError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&WriteCtx<'_>) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |ctx| {
            let result = job(ctx);
            let keep = result.is_ok();
            let reply: Reply = Box::new(move |committed| {
                let _ = tx.send(committed.map(|()| result));
            });
            (reply, keep)
        });
        self.jobs.send(job).map_err(|_| StorageError::WriterGone)?;
        match rx.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(StorageError::Sqlite(clone_sqlite_error(&e))),
            Err(_) => Err(StorageError::WriterGone),
        }
    }

    /// How many WAL frames the checkpointer thread's checkpoints have found copied, summed, and whether it
    /// has finished every pass it was rung for.
    #[cfg(test)]
    fn checkpointer_state(&self) -> (u64, bool) {
        lock(&self.checkpointer).as_ref().map_or((0, true), |(wake, _)| {
            let state = lock(&wake.state);
            let idle = !state.rung && wake.finished(state.started);
            (wake.copied.load(std::sync::atomic::Ordering::Relaxed), idle)
        })
    }

    /// Runs `f` on a read-only connection from the pool; each statement it runs is its own read transaction
    /// (right for one statement: a GetItem, a DescribeTable).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StorageError> {
        self.with_reader(f)
    }

    /// Runs `f` on a read-only connection from the pool, in one read transaction: everything `f` reads is one
    /// snapshot (a BatchGetItem's keys, a page's rows), and the locks a read transaction takes are taken
    /// once, not once per statement.
    pub fn read_snapshot<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        self.with_reader(|conn| in_read_transaction(conn, f))
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StorageError> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                if READER_MMAP_BYTES > 0 {
                    conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
                }
                conn
            }
        };
        let result = f(&conn);
        // A connection whose transaction could not be ended is not reused.
        if conn.is_autocommit() {
            lock(&self.readers).push(conn);
        }
        Ok(result?)
    }

    /// The database file (for `:memory:`, the temporary file standing in for it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the database is a throwaway one, deleted when dropped.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// A table's definition.
    pub fn table(&self, name: &str) -> Option<Arc<Table>> {
        read_lock(&self.catalog).get(name)
    }

    /// Every table's name, in order.
    pub fn table_names(&self) -> Vec<String> {
        read_lock(&self.catalog).names().cloned().collect()
    }

    /// Every table's definition.
    pub fn tables(&self) -> Vec<Arc<Table>> {
        read_lock(&self.catalog).tables().cloned().collect()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let (closed, _) = mpsc::unbounded_channel();
        self.jobs = closed;
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
        if let Some((wake, handle)) = lock(&self.checkpointer).take() {
            wake.close();
            let _ = handle.join();
        }
        lock(&self.readers).clear();
        if self.temporary {
            remove_database_files(&self.path);
        }
    }
}

/// Reads the database once: a connection learns that it is in WAL mode when it first reads it, and until
/// then its checkpoints do nothing and report `(-1, -1)`.
fn learn_wal_mode(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map(|_| ())
}

/// Deletes a database file and its WAL and shared-memory files, if present.
fn remove_database_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// What the writer's WAL hook decides after each commit, from the log's length then (its own state, so that
/// the decisions can be tested without threads or timing).
#[derive(Debug, Default)]
struct LogPolicy {
    /// The log's length at the last ring: the checkpointer is rung once per [`CHECKPOINT_FRAMES`] new
    /// pages, not at every commit past the first thousand (each pass syncs the files).
    rung_at: i32,
    /// The log's length at the last commit (shorter now means it started over).
    last_pages: i32,
    /// Past [`WRITER_CHECKPOINT_FRAMES`]: the checkpointer's pass after which the writer finishes the log.
    finish_after: Option<u64>,
}

impl LogPolicy {
    /// After a commit that left `pages` pages in the log: rings the checkpointer if it is due, and says
    /// whether the writer should checkpoint now.
    fn after_commit(&mut self, pages: i32, wake: &Wake) -> bool {
        if pages < self.last_pages {
            // The log started over (the writer finished it, or the checkpointer caught up while the writer
            // was idle).
            self.rung_at = 0;
            self.finish_after = None;
        }
        self.last_pages = pages;
        if pages >= WRITER_CHECKPOINT_FRAMES {
            // First one more pass of the checkpointer, beside the writer, so that the writer's own checkpoint
            // (which the writer waits for, syncs included) has only that pass's tail to copy.
            match self.finish_after {
                None => {
                    self.finish_after = Some(wake.ring());
                    false
                }
                Some(pass) => wake.finished(pass),
            }
        } else {
            if pages - self.rung_at >= CHECKPOINT_FRAMES {
                self.rung_at = pages;
                let _ = wake.ring();
            }
            false
        }
    }

    /// The writer's checkpoint ran (if readers kept it from finishing the log, the next commit past the
    /// bound asks for another pass first).
    fn checkpointed(&mut self) {
        self.finish_after = None;
    }
}

/// Wakes the checkpointer: a flag under a lock, so rings while it works are one more checkpoint, not many.
#[derive(Default)]
struct Wake {
    state: Mutex<WakeState>,
    bell: Condvar,
    /// Checkpoints the checkpointer has finished (passes are numbered from 1 in the order they start).
    done: std::sync::atomic::AtomicU64,
    /// WAL frames its checkpoints found copied, summed (0 if its checkpoints never run).
    copied: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct WakeState {
    rung: bool,
    closed: bool,
    /// Passes started.
    started: u64,
}

impl Wake {
    /// Rings; returns the number of the pass that will answer this ring (one that starts after it).
    fn ring(&self) -> u64 {
        let mut state = lock(&self.state);
        state.rung = true;
        let pass = state.started + 1;
        drop(state);
        self.bell.notify_one();
        pass
    }

    /// Whether pass `pass` has finished.
    fn finished(&self, pass: u64) -> bool {
        self.done.load(std::sync::atomic::Ordering::Acquire) >= pass
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.bell.notify_one();
    }

    /// Waits for a ring; false once closed.
    fn wait(&self) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return false;
            }
            if state.rung {
                state.rung = false;
                state.started += 1;
                return true;
            }
            state = self
                .bell
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// Copies the WAL into the database each time the writer rings, beside the writer (PASSIVE: it never
/// waits for the writer or for readers, and copies what it can).
fn run_checkpointer(conn: &Connection, db_file: Option<&std::fs::File>, wake: &Wake) {
    while wake.wait() {
        // Busy when the writer is checkpointing at the same moment; the writer's checkpoint bounds the log.
        match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            Ok((_, copied)) => {
                let copied = u64::try_from(copied).unwrap_or(0);
                wake.copied
                    .fetch_add(copied, std::sync::atomic::Ordering::Relaxed);
                // SQLite syncs the database file only when a checkpoint reaches the end of the log, which a
                // pass beside a busy writer never does; the writer's checkpoint would then sync every page
                // copied since its last one, while the writer waits. Synced here, it has only the tail.
                if let Some(file) = db_file.filter(|_| copied > 0) {
                    if let Err(error) = file.sync_data() {
                        tracing::debug!(%error, "background sync failed");
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "background checkpoint skipped"),
        }
        wake.done.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// Runs one cached statement that returns no rows (the group's `BEGIN`/`COMMIT` and each job's savepoint:
/// rusqlite's `Transaction` and `Savepoint` parse theirs anew each time, a few per cent of the writer's time
/// under PutItem).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// One group: `BEGIN IMMEDIATE`, each job in its own savepoint (released if it succeeded, rolled back if
/// not), the group's counter updates, `COMMIT`; on an error, `ROLLBACK`. Returns each job's reply.
fn run_group(
    conn: &Connection,
    group: &mut Vec<Job>,
    replies: &mut Vec<Reply>,
    catalog: &RwLock<Catalog>,
) -> rusqlite::Result<()> {
    // IMMEDIATE: the write lock is taken at BEGIN (waiting on the busy handler if need be). A DEFERRED group
    // whose first job reads before it writes had to upgrade its read snapshot to a write, and under S3
    // PutObject load (a SELECT of the current version, then INSERTs) about one group in 100,000 failed that
    // upgrade at once with "database is locked", failing every job in it.
    run_cached(conn, "BEGIN IMMEDIATE")?;
    let result = (|| {
        let mut counters: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for job in group.drain(..) {
            run_cached(conn, "SAVEPOINT job")?;
            let ctx = WriteCtx {
                conn,
                catalog,
                counters: RefCell::new(BTreeMap::new()),
            };
            let (reply, keep) = job(&ctx);
            replies.push(reply);
            if keep {
                for (table, (items, bytes)) in ctx.counters.into_inner() {
                    let entry = counters.entry(table).or_default();
                    entry.0 += items;
                    entry.1 += bytes;
                }
            } else {
                run_cached(conn, "ROLLBACK TO job")?;
            }
            run_cached(conn, "RELEASE job")?;
        }
        // One counter update per table per group, for all of its writes.
        for (table, (items, bytes)) in counters {
            items::add_to_counters(conn, table, items, bytes)?;
        }
        run_cached(conn, "COMMIT")
    })();
    if result.is_err() && !conn.is_autocommit() {
        if let Err(error) = run_cached(conn, "ROLLBACK") {
            tracing::error!(%error, "rollback of a failed group failed");
        }
    }
    result
}

fn run_writer(conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, catalog: Arc<RwLock<Catalog>>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(group.len());
        let outcome = run_group(&conn, &mut group, &mut replies, &catalog);
        let outcome = outcome.map_err(Arc::new);
        if outcome.is_err() {
            // The group is lost: the catalog may hold changes that were rolled back, so reload it.
            if let Ok(fresh) = load_catalog(&conn) {
                *write_lock(&catalog) = fresh;
            }
            tracing::error!(error = ?outcome, "group commit failed; its writes were not applied");
        }
        for reply in replies.drain(..) {
            reply(outcome.clone());
        }
        group.clear();
    }
}

fn load_catalog(conn: &Connection) -> Result<Catalog, StorageError> {
    let mut catalog = Catalog::default();
    let mut stmt = conn.prepare("SELECT name, meta FROM tables ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (name, meta) = row?;
        let meta: TableMeta = serde_json::from_str(&meta).map_err(|e| StorageError::CorruptCatalog {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let table = Table::from_meta(meta).map_err(|e| StorageError::CorruptCatalog {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        catalog.put(table);
    }
    Ok(catalog)
}

fn clone_sqlite_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => rusqlite::Error::SqliteFailure(*code, msg.clone()),
        other => rusqlite::Error::ToSqlConversionFailure(other.to_string().into()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write_lock<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of most of a page each, so that a row is a WAL frame.
    const ROW: usize = 3000;

    async fn write_rows(storage: &Storage, from: usize, to: usize) {
        storage
            .write(move |ctx| -> rusqlite::Result<()> {
                for i in from..to {
                    ctx.conn.execute(
                        "INSERT INTO counters (name, value) VALUES (?1, ?2)",
                        rusqlite::params![
                            format!("{i:08}{}", "x".repeat(ROW)),
                            i64::try_from(i).unwrap_or(0)
                        ],
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap()
            .unwrap();
    }

    /// The checkpointer's side of a ring, without its thread: takes the ring and finishes the pass.
    fn run_pass(wake: &Wake) {
        assert!(wake.wait());
        wake.done.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    #[test]
    fn the_writer_rings_every_thousand_pages_and_finishes_the_log_after_one_more_pass() {
        let wake = Wake::default();
        let rung = |wake: &Wake| lock(&wake.state).rung;
        let mut policy = LogPolicy::default();
        let c = CHECKPOINT_FRAMES;
        assert!(!policy.after_commit(c - 1, &wake));
        assert!(!rung(&wake));
        assert!(!policy.after_commit(c, &wake));
        assert!(rung(&wake), "rung at {c} pages");
        run_pass(&wake);
        assert!(!policy.after_commit(2 * c - 1, &wake));
        assert!(!rung(&wake), "not rung again before another {c} pages");
        assert!(!policy.after_commit(2 * c, &wake));
        assert!(rung(&wake));
        run_pass(&wake);

        // Past the bound: one ring, no checkpoint until the pass after it is done, then one at each commit
        // until a checkpoint runs (a busy one is retried).
        let w = WRITER_CHECKPOINT_FRAMES;
        assert!(!policy.after_commit(w, &wake));
        assert!(rung(&wake));
        assert!(!policy.after_commit(w + 10, &wake), "the pass has not run");
        run_pass(&wake);
        assert!(policy.after_commit(w + 20, &wake), "the pass is done");
        assert!(policy.after_commit(w + 30, &wake), "a busy checkpoint is retried");
        policy.checkpointed();
        // Readers kept that checkpoint from finishing the log: another pass first, then another checkpoint.
        assert!(!policy.after_commit(w + 40, &wake));
        assert!(rung(&wake));
        run_pass(&wake);
        assert!(policy.after_commit(w + 50, &wake));
        policy.checkpointed();

        // The log started over: rings are counted from its start again.
        assert!(!policy.after_commit(10, &wake));
        assert!(!rung(&wake));
        assert!(!policy.after_commit(c - 1, &wake));
        assert!(!rung(&wake));
        assert!(!policy.after_commit(c, &wake));
        assert!(rung(&wake));
        run_pass(&wake);

        // A pass already running when the writer passes the bound does not count: the one after it does.
        assert!(!policy.after_commit(2 * c, &wake));
        assert!(wake.wait()); // that ring's pass starts ...
        assert!(!policy.after_commit(w, &wake)); // ... the writer passes the bound and rings ...
        wake.done.fetch_add(1, std::sync::atomic::Ordering::Release); // ... the running pass ends
        assert!(!policy.after_commit(w + 10, &wake), "it started before the ring");
        run_pass(&wake);
        assert!(
            policy.after_commit(w + 20, &wake),
            "the pass the writer rang for is done"
        );
        policy.checkpointed();

        // The checkpointer caught up while the writer waited: the log started over, nothing is pending.
        let mut policy = LogPolicy::default();
        let wake = Wake::default();
        assert!(!policy.after_commit(w, &wake));
        assert!(!policy.after_commit(5, &wake));
        run_pass(&wake);
        assert!(!policy.after_commit(w, &wake), "a new round rings first");
    }

    /// The frames in `path`'s log now (a PASSIVE checkpoint from a new connection reports them).
    fn log_frames(path: &Path) -> i32 {
        let observer = Connection::open(path).unwrap();
        learn_wal_mode(&observer).unwrap();
        observer
            .wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE)
            .unwrap()
            .0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_copies_the_log_beside_the_writer() {
        let dir = std::env::temp_dir().join(format!("ddbrep-emu-checkpointer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let storage = Storage::open(&path, Durability::Process, 1).unwrap();
        let rows = usize::try_from(2 * CHECKPOINT_FRAMES).unwrap();
        // One commit: the writer rings once.
        write_rows(&storage, 0, rows).await;
        // Wait for the checkpointer to have copied frames and be idle (a condition, with a deadline). A
        // connection that has not read the database yet does not know it is in WAL mode, and its checkpoints
        // copy nothing: the checkpointer's once did not.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (copied, idle) = storage.checkpointer_state();
            if copied > 0 && idle {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the checkpointer copied {copied} frames"
            );
            std::thread::yield_now();
        }
        // It copied the whole log while the writer was idle, so the next commit starts the log over.
        write_rows(&storage, rows, rows + 10).await;
        let log = log_frames(&path);
        assert!((0..100).contains(&log), "the log holds {log} frames");
        drop(storage);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_a_steady_load_and_loses_nothing() {
        let dir = std::env::temp_dir().join(format!("ddbrep-emu-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        // Twice the writer's bound: past it, the writer finishes the log once the checkpointer's next pass is
        // done (or the checkpointer catches up between two commits), so the log starts over long before.
        let rows = usize::try_from(2 * WRITER_CHECKPOINT_FRAMES + 4 * CHECKPOINT_FRAMES).unwrap();
        let storage = Storage::open(&path, Durability::Process, 1).unwrap();
        for chunk in (0..rows).step_by(50) {
            write_rows(&storage, chunk, (chunk + 50).min(rows)).await;
        }
        // The log file keeps the longest log there was (it is reused from the start, not truncated).
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal_bytes = std::fs::metadata(&wal).unwrap().len();
        let bound = u64::try_from(2 * WRITER_CHECKPOINT_FRAMES).unwrap() * 4120;
        let written = u64::try_from(rows * ROW).unwrap();
        assert!(
            wal_bytes < bound,
            "the log holds {wal_bytes} bytes ({written} written)"
        );
        let count = |storage: &Storage| {
            storage
                .read(|c| {
                    c.query_row("SELECT COUNT(*) FROM counters WHERE length(name) > 8", [], |r| {
                        r.get::<_, i64>(0)
                    })
                })
                .unwrap()
        };
        assert_eq!(count(&storage), i64::try_from(rows).unwrap());
        drop(storage);
        let reopened = Storage::open(&path, Durability::Process, 1).unwrap();
        assert_eq!(count(&reopened), i64::try_from(rows).unwrap());
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
