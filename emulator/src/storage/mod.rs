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
use std::sync::{Arc, Mutex, RwLock};

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

/// The most jobs one group transaction takes.
const MAX_GROUP: usize = 1024;

/// The database: writer, readers, catalog.
pub struct Storage {
    jobs: mpsc::UnboundedSender<Job>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    catalog: Arc<RwLock<Catalog>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// A throwaway database file to delete on drop (`:memory:`).
    temporary: bool,
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

    /// Runs `f` on a read-only connection from the pool.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StorageError> {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                conn
            }
        };
        let result = f(&conn);
        lock(&self.readers).push(conn);
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
        lock(&self.readers).clear();
        if self.temporary {
            remove_database_files(&self.path);
        }
    }
}

/// Deletes a database file and its WAL and shared-memory files, if present.
fn remove_database_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

fn run_writer(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, catalog: Arc<RwLock<Catalog>>) {
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
        let outcome = (|| -> rusqlite::Result<()> {
            let mut tx = conn.transaction()?;
            let mut counters: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
            for job in group.drain(..) {
                let sp = tx.savepoint()?;
                let ctx = WriteCtx {
                    conn: &sp,
                    catalog: &catalog,
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
                    sp.commit()?;
                } else {
                    sp.finish()?; // rolls back (savepoints roll back by default when not committed)
                }
            }
            // One counter update per table per group, for all of its writes.
            for (table, (items, bytes)) in counters {
                items::add_to_counters(&tx, table, items, bytes)?;
            }
            tx.commit()
        })();
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
