//! One run at a time per output: an exclusive advisory lock (`flock`) on `OUTPUT.lock`, held
//! while the run goes. Two runs appending to one journal and part file would send requests
//! twice and interleave their lines. The kernel drops the lock when its process dies: the file
//! a SIGKILLed run leaves is harmless, and the next run takes the lock at once.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The lock, released and its file removed when dropped.
#[derive(Debug)]
pub struct RunLock {
    // Held open: closing the file releases the lock.
    file: File,
    path: PathBuf,
}

/// Takes the lock for `output`, or `invalid_input` (`details.reason: "locked"`, with the
/// holder's pid) when another run holds it.
pub fn acquire(output: &Path) -> Result<RunLock> {
    let path = super::sibling(output, "lock");
    let io = |e| Error::io(&path.display().to_string(), e);
    loop {
        let opened = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path);
        let mut file = match opened {
            Ok(f) => f,
            // Name what the caller gave, not the lock file they never named.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::io(
                    &format!("the directory of {}", output.display()),
                    e,
                ))
            }
            Err(e) => return Err(io(e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim().parse::<u32>().ok();
                return Err(Error::invalid_input(format!(
                    "another run{} is writing {}: wait for it to end or choose another output",
                    holder.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                    output.display()
                ))
                .with_details(serde_json::json!({
                    "reason": "locked",
                    "path": path.display().to_string(),
                    "pid": holder,
                })));
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // The run before us may have removed the file between our open and our lock: hold the
        // lock of the file the path names now, or try again.
        if names(&path, &file) {
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .map_err(io)?;
            return Ok(RunLock { file, path });
        }
    }
}

/// Whether `path` names `file` (and not a file made in its place since).
fn names(path: &Path, file: &File) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held (the file closes after this), so no run can lock it between;
        // only if it is still ours (someone may have deleted it and a new run made another).
        if names(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
