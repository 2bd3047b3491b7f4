//! Filesystem tier: one self-checking file per key (see `entry.rs`), named by the SHA-256 of
//! the key, so no key (`../`, NUL, anything) becomes a path. Writes go to a temp file that is
//! fsynced and renamed over the target: a reader sees the old entry or the new one, never a
//! mix, and a writer killed mid-way leaves only a temp file (an orphan `validate` reports).
//! Each entry file is its own manifest record (key, times, SHA-256), so there is no shared
//! index for concurrent writers to tear.

use super::clock::Clock;
use super::entry::{self, Corrupt, Entry};
use super::key::sha256_hex;
use super::stats::TierCounters;
use crate::error::{Error, Result};
use serde::Serialize;
use std::fs;
use std::io::{ErrorKind as IoKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

const ENTRIES: &str = "v1";
const TMP: &str = "tmp";
/// Temp files younger than this may belong to a live writer: not orphans yet.
const ORPHAN_AGE_MS: u64 = 60_000;
/// Numbers temp files across every tier of the process: two caches on one directory in one
/// process (two clients) must never write the same temp file (one counter per tier did, and
/// interleaved writes left a damaged entry).
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

pub struct FsTier {
    root: PathBuf,
    clock: Arc<dyn Clock>,
    pub counters: Arc<TierCounters>,
}

/// What `validate` found; `purge` reports the same counts for what it removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FsReport {
    pub entries: u64,
    pub valid: u64,
    pub corrupt: u64,
    pub expired: u64,
    pub orphaned: u64,
    pub bytes: u64,
}

/// One file under the root, classified.
pub enum Found {
    Valid {
        key: String,
        entry: Entry,
    },
    Expired {
        key: String,
    },
    Corrupt,
    /// A temp file left by a killed writer, or an entry filed under the wrong name.
    Orphan,
}

impl FsTier {
    pub fn new(root: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Result<FsTier> {
        let root = root.into();
        for dir in [ENTRIES, TMP] {
            fs::create_dir_all(root.join(dir)).map_err(|e| Error::io("cache.filesystem", e))?;
        }
        Ok(FsTier {
            root,
            clock,
            counters: Arc::new(TierCounters::default()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_for(&self, key: &str) -> PathBuf {
        let hex = sha256_hex(key.as_bytes());
        self.root.join(ENTRIES).join(&hex[..2]).join(&hex)
    }

    /// A miss on absence, expiry, damage or an I/O error; damaged files are removed.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let started = self.counters.timer();
        let path = self.path_for(key);
        let found = match fs::read(&path) {
            Ok(bytes) => match entry::decode_for(key, &bytes) {
                Ok(e) if e.is_expired(self.clock.now_ms()) => None,
                Ok(e) => Some(e),
                Err(Corrupt::Damaged | Corrupt::OtherKey) => {
                    TierCounters::add(&self.counters.corrupt, 1);
                    let _ = fs::remove_file(&path);
                    None
                }
            },
            Err(e) if e.kind() == IoKind::NotFound => None,
            Err(e) => {
                TierCounters::add(&self.counters.errors, 1);
                tracing::warn!(
                    trinity.cache.tier = "fs",
                    "cache tier fs failed to read: {e}"
                );
                None
            }
        };
        self.counters.lookup(started, found.is_some());
        found
    }

    pub fn put(&self, key: &str, e: &Entry) -> Result<()> {
        let bytes = entry::encode(key, e);
        let target = self.path_for(key);
        let result = self.write_atomic(&target, &bytes);
        match &result {
            Ok(()) => {
                TierCounters::add(&self.counters.writes, 1);
                TierCounters::add(&self.counters.bytes, bytes.len() as u64);
            }
            Err(e) => {
                TierCounters::add(&self.counters.errors, 1);
                tracing::warn!(
                    trinity.cache.tier = "fs",
                    "cache tier fs failed to write: {e}"
                );
            }
        }
        result
    }

    fn write_atomic(&self, target: &Path, bytes: &[u8]) -> Result<()> {
        let io = |e| Error::io("cache.filesystem", e);
        let tmp = self.root.join(TMP).join(format!(
            "{}.{}.{}.{}",
            target.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
            std::process::id(),
            TMP_SEQ.fetch_add(1, Relaxed),
            self.clock.now_ms()
        ));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir)?;
            }
            fs::rename(&tmp, target)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io(e)
        })
    }

    pub fn remove(&self, key: &str) {
        let _ = fs::remove_file(self.path_for(key));
    }

    /// Visits every file under the root; `f` gets its path, size and classification.
    pub fn scan(&self, mut f: impl FnMut(&Path, u64, Found)) -> Result<()> {
        let now = self.clock.now_ms();
        let io = |e| Error::io("cache.filesystem", e);
        for shard in fs::read_dir(self.root.join(ENTRIES)).map_err(io)? {
            let shard = shard.map_err(io)?.path();
            let Ok(files) = fs::read_dir(&shard) else {
                f(&shard, 0, Found::Orphan);
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                let bytes = fs::read(&path).unwrap_or_default();
                let size = bytes.len() as u64;
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let found = match entry::decode(&bytes) {
                    Err(_) => Found::Corrupt,
                    Ok((key, _)) if sha256_hex(key.as_bytes()) != name => Found::Orphan,
                    Ok((key, e)) if e.is_expired(now) => Found::Expired { key },
                    Ok((key, entry)) => Found::Valid { key, entry },
                };
                f(&path, size, found);
            }
        }
        for tmp in fs::read_dir(self.root.join(TMP)).map_err(io)?.flatten() {
            let meta = tmp.metadata().ok();
            let modified_ms = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64);
            let age_ms = now.saturating_sub(modified_ms);
            if age_ms >= ORPHAN_AGE_MS {
                f(&tmp.path(), meta.map_or(0, |m| m.len()), Found::Orphan);
            }
        }
        Ok(())
    }

    /// Counts entries by state without changing anything.
    pub fn validate(&self) -> Result<FsReport> {
        let mut r = FsReport::default();
        self.scan(|_, size, found| {
            r.bytes += size;
            match found {
                Found::Valid { .. } => {
                    r.entries += 1;
                    r.valid += 1
                }
                Found::Expired { .. } => {
                    r.entries += 1;
                    r.expired += 1
                }
                Found::Corrupt => {
                    r.entries += 1;
                    r.corrupt += 1
                }
                Found::Orphan => r.orphaned += 1,
            }
        })?;
        Ok(r)
    }

    /// Removes the files `doomed` picks (corrupt and orphaned ones always go); returns counts
    /// of what was removed.
    pub fn purge(&self, doomed: impl Fn(&Found) -> bool) -> Result<FsReport> {
        let mut r = FsReport::default();
        self.scan(|path, size, found| {
            let always = matches!(found, Found::Corrupt | Found::Orphan);
            if !(always || doomed(&found)) || remove_path(path).is_err() {
                return;
            }
            r.bytes += size;
            match found {
                Found::Valid { .. } => r.valid += 1,
                Found::Expired { .. } => r.expired += 1,
                Found::Corrupt => r.corrupt += 1,
                Found::Orphan => r.orphaned += 1,
            }
            r.entries += u64::from(!matches!(found, Found::Orphan));
        })?;
        Ok(r)
    }
}

fn remove_path(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}
