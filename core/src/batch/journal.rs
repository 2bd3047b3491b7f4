//! The journal, `OUTPUT.journal`: append-only, one checksummed line per finished request
//! (`crc32 json\n`), after a first line holding the run's manifest. Lines are written whole and
//! synced in groups; a request counts as done only once its line is on disk. A reader keeps the
//! lines up to the first one that is torn or fails its checksum (what a crash mid-write leaves)
//! and drops the rest, and a resumed run truncates the file there before appending.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One finished request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Our request id (the request log's), for `--trace-ids`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    pub attempts: u32,
    /// The error code of a failed request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the journal held: its manifest, its records, and where its valid part ends.
#[derive(Debug)]
pub struct Contents {
    pub manifest: Value,
    pub records: Vec<Record>,
    pub valid_len: u64,
    /// Bytes past `valid_len` (a torn or corrupt tail), dropped on resume.
    pub dropped_bytes: u64,
}

pub fn path_for(output: &Path) -> PathBuf {
    super::sibling(output, "journal")
}

fn line(json: &str) -> String {
    format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes()))
}

/// The JSON of a checksummed line, if the line is whole and its checksum holds.
fn checked(text: &str) -> Option<&str> {
    let body = text.strip_suffix('\n')?;
    let (crc, json) = body.split_once(' ')?;
    let want = u32::from_str_radix(crc, 16).ok()?;
    (crc.len() == 8 && crc32fast::hash(json.as_bytes()) == want).then_some(json)
}

/// Reads a journal, keeping its valid prefix. `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Contents>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path.display().to_string(), e)),
    };
    let mut manifest = None;
    let mut records = Vec::new();
    let mut valid = 0usize;
    for piece in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(json) = std::str::from_utf8(piece).ok().and_then(checked) else {
            break;
        };
        if manifest.is_none() {
            match serde_json::from_str::<Value>(json) {
                Ok(v) if v.get("trinity_batch").is_some() => manifest = Some(v),
                _ => break,
            }
        } else {
            match serde_json::from_str::<Record>(json) {
                Ok(r) => records.push(r),
                Err(_) => break,
            }
        }
        valid += piece.len();
    }
    let Some(manifest) = manifest else {
        return Err(Error::invalid_input(format!(
            "{}: not a batch journal (no valid manifest line)",
            path.display()
        )));
    };
    Ok(Some(Contents {
        manifest,
        records,
        valid_len: valid as u64,
        dropped_bytes: (bytes.len() - valid) as u64,
    }))
}

/// The journal being written.
pub struct Writer {
    file: std::fs::File,
    /// The same open file, for syncing off the writer's thread.
    sync: std::sync::Arc<std::fs::File>,
    path: PathBuf,
    pending: String,
}

impl Writer {
    /// A new journal holding `manifest` (written, synced, then renamed into place).
    pub fn create(path: &Path, manifest: &Value) -> Result<Writer> {
        let io = |e| Error::io(&path.display().to_string(), e);
        let tmp = super::sibling(path, "tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(line(&manifest.to_string()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        super::sync_dir(path);
        Writer::append(path, None)
    }

    /// Appends to an existing journal, first cutting it to `valid_len` when given.
    pub fn append(path: &Path, valid_len: Option<u64>) -> Result<Writer> {
        let io = |e| Error::io(&path.display().to_string(), e);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io)?;
        if let Some(len) = valid_len {
            file.set_len(len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let sync = std::sync::Arc::new(file.try_clone().map_err(io)?);
        let mut w = Writer {
            file,
            sync,
            path: path.to_path_buf(),
            pending: String::new(),
        };
        use std::io::Seek;
        w.file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        Ok(w)
    }

    pub fn push(&mut self, r: &Record) {
        self.pending
            .push_str(&line(&serde_json::to_string(r).expect("plain data")));
    }

    /// Writes half of what was pushed (the crash tests' torn journal line).
    pub(crate) fn write_torn(&mut self) {
        let half = self.pending.len() / 2;
        let _ = self.file.write_all(&self.pending.as_bytes()[..half]);
    }

    /// Writes and syncs what was pushed. A sync that fails is never retried (the kernel may
    /// have dropped the pages and would report success next time): the run stops.
    pub async fn commit(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.path.display().to_string();
        let io = |e| Error::io(&path, e);
        self.file.write_all(self.pending.as_bytes()).map_err(io)?;
        super::sync_data(&self.sync).await.map_err(io)?;
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_or_corrupt_tail_is_dropped() {
        let dir = std::env::temp_dir().join(format!("trinity-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.journal");
        let mut w = Writer::create(&path, &serde_json::json!({"trinity_batch": 1})).unwrap();
        for i in 0..3 {
            w.push(&Record {
                id: format!("r{i}"),
                ok: true,
                cost_usd: Some(0.5),
                request_id: "x".into(),
                attempts: 1,
                error: None,
            });
        }
        crate::rt::block_on(w.commit()).unwrap();
        let whole = std::fs::read(&path).unwrap();
        // Torn: the last line cut in half.
        std::fs::write(&path, &whole[..whole.len() - 7]).unwrap();
        let c = read(&path).unwrap().unwrap();
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.valid_len + c.dropped_bytes, whole.len() as u64 - 7);
        // Corrupt: one byte of the second record flipped; it and what follows go.
        let mut bad = whole.clone();
        let second = whole
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(1)
            .unwrap()
            .0
            + 20;
        bad[second] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(read(&path).unwrap().unwrap().records.len(), 1);
        // Appending after the cut leaves a journal that reads whole.
        let c = read(&path).unwrap().unwrap();
        let mut w = Writer::append(&path, Some(c.valid_len)).unwrap();
        w.push(&Record {
            id: "r9".into(),
            ok: false,
            cost_usd: None,
            request_id: String::new(),
            attempts: 2,
            error: Some("provider".into()),
        });
        crate::rt::block_on(w.commit()).unwrap();
        let c = read(&path).unwrap().unwrap();
        assert_eq!(
            c.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r0", "r9"]
        );
        assert_eq!(c.dropped_bytes, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
