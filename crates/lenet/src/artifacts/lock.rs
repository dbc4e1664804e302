//! One writer per run folder: `run.lock`, locked for the whole run by the OS's advisory file
//! lock (std's [`File::try_lock`], `flock(2)` on Linux, `LockFileEx` on Windows; on NFS Linux
//! turns it into a POSIX lock the server arbitrates between machines).
//!
//! The OS releases the lock when its process ends, however it ends (`kill -9`, a crash, a
//! machine's lease expiring on NFS), so a lock left by a dead process is never in the way: the
//! next run takes it and is told whose it was. The file holds the holder's pid, host and start
//! time, for the message a refused run prints; it stays in the folder (deleting a lock file
//! another process may have open would let two processes hold two different files).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{LenetError, Result};

/// The lock file inside a run folder.
pub const LOCK_FILE: &str = "run.lock";

/// The lock of a run folder, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// Who held the lock last without releasing it cleanly (a process that died), if anyone.
    pub taken_over: Option<String>,
}

impl RunLock {
    /// Takes the lock of the run folder `dir` (created if missing), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| LenetError::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LenetError::io(&path, e))?;
        // The holder writes its line just after it locks, and empties it just before it lets
        // go: a refusal looks a few times (at most ~0.2 s) for a line to name, or for the lock.
        let mut attempts = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = holder(&mut file);
                    attempts += 1;
                    if !holder.is_empty() || attempts == 20 {
                        return Err(LenetError::Busy {
                            dir: dir.to_path_buf(),
                            holder: if holder.is_empty() {
                                "a process that is starting or ending".into()
                            } else {
                                holder
                            },
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(LenetError::io(&path, e)),
            }
        }
        let previous = holder(&mut file);
        let mut lock = Self {
            file,
            path,
            taken_over: (!previous.is_empty()).then_some(previous),
        };
        lock.write_holder(&describe_this_process())
            .map_err(|e| LenetError::io(&lock.path, e))?;
        Ok(lock)
    }

    fn write_holder(&mut self, text: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_all()
    }
}

impl Drop for RunLock {
    /// Empties the file (a clean end leaves no holder to report), then the OS releases the
    /// lock as the file closes.
    fn drop(&mut self) {
        let _ = self.write_holder("");
    }
}

/// What the lock file says of its holder (at most a line, trimmed).
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = Read::by_ref(file).take(1024).read_to_string(&mut text);
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// `pid 1234 on host NAME, since UNIX-SECONDS`.
fn describe_this_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".into());
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!(
        "pid {} on host {host}, since {since} (Unix time)\n",
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_a_dead_holders_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run).unwrap();
        assert!(first.taken_over.is_none());
        // A second open file description is refused, as a second process is.
        let refused = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("pid {} on host", std::process::id()))
                && refused.contains("in use by another run"),
            "{refused}"
        );
        drop(first);
        // Released cleanly: nobody to report.
        let second = RunLock::acquire(&run).unwrap();
        assert!(second.taken_over.is_none());
        drop(second);
        // A holder that died leaves its line in the file, but not the OS's lock.
        std::fs::write(run.join(LOCK_FILE), "pid 999999 on host gone, since 1\n").unwrap();
        let third = RunLock::acquire(&run).unwrap();
        assert_eq!(
            third.taken_over.as_deref(),
            Some("pid 999999 on host gone, since 1")
        );
    }
}
