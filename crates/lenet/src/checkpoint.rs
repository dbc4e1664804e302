//! Crash-safe files: per-epoch checkpoints written to a temporary file and renamed into place,
//! so a run killed at any moment (even `kill -9`) leaves only complete files behind.

use std::path::{Path, PathBuf};

use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};

use crate::error::{LenetError, Result};
use crate::model::LeNetConfig;

/// Folder of the per-epoch checkpoints inside an artifact folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The three files burn-train writes per epoch: `{kind}-{epoch}.bpk`.
const KINDS: [&str; 3] = ["model", "optim", "scheduler"];

/// Writes `path` through `write(tmp)` on a temporary sibling, then renames it into place.
pub fn write_atomically<E: std::fmt::Display>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write(&tmp).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::rename(&tmp, path)
}

/// Deletes the temporary files a killed run may have left (`*.tmp` in the artifact and
/// checkpoint folders); complete files are never touched.
pub fn remove_partial_files(artifact_dir: &Path) -> Result<()> {
    for dir in [
        artifact_dir.to_path_buf(),
        artifact_dir.join(CHECKPOINT_DIR),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "tmp") {
                std::fs::remove_file(&path).map_err(|e| LenetError::io(&path, e))?;
            }
        }
    }
    Ok(())
}

/// burn-train's file checkpointer, but each file is written atomically.
pub struct AtomicFileCheckpointer {
    directory: PathBuf,
    name: &'static str,
}

impl AtomicFileCheckpointer {
    /// Checkpoints named `{name}-{epoch}.bpk` in `directory` (created if needed).
    pub fn new(directory: &Path, name: &'static str) -> Self {
        std::fs::create_dir_all(directory).ok();
        Self {
            directory: directory.to_path_buf(),
            name,
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        self.directory.join(format!("{}-{epoch}.bpk", self.name))
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicFileCheckpointer {
    fn save(&self, epoch: usize, record: R) -> std::result::Result<(), CheckpointerError> {
        write_atomically(&self.path(epoch), |tmp| record.save(tmp.to_path_buf()))
            .map_err(CheckpointerError::IOError)
    }

    fn delete(&self, epoch: usize) -> std::result::Result<(), CheckpointerError> {
        match std::fs::remove_file(self.path(epoch)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(e))
            }
            _ => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> std::result::Result<R, CheckpointerError> {
        R::load(self.path(epoch))
    }
}

/// The model, optimizer and scheduler checkpointers of an artifact folder.
pub fn checkpointers(
    artifact_dir: &Path,
) -> (
    AtomicFileCheckpointer,
    AtomicFileCheckpointer,
    AtomicFileCheckpointer,
) {
    let dir = artifact_dir.join(CHECKPOINT_DIR);
    (
        AtomicFileCheckpointer::new(&dir, KINDS[0]),
        AtomicFileCheckpointer::new(&dir, KINDS[1]),
        AtomicFileCheckpointer::new(&dir, KINDS[2]),
    )
}

/// The last epoch whose model, optimizer and scheduler checkpoints all exist.
pub fn last_checkpoint(artifact_dir: &Path) -> Option<usize> {
    let dir = artifact_dir.join(CHECKPOINT_DIR);
    let complete = |epoch: usize| {
        KINDS
            .iter()
            .all(|kind| dir.join(format!("{kind}-{epoch}.bpk")).is_file())
    };
    std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .filter(|&epoch| complete(epoch))
        .max()
}

/// Says which checkpoint a stopped run leaves to resume from.
pub fn describe_kept(artifact_dir: &Path) -> String {
    match last_checkpoint(artifact_dir) {
        Some(epoch) => format!("the checkpoint of epoch {epoch} is kept"),
        None => "no epoch completed, so there is no checkpoint".into(),
    }
}

/// Checks that epoch `epoch`'s checkpoint can be restored into the configured network, so that a
/// resume fails with a clear error instead of a panic inside burn-train.
pub fn check_restorable(
    artifact_dir: &Path,
    epoch: usize,
    model: &LeNetConfig,
    device: &Device,
) -> Result<()> {
    let dir = artifact_dir.join(CHECKPOINT_DIR);
    let path = |kind: &str| dir.join(format!("{kind}-{epoch}.bpk"));
    let bad = |path: PathBuf, reason: String| LenetError::Artifact { path, reason };

    let model_path = path("model");
    let record = ModuleRecord::load(&model_path).map_err(|e| {
        bad(
            model_path.clone(),
            format!("not a readable checkpoint: {e}"),
        )
    })?;
    model.init(device).try_load_record(record).map_err(|e| {
        bad(
            model_path,
            format!("does not fit the network in config.json: {e}"),
        )
    })?;
    let optim_path = path("optim");
    OptimizerRecord::load(optim_path.clone())
        .map_err(|e| bad(optim_path, format!("not a readable checkpoint: {e}")))?;
    let scheduler_path = path("scheduler");
    LrSchedulerRecord::load(scheduler_path.clone())
        .map_err(|e| bad(scheduler_path, format!("not a readable checkpoint: {e}")))?;
    Ok(())
}
