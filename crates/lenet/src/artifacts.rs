//! The files of a training run, in one folder, and how they are written: `config.json` (the
//! full [`TrainingConfig`](crate::TrainingConfig)), `checkpoint/{model,optim,scheduler}-N.bpk`
//! after every epoch, and `model.bpk` at the end. Every file is written to a temporary sibling
//! and renamed into place, so a run killed at any moment (even `kill -9`) leaves only complete
//! files behind.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};

use crate::error::{LenetError, Result};

/// The saved training configuration inside an artifact folder.
pub const CONFIG_FILE: &str = "config.json";
/// The final model inside an artifact folder.
pub const MODEL_FILE: &str = "model.bpk";
/// The per-epoch checkpoints inside an artifact folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The final model's results on the test split, written beside it at the end of training.
pub const EVALUATION_FILE: &str = "evaluation.json";

/// What `evaluation.json` holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedEvaluation {
    /// Test error, %.
    pub test_error: f64,
    /// Mean `½‖t − y‖²` on the test split.
    pub test_mse: f64,
    /// Test images.
    pub test_images: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// The GPU adapter of a wgpu run (absent for the CPU backends and in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<crate::backend::Adapter>,
}

impl SavedEvaluation {
    /// Writes it into the artifact folder `dir`, atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(EVALUATION_FILE);
        let text = serde_json::to_string_pretty(self).expect("an evaluation serialises");
        write_atomically(&path, |tmp| std::fs::write(tmp, &text))
            .map_err(|e| LenetError::io(&path, e))
    }

    /// Reads it from the artifact folder `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(EVALUATION_FILE);
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LenetError::io(&path, e)),
            Ok(text) => Self::from_json(&text, &path).map(Some),
        }
    }

    /// From the text of an `evaluation.json` (`path` names it in errors).
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| LenetError::Artifact {
            path: path.to_path_buf(),
            reason: format!("not an evaluation: {e}"),
        })
    }
}
/// The three files burn-train writes per epoch: `{kind}-{epoch}.bpk`.
const KINDS: [&str; 3] = ["model", "optim", "scheduler"];
/// What burn-train's file loggers wrote into artifact folders before this project replaced
/// them, and the evaluation; an overwritten run loses them too.
const OLD_LOGS: [&str; 4] = ["train", "valid", "experiment.log", EVALUATION_FILE];

/// How a run treats its artifact folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// A new run in an empty (or new) artifact folder.
    Fresh,
    /// A new run that first deletes a previous run's results in the artifact folder.
    Overwrite,
    /// Continue the run in the artifact folder from its last complete checkpoint.
    Resume,
}

/// Extensions of the model checkpoints burn-train writes (`model-N.bpk`; `.mpk`, `.mpk.gz` by
/// burn ≤ 0.21).
const CHECKPOINT_EXTENSIONS: [&str; 3] = ["bpk", "mpk", "mpk.gz"];

/// The model file a `--model` argument names: a file; a run's folder (its `model.bpk`, or
/// without one the latest `checkpoint/model-N.*`, as burn-train apps leave them); or
/// `FOLDER@N`, epoch `N`'s checkpoint.
pub fn model_path(path: &Path) -> Result<PathBuf> {
    let text = path.to_string_lossy();
    if let Some((folder, epoch)) = text.rsplit_once('@')
        && let Ok(epoch) = epoch.parse::<usize>()
        && Path::new(folder).is_dir()
    {
        return checkpoint_file(Path::new(folder), epoch).ok_or_else(|| LenetError::Artifact {
            path: Path::new(folder).join(CHECKPOINT_DIR),
            reason: format!(
                "no model checkpoint of epoch {epoch} (model-{epoch}.bpk, .mpk or .mpk.gz)"
            ),
        });
    }
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.join(MODEL_FILE).is_file() {
        return Ok(path.join(MODEL_FILE));
    }
    model_epochs(path)
        .last()
        .and_then(|&epoch| checkpoint_file(path, epoch))
        .ok_or_else(|| LenetError::Artifact {
            path: path.to_path_buf(),
            reason: format!("holds neither {MODEL_FILE} nor checkpoint/model-N.* files"),
        })
}

/// The epochs of a folder's model checkpoints, in order.
fn model_epochs(dir: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(dir.join(CHECKPOINT_DIR))
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let rest = name.strip_prefix("model-")?;
            CHECKPOINT_EXTENSIONS
                .iter()
                .find_map(|ext| rest.strip_suffix(&format!(".{ext}")))?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs
}

fn checkpoint_file(dir: &Path, epoch: usize) -> Option<PathBuf> {
    CHECKPOINT_EXTENSIONS
        .iter()
        .map(|ext| {
            dir.join(CHECKPOINT_DIR)
                .join(format!("model-{epoch}.{ext}"))
        })
        .find(|p| p.is_file())
}

/// The run folder a model file belongs to: its folder, or for a checkpoint the folder above
/// `checkpoint/`.
pub fn folder_of(model: &Path) -> &Path {
    if model.is_dir() {
        return model;
    }
    let folder = model.parent().unwrap_or(Path::new("."));
    match (folder.file_name(), folder.parent()) {
        (Some(name), Some(run)) if name == CHECKPOINT_DIR => run,
        _ => folder,
    }
}

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

/// Prepares `dir` for a run started as `start`; returns the epoch to resume after.
///
/// A fresh run refuses a folder holding a previous run; an overwriting one deletes that run's
/// files first; a resumed one removes partial files and finds the last complete checkpoint.
pub fn prepare(dir: &Path, start: StartMode) -> Result<Option<usize>> {
    let previous: Vec<PathBuf> = [CONFIG_FILE, MODEL_FILE, CHECKPOINT_DIR]
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.exists())
        .collect();
    match start {
        StartMode::Resume => {
            remove_partial_files(dir)?;
            let epoch = last_checkpoint(dir).ok_or_else(|| LenetError::Artifact {
                path: dir.join(CHECKPOINT_DIR),
                reason: "no complete checkpoint to resume from".into(),
            })?;
            return Ok(Some(epoch));
        }
        StartMode::Fresh if !previous.is_empty() => {
            return Err(LenetError::Artifact {
                path: dir.to_path_buf(),
                reason: "holds a previous run (config.json, model.bpk or checkpoint/); \
                         pass --resume to continue it, --overwrite to replace it, \
                         or choose another --artifact-dir"
                    .into(),
            });
        }
        StartMode::Fresh => {}
        StartMode::Overwrite => {
            let old_logs = OLD_LOGS.iter().map(|name| dir.join(name));
            for path in previous.into_iter().chain(old_logs) {
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else if path.exists() {
                    std::fs::remove_file(&path)
                } else {
                    Ok(())
                };
                removed.map_err(|e| LenetError::io(&path, e))?;
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| LenetError::io(dir, e))?;
    Ok(None)
}

/// Writes `module`'s weights to `path` as burnpack, atomically.
/// Writes a trained network as burnpack with its checksum ([`crate::weights::save`]),
/// atomically.
pub fn save_network(net: &crate::model::LeNet, path: &Path) -> Result<()> {
    write_atomically(path, |tmp| {
        crate::weights::save(net, tmp, crate::weights::WeightFormat::Burnpack)
    })
    .map_err(|e| LenetError::io(path, e))
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

    /// Removes epoch `epoch`'s checkpoint and its checksum, where they exist.
    fn remove(&self, epoch: usize) -> std::io::Result<()> {
        let path = self.path(epoch);
        remove_if_present(&path)?;
        remove_if_present(&checksum_file(&path))
    }
}

/// The file beside a checkpoint that holds its CRC-32 (burn-train writes the checkpoint
/// itself, so its metadata cannot carry one): `model-3.bpk.crc32`.
fn checksum_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".crc32");
    PathBuf::from(name)
}

fn file_crc32(path: &Path) -> std::io::Result<String> {
    Ok(format!("{:08x}", crc32fast::hash(&std::fs::read(path)?)))
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicFileCheckpointer {
    /// Writes the checkpoint, then its checksum beside it (the old checksum is removed first,
    /// so a crash in between leaves a checkpoint without one, never a wrong one).
    fn save(&self, epoch: usize, record: R) -> std::result::Result<(), CheckpointerError> {
        let path = self.path(epoch);
        let sum = checksum_file(&path);
        remove_if_present(&sum).map_err(CheckpointerError::IOError)?;
        write_atomically(&path, |tmp| record.save(tmp.to_path_buf()))
            .map_err(CheckpointerError::IOError)?;
        let crc = file_crc32(&path).map_err(CheckpointerError::IOError)?;
        write_atomically(&sum, |tmp| std::fs::write(tmp, &crc)).map_err(CheckpointerError::IOError)
    }

    fn delete(&self, epoch: usize) -> std::result::Result<(), CheckpointerError> {
        self.remove(epoch).map_err(CheckpointerError::IOError)
    }

    /// Loads the checkpoint after checking its checksum, when it has one.
    fn restore(&self, epoch: usize) -> std::result::Result<R, CheckpointerError> {
        let path = self.path(epoch);
        if let Ok(expected) = std::fs::read_to_string(checksum_file(&path)) {
            let found = file_crc32(&path).map_err(CheckpointerError::IOError)?;
            if expected.trim() != found {
                return Err(CheckpointerError::Unknown(format!(
                    "{}: corrupted: its checksum ({}) is {}, the data read gives {found}",
                    path.display(),
                    checksum_file(&path).display(),
                    expected.trim()
                )));
            }
        }
        R::load(path)
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

/// After a run resumed from epoch `resumed` and completed at `last`: removes the checkpoints
/// (and their checksums) of epochs up to `resumed` that are not among the last two, which
/// burn-train's checkpointing strategy (the last two and the best since the resume) never
/// saw and so never deletes.
pub fn remove_stale_checkpoints(artifact_dir: &Path, resumed: usize, last: usize) -> Result<()> {
    let dir = artifact_dir.join(CHECKPOINT_DIR);
    let (model, optim, scheduler) = checkpointers(artifact_dir);
    for epoch in 1..=resumed.min(last.saturating_sub(2)) {
        for checkpointer in [&model, &optim, &scheduler] {
            checkpointer
                .remove(epoch)
                .map_err(|e| LenetError::io(&dir, e))?;
        }
    }
    Ok(())
}

/// Says which checkpoint a stopped run leaves to resume from.
pub fn describe_kept(artifact_dir: &Path) -> String {
    match last_checkpoint(artifact_dir) {
        Some(epoch) => format!("the checkpoint of epoch {epoch} is kept"),
        None => "no epoch completed, so there is no checkpoint".into(),
    }
}

/// Checks that epoch `epoch`'s checkpoint can be restored into `module` (the learner's model,
/// built from `config.json`), so that a resume fails with a clear error instead of a panic
/// inside burn-train.
pub fn check_restorable<M: Module>(artifact_dir: &Path, epoch: usize, module: M) -> Result<()> {
    let dir = artifact_dir.join(CHECKPOINT_DIR);
    let path = |kind: &str| dir.join(format!("{kind}-{epoch}.bpk"));
    let unreadable = |path: PathBuf| {
        move |source| LenetError::Record {
            path,
            what: "not a readable checkpoint",
            source,
        }
    };

    let model_path = path("model");
    let record = ModuleRecord::load(&model_path).map_err(unreadable(model_path.clone()))?;
    module
        .try_load_record(record)
        .map_err(|source| LenetError::Record {
            path: model_path,
            what: "does not fit the network in config.json",
            source,
        })?;
    let optim_path = path("optim");
    OptimizerRecord::load(optim_path.clone()).map_err(unreadable(optim_path))?;
    let scheduler_path = path("scheduler");
    LrSchedulerRecord::load(scheduler_path.clone()).map_err(unreadable(scheduler_path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn a_resume_removes_partial_files_and_finds_the_last_complete_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let checkpoints = run.join(CHECKPOINT_DIR);
        for epoch in [1, 2] {
            for kind in KINDS {
                touch(&checkpoints.join(format!("{kind}-{epoch}.bpk")));
            }
        }
        // Epoch 3 was being written when the run was killed: one file done, one half-written.
        touch(&checkpoints.join("model-3.bpk"));
        touch(&checkpoints.join("optim-3.bpk.tmp"));
        touch(&run.join("model.bpk.tmp"));
        touch(&run.join(CONFIG_FILE));

        assert_eq!(last_checkpoint(run), Some(2));
        assert_eq!(prepare(run, StartMode::Resume).unwrap(), Some(2));
        assert!(!checkpoints.join("optim-3.bpk.tmp").exists());
        assert!(!run.join("model.bpk.tmp").exists());
        // Complete files are never touched.
        assert!(checkpoints.join("model-3.bpk").exists() && run.join(CONFIG_FILE).exists());
        assert!(describe_kept(run).contains("epoch 2"));
    }

    #[test]
    fn a_fresh_run_refuses_a_previous_one_and_an_overwrite_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        touch(&run.join(MODEL_FILE));
        touch(&run.join(CHECKPOINT_DIR).join("model-1.bpk"));
        touch(&run.join("experiment.log"));
        let refused = prepare(run, StartMode::Fresh).unwrap_err().to_string();
        assert!(refused.contains("--overwrite"), "{refused}");
        assert!(run.join(MODEL_FILE).exists());
        assert_eq!(prepare(run, StartMode::Overwrite).unwrap(), None);
        assert!(std::fs::read_dir(run).unwrap().next().is_none());
    }

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
    }
}
