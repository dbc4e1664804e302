//! Crash-safe writes: a file is written to a temporary sibling, flushed to the disk, renamed
//! into place, and the rename itself flushed (the folder's entry), so that after a crash or a
//! power cut the path holds either the previous file or the complete new one, never a part.

//!
//! Every temporary file is registered while it exists, so that a program stopped by a signal
//! removes them before it exits ([`exit_removing_unfinished`]), and so does a program whose
//! reader has gone (`| head`, [`end_quietly_when_stdout_closes`]).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The temporary files being written. Once a signal's exit holds it, it is never released:
/// a writer that needs it waits for the process to end.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The registry; a panic elsewhere while it was held leaves it usable.
fn unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Renames a registered `tmp` to `path` and forgets it, with the registry held, so that an
/// exit in between sees either the temporary file or the complete one.
fn commit(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let mut files = unfinished();
    std::fs::rename(tmp, path)?;
    files.retain(|p| p != tmp);
    Ok(())
}

/// Removes a registered `tmp` after a failed write, and forgets it.
fn abandon(tmp: &Path) {
    let mut files = unfinished();
    let _ = std::fs::remove_file(tmp);
    files.retain(|p| p != tmp);
}

/// Removes every temporary file being written and exits with `code`, holding the registry so
/// that no new one is created or renamed meanwhile: what a Ctrl-C or SIGTERM handler calls.
pub fn exit_removing_unfinished(code: i32) -> ! {
    let mut files = unfinished();
    for tmp in files.drain(..) {
        let _ = std::fs::remove_file(tmp);
    }
    std::process::exit(code)
}

/// `trainer eval ... | head -1`: Rust ignores SIGPIPE, so once `head` has gone the next
/// `println!` panics ("failed printing to stdout: Broken pipe"). This hook ends the program
/// there quietly with status 0, its half-written files removed, as a Unix tool ends (restoring
/// SIGPIPE's default instead would need `unsafe` and exit with 141). Any other panic goes to
/// the hook installed before.
pub fn end_quietly_when_stdout_closes() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        let epipe = message.contains("Broken pipe") || message.contains("os error 32");
        if message.starts_with("failed printing to stdout") && epipe {
            exit_removing_unfinished(0);
        }
        previous(info);
    }));
}

/// Writes `path` through `write(tmp)` on a temporary sibling ([`temporary_sibling`]), flushes
/// it (`fsync`), renames it into place and flushes the folder. A failed `write` leaves the
/// previous file untouched and no temporary file. (A signal's exit can only miss a temporary
/// file that `write` creates in the instant between the exit's removal and the process's end;
/// [`write_bytes_atomically`] has no such instant.)
pub fn write_atomically<E: std::fmt::Display>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::io::Result<()> {
    let tmp = temporary_sibling(path);
    unfinished().push(tmp.clone());
    let written = write(&tmp)
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|()| File::open(&tmp)?.sync_all())
        .and_then(|()| commit(&tmp, path));
    if written.is_err() {
        abandon(&tmp);
    }
    written?;
    sync_folder(path)
}

/// Writes `bytes` to `path` as [`write_atomically`] does; the temporary file is created with
/// the registry held, so a signal's exit never leaves it behind.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary_sibling(path);
    let mut file = {
        let mut files = unfinished();
        let file = File::create(&tmp)?;
        files.push(tmp.clone());
        file
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| commit(&tmp, path));
    if written.is_err() {
        abandon(&tmp);
    }
    written?;
    sync_folder(path)
}

/// The temporary file [`write_atomically`] writes before the rename: `<path>.<pid>.tmp`, so
/// that two processes writing one path never write one temporary file.
pub fn temporary_sibling(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(tmp)
}

/// Flushes the entry of `path` in its folder (a rename is durable only once its folder is).
#[cfg(unix)]
fn sync_folder(path: &Path) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()
}

/// Folders cannot be opened as files on other systems; their renames are durable there.
#[cfg(not(unix))]
fn sync_folder(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_that_fails_leaves_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bpk");
        std::fs::write(&path, b"previous").unwrap();
        let failed = write_atomically(&path, |tmp| {
            std::fs::write(tmp, b"half").unwrap();
            Err("disk full")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        write_atomically(&path, |tmp| std::fs::write(tmp, b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(!temporary_sibling(&path).exists());
    }
}
