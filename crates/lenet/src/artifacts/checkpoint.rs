//! The per-epoch checkpoints burn-train writes, as this project writes them: their names
//! (`{kind}-{epoch}.bpk`, parsed in one place), their CRC-32 sidecars, and a checkpointer that
//! writes both crash-safe.

use std::path::{Path, PathBuf};

use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};

use crate::atomic::write_bytes_atomically;

/// The three files burn-train writes per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The network (`model-N.bpk`).
    Model,
    /// The optimizer's state (`optim-N.bpk`).
    Optim,
    /// The learning-rate scheduler's state (`scheduler-N.bpk`).
    Scheduler,
}

impl Kind {
    /// All three.
    pub const ALL: [Kind; 3] = [Kind::Model, Kind::Optim, Kind::Scheduler];

    /// The prefix of its files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Optim => "optim",
            Kind::Scheduler => "scheduler",
        }
    }
}

/// The extension of the checkpoints burn 0.22 writes.
pub const EXTENSION: &str = "bpk";
/// Extensions of model checkpoints other burn versions wrote (`.mpk`, `.mpk.gz` by burn ≤ 0.21),
/// which `--model FOLDER` still reads.
pub const OLDER_EXTENSIONS: [&str; 2] = ["mpk", "mpk.gz"];

/// A checkpoint's file name: `{kind}-{epoch}.{extension}`.
pub fn file_name(kind: Kind, epoch: usize, extension: &str) -> String {
    format!("{}-{epoch}.{extension}", kind.name())
}

/// What a file name in a checkpoint folder says: its kind, epoch and extension (`None` for any
/// other file, temporary and checksum files included).
pub fn parse(name: &str) -> Option<(Kind, usize, &str)> {
    let (prefix, rest) = name.split_once('-')?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == prefix)?;
    let (epoch, extension) = rest.split_once('.')?;
    let known = extension == EXTENSION || OLDER_EXTENSIONS.contains(&extension);
    Some((kind, epoch.parse().ok()?, extension)).filter(|_| known)
}

/// The file beside a checkpoint that holds its CRC-32 (burn-train writes the checkpoint
/// itself, so its metadata cannot carry one): `model-3.bpk.crc32`.
pub fn checksum_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".crc32");
    PathBuf::from(name)
}

fn file_crc32(path: &Path) -> crate::error::Result<String> {
    let bytes = crate::files::read_input(path, crate::files::WEIGHTS)?;
    Ok(format!("{:08x}", crc32fast::hash(&bytes)))
}

/// Checks a checkpoint against its checksum, when it has one (a crash between the two writes,
/// or an older version, leaves none): the reason it is unusable, if it is.
pub fn verify(path: &Path) -> std::result::Result<(), String> {
    let sum = checksum_file(path);
    let Ok(expected) = std::fs::read_to_string(&sum) else {
        return Ok(());
    };
    let found = file_crc32(path).map_err(|e| e.to_string())?;
    if expected.trim() == found {
        Ok(())
    } else {
        Err(format!(
            "{}: corrupted: its checksum ({}) is {}, the data read gives {found}",
            path.display(),
            sum.display(),
            expected.trim()
        ))
    }
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// burn-train's file checkpointer, but each file is written crash-safe and checked by its
/// checksum when read.
pub struct AtomicFileCheckpointer {
    directory: PathBuf,
    kind: Kind,
}

impl AtomicFileCheckpointer {
    /// Checkpoints of `kind` in `directory` (created if needed).
    pub fn new(directory: &Path, kind: Kind) -> Self {
        std::fs::create_dir_all(directory).ok();
        Self {
            directory: directory.to_path_buf(),
            kind,
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        self.directory.join(file_name(self.kind, epoch, EXTENSION))
    }

    /// Removes epoch `epoch`'s checkpoint and its checksum, where they exist.
    pub fn remove(&self, epoch: usize) -> std::io::Result<()> {
        let path = self.path(epoch);
        remove_if_present(&path)?;
        remove_if_present(&checksum_file(&path))
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicFileCheckpointer {
    /// Writes the checkpoint, then its checksum beside it (the old checksum is removed first,
    /// so a crash in between leaves a checkpoint without one, never a wrong one). The record is
    /// encoded in memory and written here, so that a failure keeps its kind (a full disk is
    /// `StorageFull`) and names the file.
    fn save(&self, epoch: usize, record: R) -> std::result::Result<(), CheckpointerError> {
        let path = self.path(epoch);
        let sum = checksum_file(&path);
        let failed = |e: std::io::Error| {
            CheckpointerError::IOError(std::io::Error::new(
                e.kind(),
                format!("writing {}: {e}", path.display()),
            ))
        };
        remove_if_present(&sum).map_err(failed)?;
        let bytes = record
            .checkpoint_into_bytes()
            .map_err(CheckpointerError::Record)?;
        write_bytes_atomically(&path, &bytes).map_err(failed)?;
        let crc = format!("{:08x}", crc32fast::hash(&bytes));
        write_bytes_atomically(&sum, crc.as_bytes()).map_err(failed)
    }

    fn delete(&self, epoch: usize) -> std::result::Result<(), CheckpointerError> {
        self.remove(epoch).map_err(CheckpointerError::IOError)
    }

    /// Loads the checkpoint after checking its checksum, when it has one.
    fn restore(&self, epoch: usize) -> std::result::Result<R, CheckpointerError> {
        let path = self.path(epoch);
        verify(&path).map_err(CheckpointerError::Unknown)?;
        R::load(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_and_other_files_ignored() {
        assert_eq!(parse("model-12.bpk"), Some((Kind::Model, 12, "bpk")));
        assert_eq!(parse("optim-3.bpk"), Some((Kind::Optim, 3, "bpk")));
        assert_eq!(parse("model-2.mpk.gz"), Some((Kind::Model, 2, "mpk.gz")));
        for other in [
            "model-3.bpk.tmp",
            "model-3.bpk.crc32",
            "model.bpk",
            "model-x.bpk",
            "best-1.bpk",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
        assert_eq!(file_name(Kind::Scheduler, 4, EXTENSION), "scheduler-4.bpk");
    }
}
