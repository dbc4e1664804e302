//! Crash-safe writes: a file is written to a temporary sibling, flushed to the disk, renamed
//! into place, and the rename itself flushed (the folder's entry), so that after a crash or a
//! power cut the path holds either the previous file or the complete new one, never a part.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Writes `path` through `write(tmp)` on a temporary sibling (`<path>.tmp`), flushes it
/// (`fsync`), renames it into place and flushes the folder. A failed `write` leaves the
/// previous file untouched.
pub fn write_atomically<E: std::fmt::Display>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::io::Result<()> {
    let tmp = temporary_sibling(path);
    write(&tmp).map_err(|e| std::io::Error::other(e.to_string()))?;
    File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_folder(path)
}

/// The temporary file [`write_atomically`] writes before the rename.
pub fn temporary_sibling(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
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
