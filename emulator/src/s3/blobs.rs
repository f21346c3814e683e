//! Object bodies as files beside the database: `<db>.objects/<32 hex>`, one file per object body or
//! multipart part.
//!
//! # Durability
//! A body is written to a fresh file, flushed (and, with `Durability::Power`, fsynced with its directory)
//! before the metadata that names it is committed, so an object is visible only once its bytes are in place,
//! and an acknowledged object (metadata committed) has its bytes. Files are never renamed or rewritten; a
//! file is garbage when no row names it: after a crash mid-upload, or between a commit that orphaned it and
//! its deletion. [`BlobStore::sweep`] deletes those when the emulator starts, before it serves.
//!
//! # Names
//! Names come from the injected `Rng` and are created with `O_EXCL`, so a seeded run reusing a directory
//! after a restart never overwrites a live file.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::clock::Rng;
use crate::storage::Durability;

/// How many bytes one read of a body file hands to the response.
const READ_CHUNK: usize = 256 * 1024;

/// The directory of body files and how durable a write to it is.
#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    durability: Durability,
    temporary: bool,
    rng: Arc<Rng>,
}

impl BlobStore {
    /// Opens (creating) the body directory of the database at `db`. A temporary database's directory is
    /// removed when the store is dropped.
    pub fn open(db: &Path, temporary: bool, durability: Durability, rng: Arc<Rng>) -> io::Result<BlobStore> {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".objects");
        let dir = PathBuf::from(dir);
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir)?;
        Ok(BlobStore {
            dir,
            durability,
            temporary,
            rng,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Deletes every file no row names (`keep`). Call once at startup, before serving.
    pub fn sweep(&self, keep: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Creates a new, empty body file.
    pub async fn create(&self) -> io::Result<BlobWriter> {
        loop {
            let name = format!("{:016x}{:016x}", self.rng.next_u64(), self.rng.next_u64());
            let path = self.dir.join(&name);
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(file) => {
                    return Ok(BlobWriter {
                        name,
                        path,
                        file: Some(file),
                        durability: self.durability,
                        dir: self.dir.clone(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Deletes body files (after the commit that orphaned them). Failures are logged: the startup sweep
    /// catches what is left.
    pub fn remove(&self, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            for name in names {
                if let Err(e) = std::fs::remove_file(dir.join(&name)) {
                    tracing::debug!(file = %name, error = %e, "could not delete a body file");
                }
            }
        });
    }

    /// Streams `len` bytes of the files `files` (name, length) starting at byte `start` of their
    /// concatenation, in chunks, through a bounded channel: memory stays flat whatever the size.
    pub fn read_range(
        &self,
        files: Vec<(String, u64)>,
        start: u64,
        len: u64,
    ) -> tokio::sync::mpsc::Receiver<io::Result<Bytes>> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let dir = self.dir.clone();
        tokio::spawn(async move {
            if let Err(e) = send_range(&dir, &files, start, len, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }
}

impl Drop for BlobStore {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn send_range(
    dir: &Path,
    files: &[(String, u64)],
    mut start: u64,
    mut len: u64,
    tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    for (name, size) in files {
        if len == 0 {
            break;
        }
        if start >= *size {
            start -= size;
            continue;
        }
        let mut file = tokio::fs::File::open(dir.join(name)).await?;
        file.seek(io::SeekFrom::Start(start)).await?;
        let mut left_in_file = (size - start).min(len);
        start = 0;
        while left_in_file > 0 {
            let want = usize::try_from(left_in_file)
                .unwrap_or(READ_CHUNK)
                .min(READ_CHUNK);
            let mut buf = BytesMut::zeroed(want);
            let mut filled = 0;
            while filled < want {
                let n = file.read(&mut buf[filled..]).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("body file {name} is shorter than recorded"),
                    ));
                }
                filled += n;
            }
            left_in_file -= want as u64;
            len -= want as u64;
            if tx.send(Ok(buf.freeze())).await.is_err() {
                return Ok(()); // the client went away
            }
        }
    }
    Ok(())
}

/// A body file being written. Dropping it unfinished deletes the file.
#[derive(Debug)]
pub struct BlobWriter {
    name: String,
    path: PathBuf,
    file: Option<tokio::fs::File>,
    durability: Durability,
    dir: PathBuf,
}

impl BlobWriter {
    /// The file's name (what the metadata records).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends bytes.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.write_all(data).await,
            None => Err(io::Error::other("body file already finished")),
        }
    }

    /// Makes the bytes durable (as durable as a commit): flushed to the OS, which survives a crash of the
    /// process; fsynced with the directory entry under `Durability::Power`. Returns the file's name; from
    /// here the caller owns the file (a row must name it, or the startup sweep removes it).
    pub async fn finish(mut self) -> io::Result<String> {
        let Some(mut file) = self.file.take() else {
            return Err(io::Error::other("body file already finished"));
        };
        file.flush().await?;
        if self.durability == Durability::Power {
            file.sync_all().await?;
            let dir = self.dir.clone();
            tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
                .await
                .map_err(io::Error::other)??;
        }
        drop(file);
        Ok(std::mem::take(&mut self.name))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
