//! The spend ledger: an append-only file of JSON lines, one per amount of money spent, read
//! back on start so a restarted process keeps the day's and the month's spend.
//!
//! A line is `{"v":1,"day":"2026-12-03","ts":1796342399000,"nano":1234,"user":"alice","sum":"…"}`
//! where `sum` is the first 16 hex digits (64 bits) of the SHA-256 of the line without its
//! `,"sum":"…"` field (the bytes from `{` to the `}` that follows `user`, or `nano` without a
//! user). The reader checks the sum on the bytes as written, before parsing, so a torn or
//! damaged line is skipped and counted, never misread. `day` is the window the spend belongs
//! to (the day the call was reserved in), `ts` when it was written (Unix ms).
//!
//! Durability: each record is one `write(2)` on a file opened with `O_APPEND`, so a record the
//! process returned from survives the process being killed, and several processes may share
//! one ledger (appends of a short line do not interleave on a local filesystem). `fdatasync`
//! runs in groups on a background thread: at most [`SYNC_EVERY`] after the first unsynced
//! record, or as soon as [`SYNC_BATCH`] records wait; [`Ledger::sync`] forces it and dropping
//! the ledger syncs. A power loss can lose at most that last group.
//!
//! A file that does not end with a newline (a writer died mid-line) gets one before our first
//! record, so a torn tail never swallows the next good line.
//!
//! Old windows are not compacted: reading back skips them (one pass over the file at start).

use super::budget::window;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The longest a written record waits for its `fdatasync`.
pub const SYNC_EVERY: Duration = Duration::from_millis(100);
/// This many unsynced records trigger an `fdatasync` at once.
pub const SYNC_BATCH: u64 = 256;

/// One amount of money spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRecord {
    /// The day window (days since 1970-01-01, UTC) the spend is charged to.
    pub day: u32,
    /// When it was written, Unix ms.
    pub ts_ms: u64,
    pub nano: u64,
    pub user: Option<String>,
}

impl LedgerRecord {
    /// The line as written, with its checksum and the newline.
    pub fn to_line(&self) -> String {
        let mut body = format!(
            "{{\"v\":1,\"day\":\"{}\",\"ts\":{},\"nano\":{}",
            window::day_label(self.day),
            self.ts_ms,
            self.nano
        );
        if let Some(user) = &self.user {
            body.push_str(",\"user\":");
            body.push_str(&serde_json::to_string(user).expect("a string serializes"));
        }
        body.push('}');
        let sum = checksum(body.as_bytes());
        body.pop();
        body.push_str(",\"sum\":\"");
        body.push_str(&sum);
        body.push_str("\"}\n");
        body
    }

    /// Parses one line (without its newline); `None` unless the checksum verifies and the body
    /// is a well-formed record.
    pub fn from_line(line: &[u8]) -> Option<LedgerRecord> {
        const SUM: &[u8] = b",\"sum\":\"";
        // `,"sum":"` + 16 hex digits + `"}`
        let tail = SUM.len() + 16 + 2;
        if line.len() < tail + 2 || !line.ends_with(b"\"}") {
            return None;
        }
        let at = line.len() - tail;
        if &line[at..at + SUM.len()] != SUM {
            return None;
        }
        let sum = std::str::from_utf8(&line[at + SUM.len()..line.len() - 2]).ok()?;
        let mut body = line[..at].to_vec();
        body.push(b'}');
        if checksum(&body) != sum {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        if v.get("v")?.as_u64()? != 1 {
            return None;
        }
        Some(LedgerRecord {
            day: parse_day(v.get("day")?.as_str()?)?,
            ts_ms: v.get("ts")?.as_u64()?,
            nano: v.get("nano")?.as_u64()?,
            user: match v.get("user") {
                None => None,
                Some(u) => Some(u.as_str()?.to_string()),
            },
        })
    }
}

fn checksum(body: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(body)[..8])
}

fn parse_day(label: &str) -> Option<u32> {
    let mut parts = label.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    let days = window::days_from_civil(y, m, d);
    // Reject dates like 2026-02-31 (they would round-trip to another day).
    (window::day_label(days as u32) == label).then_some(days as u32)
}

/// What reading a ledger found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerReadBack {
    pub records: Vec<LedgerRecord>,
    /// Lines whose checksum or shape did not verify (skipped).
    pub corrupt: u64,
    /// 1 when the file ends in a line without a newline (a writer died mid-line; skipped).
    pub torn_tail: u64,
}

/// Reads every verified record of a ledger; a missing file is an empty ledger.
pub fn read(path: &Path) -> Result<LedgerReadBack> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(ledger_io(path, e)),
    };
    let mut out = LedgerReadBack::default();
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        if line.is_empty() {
            continue;
        }
        if last {
            // No newline after it: the record was being written when the writer stopped.
            out.torn_tail += 1;
            continue;
        }
        match LedgerRecord::from_line(line) {
            Some(r) => out.records.push(r),
            None => out.corrupt += 1,
        }
    }
    Ok(out)
}

struct Shared {
    file: File,
    /// Records written and not yet synced.
    pending: AtomicU64,
    /// true: stop the syncer.
    state: Mutex<bool>,
    wake: Condvar,
    sync_errors: AtomicU64,
}

/// An open ledger: appends records, syncs them in groups.
pub struct Ledger {
    path: PathBuf,
    shared: Arc<Shared>,
    syncer: Option<std::thread::JoinHandle<()>>,
    written: AtomicU64,
}

impl Ledger {
    /// Opens (creating) the ledger for appending and starts its syncer thread.
    pub fn open(path: impl Into<PathBuf>) -> Result<Ledger> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ledger_io(&path, e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| ledger_io(&path, e))?;
        // A torn last line gets its newline, so our first record starts a line of its own.
        let len = file.metadata().map_err(|e| ledger_io(&path, e))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| ledger_io(&path, e))?;
            if last[0] != b'\n' {
                (&file).write_all(b"\n").map_err(|e| ledger_io(&path, e))?;
            }
        }
        let shared = Arc::new(Shared {
            file,
            pending: AtomicU64::new(0),
            state: Mutex::new(false),
            wake: Condvar::new(),
            sync_errors: AtomicU64::new(0),
        });
        let s = shared.clone();
        let syncer = std::thread::Builder::new()
            .name("trinity-ledger".into())
            .spawn(move || sync_loop(&s))
            .map_err(|e| ledger_io(&path, e))?;
        Ok(Ledger {
            path,
            shared,
            syncer: Some(syncer),
            written: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (one `write(2)`); its `fdatasync` follows within [`SYNC_EVERY`].
    pub fn append(&self, record: &LedgerRecord) -> Result<()> {
        let line = record.to_line();
        let mut f = &self.shared.file;
        f.write_all(line.as_bytes())
            .map_err(|e| ledger_io(&self.path, e))?;
        self.written.fetch_add(1, Ordering::Relaxed);
        let pending = self.shared.pending.fetch_add(1, Ordering::AcqRel) + 1;
        if pending == 1 || pending >= SYNC_BATCH {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// `fdatasync` now: every record appended before the call is durable when it returns.
    pub fn sync(&self) -> Result<()> {
        self.shared.pending.store(0, Ordering::Release);
        self.shared
            .file
            .sync_data()
            .map_err(|e| ledger_io(&self.path, e))
    }

    /// Records appended by this handle.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Background `fdatasync` calls that failed (the next group retries).
    pub fn sync_errors(&self) -> u64 {
        self.shared.sync_errors.load(Ordering::Relaxed)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        *self.shared.state.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.syncer.take() {
            let _ = t.join();
        }
        let _ = self.shared.file.sync_data();
    }
}

/// Waits for a first unsynced record, gives the group up to `SYNC_EVERY` (or `SYNC_BATCH`
/// records) to fill, then syncs it.
fn sync_loop(s: &Shared) {
    let mut stop = s.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if *stop {
            return;
        }
        if s.pending.load(Ordering::Acquire) == 0 {
            stop = s.wake.wait(stop).unwrap_or_else(|p| p.into_inner());
            continue;
        }
        let (guard, _) = s
            .wake
            .wait_timeout_while(stop, SYNC_EVERY, |stop| {
                !*stop && s.pending.load(Ordering::Acquire) < SYNC_BATCH
            })
            .unwrap_or_else(|p| p.into_inner());
        drop(guard);
        s.pending.store(0, Ordering::Release);
        if s.file.sync_data().is_err() {
            s.sync_errors.fetch_add(1, Ordering::Relaxed);
        }
        stop = s.state.lock().unwrap_or_else(|p| p.into_inner());
    }
}

fn ledger_io(path: &Path, e: std::io::Error) -> Error {
    Error::io(&format!("budget.ledger_path {}", path.display()), e)
        .with_details(serde_json::json!({ "path": "budget.ledger_path" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(nano: u64, user: Option<&str>) -> LedgerRecord {
        LedgerRecord {
            day: window::day_of(window::unix_s(2026, 12, 3, 12, 0, 0)),
            ts_ms: 1_796_342_399_000,
            nano,
            user: user.map(str::to_string),
        }
    }

    #[test]
    fn lines_round_trip_and_carry_their_checksum() {
        for r in [
            rec(1, None),
            rec(u64::MAX, Some("alice")),
            rec(7, Some("we\"ird\n,\"sum\":\"x")),
        ] {
            let line = r.to_line();
            assert!(line.ends_with("\"}\n") && line.matches('\n').count() == 1);
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["day"], "2026-12-03");
            assert_eq!(v["sum"].as_str().unwrap().len(), 16);
            assert_eq!(
                LedgerRecord::from_line(line.trim_end().as_bytes()),
                Some(r.clone())
            );
        }
    }

    #[test]
    fn every_damaged_line_is_rejected() {
        let line = rec(123_456, Some("bob")).to_line();
        let line = line.trim_end().as_bytes();
        // Every truncation and every single-byte change fails verification.
        for cut in 0..line.len() {
            assert_eq!(LedgerRecord::from_line(&line[..cut]), None, "cut at {cut}");
        }
        for i in 0..line.len() {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut bad = line.to_vec();
                bad[i] ^= flip;
                assert_eq!(LedgerRecord::from_line(&bad), None, "byte {i} ^ {flip:#x}");
            }
        }
        assert_eq!(parse_day("2026-02-31"), None);
        assert_eq!(parse_day("2026-12-03"), Some(20_790));
    }

    #[test]
    fn torn_tail_and_corrupt_lines_are_counted_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ledger.jsonl");
        {
            let l = Ledger::open(&path).unwrap();
            for i in 1..=3 {
                l.append(&rec(i, None)).unwrap();
            }
            l.sync().unwrap();
        }
        let good = std::fs::read(&path).unwrap();
        // A damaged middle line and a torn tail.
        let mut bytes = good.clone();
        let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 10;
        bytes[second] = b'X';
        bytes.extend_from_slice(&rec(9, None).to_line().as_bytes()[..30]);
        std::fs::write(&path, &bytes).unwrap();
        let r = read(&path).unwrap();
        assert_eq!(
            r.records.iter().map(|r| r.nano).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!((r.corrupt, r.torn_tail), (1, 1));
        // Reopening newline-terminates the torn tail: the next record reads back.
        {
            let l = Ledger::open(&path).unwrap();
            l.append(&rec(4, None)).unwrap();
        }
        let r = read(&path).unwrap();
        assert_eq!(
            r.records.iter().map(|r| r.nano).collect::<Vec<_>>(),
            vec![1, 3, 4]
        );
        assert_eq!((r.corrupt, r.torn_tail), (2, 0));
        assert_eq!(
            read(&dir.path().join("none")).unwrap(),
            LedgerReadBack::default()
        );
    }

    #[test]
    fn groups_are_synced_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path().join("l")).unwrap();
        for i in 0..1000 {
            l.append(&rec(i, Some("u"))).unwrap();
        }
        // No timed assertion: the syncer drains the pending count by itself.
        while l.shared.pending.load(Ordering::Acquire) != 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(l.written(), 1000);
        assert_eq!(l.sync_errors(), 0);
        drop(l);
        assert_eq!(read(&dir.path().join("l")).unwrap().records.len(), 1000);
    }
}
