//! The files of a training run, in one folder ([`RunFolder`]): `config.json` (the full
//! [`TrainingConfig`](crate::TrainingConfig)), `checkpoint/{model,optim,scheduler}-N.bpk`
//! after every epoch (with CRC-32 sidecars), `model.bpk` and `evaluation.json` at the end. Every
//! file is written by [`crate::atomic`]: to a temporary sibling, flushed, renamed into place,
//! the folder flushed, so a run killed at any moment (even `kill -9`, even a power cut) leaves
//! only complete files behind.
//!
//! - [`checkpoint`][]: the checkpoints' names, checksums and the checkpointer burn-train calls;
//! - [`evaluation`][]: `evaluation.json`;
//! - [`lock`][]: `run.lock`, one writer per folder ([`RunFolder::lock`]).

pub mod checkpoint;
pub mod evaluation;
pub mod lock;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::ModuleRecord;

pub use crate::atomic::write_atomically;
pub use checkpoint::{AtomicFileCheckpointer, Kind};
pub use evaluation::SavedEvaluation;
pub use lock::{LOCK_FILE, RunLock};

use crate::error::{LenetError, Result};

/// The saved training configuration inside a run folder.
pub const CONFIG_FILE: &str = "config.json";
/// The final model inside a run folder.
pub const MODEL_FILE: &str = "model.bpk";
/// The per-epoch checkpoints inside a run folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The final model's results on the test split, written beside it at the end of training.
pub const EVALUATION_FILE: &str = "evaluation.json";
/// What burn-train's file loggers wrote into run folders before this project replaced them,
/// and the evaluation; an overwritten run loses them too.
const OLD_LOGS: [&str; 4] = ["train", "valid", "experiment.log", EVALUATION_FILE];

/// How a run treats its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// A new run in an empty (or new) folder.
    Fresh,
    /// A new run that first deletes a previous run's results in the folder.
    Overwrite,
    /// Continue the run in the folder from its last complete checkpoint.
    Resume,
}

/// A training run's folder: names, finds and parses its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder {
    dir: PathBuf,
}

impl RunFolder {
    /// The run folder `dir` (nothing is read or created yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The run folder a model file belongs to: its folder, or for a checkpoint the folder
    /// above `checkpoint/`.
    pub fn of_model(model: &Path) -> Self {
        if model.is_dir() {
            return Self::new(model);
        }
        let folder = model.parent().unwrap_or(Path::new("."));
        match (folder.file_name(), folder.parent()) {
            (Some(name), Some(run)) if name == CHECKPOINT_DIR => Self::new(run),
            _ => Self::new(folder),
        }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `config.json`.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// `model.bpk`, the model at the end of the run.
    pub fn model_file(&self) -> PathBuf {
        self.dir.join(MODEL_FILE)
    }

    /// `evaluation.json`.
    pub fn evaluation_file(&self) -> PathBuf {
        self.dir.join(EVALUATION_FILE)
    }

    /// `checkpoint/`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.dir.join(CHECKPOINT_DIR)
    }

    /// The run's TensorBoard event files (one per start of the run), in name order.
    pub fn event_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .starts_with(crate::tensorboard::FILE_PREFIX)
                })
            })
            .collect();
        files.sort();
        files
    }

    /// The checkpoint of `kind` of `epoch` as burn 0.22 writes it (`checkpoint/model-3.bpk`).
    pub fn checkpoint_file(&self, kind: Kind, epoch: usize) -> PathBuf {
        self.checkpoint_dir()
            .join(checkpoint::file_name(kind, epoch, checkpoint::EXTENSION))
    }

    /// Every checkpoint file in the folder: kind, epoch, path.
    fn checkpoints(&self) -> Vec<(Kind, usize, PathBuf)> {
        let dir = self.checkpoint_dir();
        let mut found: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                let (kind, epoch, _) = checkpoint::parse(&name)?;
                Some((kind, epoch, dir.join(&name)))
            })
            .collect();
        found.sort_by_key(|(_, epoch, _)| *epoch);
        found
    }

    /// Why epoch `epoch` cannot be resumed from, if it cannot: one of its model, optimizer
    /// and scheduler checkpoints (as burn 0.22 writes them) is missing or disagrees with its
    /// checksum.
    fn incomplete(&self, epoch: usize) -> Option<String> {
        Kind::ALL.into_iter().find_map(|kind| {
            let path = self.checkpoint_file(kind, epoch);
            if path.is_file() {
                checkpoint::verify(&path).err()
            } else {
                Some(format!("{} is missing", path.display()))
            }
        })
    }

    /// The last epoch a run can resume from: whose three checkpoints all exist and agree with
    /// their checksums. A half-written or corrupted checkpoint is never chosen.
    pub fn last_checkpoint(&self) -> Option<usize> {
        self.resumable().ok()
    }

    /// [`Self::last_checkpoint`], or why there is none (the latest epoch's problem).
    fn resumable(&self) -> std::result::Result<usize, String> {
        let mut latest_problem = None;
        let epochs = self.checkpoints().into_iter().filter(|(kind, _, path)| {
            *kind == Kind::Model && path.extension().is_some_and(|e| e == checkpoint::EXTENSION)
        });
        for (_, epoch, _) in epochs.rev() {
            match self.incomplete(epoch) {
                None => return Ok(epoch),
                Some(reason) => {
                    latest_problem.get_or_insert(reason);
                }
            }
        }
        Err(latest_problem.unwrap_or_else(|| "there are no checkpoints".into()))
    }

    /// Epoch `epoch`'s model checkpoint in any format burn wrote (`.bpk`, `.mpk`, `.mpk.gz`).
    fn model_checkpoint(&self, epoch: usize) -> Option<PathBuf> {
        self.checkpoints()
            .into_iter()
            .find(|(kind, e, _)| *kind == Kind::Model && *e == epoch)
            .map(|(_, _, path)| path)
    }

    /// The model this folder holds: `model.bpk`, or without one the latest model checkpoint
    /// that agrees with its checksum (as burn-train apps leave their folders).
    pub fn latest_model(&self) -> Result<PathBuf> {
        if self.model_file().is_file() {
            return Ok(self.model_file());
        }
        self.checkpoints()
            .into_iter()
            .rev()
            .find(|(kind, _, path)| *kind == Kind::Model && checkpoint::verify(path).is_ok())
            .map(|(_, _, path)| path)
            .ok_or_else(|| LenetError::Artifact {
                path: self.dir.clone(),
                reason: format!("holds neither {MODEL_FILE} nor checkpoint/model-N.* files"),
            })
    }

    /// The model file a `--model` argument names: a file; a run's folder
    /// ([`Self::latest_model`]); or `FOLDER@N`, epoch `N`'s checkpoint.
    pub fn resolve_model(arg: &Path) -> Result<PathBuf> {
        let text = arg.to_string_lossy();
        if let Some((folder, epoch)) = text.rsplit_once('@')
            && let Ok(epoch) = epoch.parse::<usize>()
            && Path::new(folder).is_dir()
        {
            let run = Self::new(folder);
            return run
                .model_checkpoint(epoch)
                .ok_or_else(|| LenetError::Artifact {
                    path: run.checkpoint_dir(),
                    reason: format!(
                        "no model checkpoint of epoch {epoch} (model-{epoch}.bpk, .mpk or .mpk.gz)"
                    ),
                });
        }
        if arg.is_dir() {
            Self::new(arg).latest_model()
        } else {
            Ok(arg.to_path_buf())
        }
    }

    /// Takes the folder's lock (creating the folder), held until the returned guard drops: a
    /// second process is refused at once, naming the holder ([`lock`]).
    pub fn lock(&self) -> Result<RunLock> {
        RunLock::acquire(&self.dir)
    }

    /// Whether the folder holds a run that never completed an epoch: a `config.json`, but no
    /// checkpoint and no model (a run stopped, or failed, in its first epoch). A fresh run may
    /// replace it: there is nothing to lose.
    fn holds_only_an_unstarted_run(&self) -> bool {
        !self.model_file().exists() && self.checkpoints().is_empty()
    }

    /// Begins a run started as `start` in the folder; returns the epoch to resume after.
    /// Call it holding the folder's [`lock`](Self::lock).
    ///
    /// A fresh run refuses a folder holding a previous run (unless that run never completed an
    /// epoch); an overwriting one deletes that run's files first; a resumed one removes
    /// partial files and finds the last complete checkpoint.
    pub fn begin(&self, start: StartMode) -> Result<Option<usize>> {
        if start != StartMode::Overwrite {
            self.remove_incomplete_checkpoints()?;
        }
        let previous: Vec<PathBuf> = [self.config_file(), self.model_file(), self.checkpoint_dir()]
            .into_iter()
            .filter(|path| path.exists())
            .chain(self.event_files())
            .collect();
        let unstarted = !previous.is_empty() && self.holds_only_an_unstarted_run();
        match start {
            StartMode::Resume => {
                self.remove_partial_files()?;
                if self.checkpoints().is_empty() {
                    return Err(LenetError::Artifact {
                        path: self.dir.clone(),
                        reason: "nothing to resume: the run completed no epoch; start it again \
                                 with the same command without --resume"
                            .into(),
                    });
                }
                let epoch = self.resumable().map_err(|why| LenetError::Artifact {
                    path: self.checkpoint_dir(),
                    reason: format!("no complete checkpoint to resume from ({why})"),
                })?;
                return Ok(Some(epoch));
            }
            StartMode::Fresh if unstarted => remove_all(previous)?,
            StartMode::Fresh if !previous.is_empty() => {
                return Err(LenetError::Artifact {
                    path: self.dir.clone(),
                    reason: "holds a previous run (config.json, model.bpk or checkpoint/); \
                             pass --resume to continue it, --overwrite to replace it, \
                             or choose another --artifact-dir"
                        .into(),
                });
            }
            StartMode::Fresh => {}
            StartMode::Overwrite => {
                let old_logs = OLD_LOGS.iter().map(|name| self.dir.join(name));
                remove_all(previous.into_iter().chain(old_logs))?;
            }
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| LenetError::io(&self.dir, e))?;
        Ok(None)
    }

    /// Deletes the temporary files a killed run may have left (`*.tmp` in the run and
    /// checkpoint folders); complete files are never touched.
    pub fn remove_partial_files(&self) -> Result<()> {
        for dir in [self.dir.clone(), self.checkpoint_dir()] {
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

    /// Removes the checkpoints after the last complete one ([`Self::last_checkpoint`]) that lack
    /// one of their three files, with the files they have: what a write that failed (a full
    /// disk) or was cut short (a kill between two files) leaves. Every checkpoint is then
    /// complete or absent. A checkpoint whose files are all there but corrupted stays (a resume
    /// names it).
    pub fn remove_incomplete_checkpoints(&self) -> Result<()> {
        let last = self.last_checkpoint().unwrap_or(0);
        let mut epochs: Vec<usize> = self
            .checkpoints()
            .into_iter()
            .filter(|(_, epoch, path)| {
                *epoch > last && path.extension().is_some_and(|e| e == checkpoint::EXTENSION)
            })
            .map(|(_, epoch, _)| epoch)
            .collect();
        epochs.dedup();
        for epoch in epochs {
            let missing = Kind::ALL
                .into_iter()
                .any(|kind| !self.checkpoint_file(kind, epoch).is_file());
            if missing {
                for checkpointer in self.checkpointers() {
                    checkpointer
                        .remove(epoch)
                        .map_err(|e| LenetError::io(self.checkpoint_dir(), e))?;
                }
            }
        }
        Ok(())
    }

    /// The model, optimizer and scheduler checkpointers burn-train writes through.
    pub fn checkpointers(&self) -> [AtomicFileCheckpointer; 3] {
        Kind::ALL.map(|kind| AtomicFileCheckpointer::new(&self.checkpoint_dir(), kind))
    }

    /// After a run resumed from epoch `resumed` and completed at `last`: removes the
    /// checkpoints (and their checksums) of epochs up to `resumed` that are not among the last
    /// two, which burn-train's checkpointing strategy (the last two and the best since the
    /// resume) never saw and so never deletes.
    pub fn remove_stale_checkpoints(&self, resumed: usize, last: usize) -> Result<()> {
        let checkpointers = self.checkpointers();
        for epoch in 1..=resumed.min(last.saturating_sub(2)) {
            for checkpointer in &checkpointers {
                checkpointer
                    .remove(epoch)
                    .map_err(|e| LenetError::io(self.checkpoint_dir(), e))?;
            }
        }
        Ok(())
    }

    /// Says which checkpoint a stopped run leaves to resume from.
    pub fn describe_kept(&self) -> String {
        match self.last_checkpoint() {
            Some(epoch) => format!("the checkpoint of epoch {epoch} is kept"),
            None => "no checkpoint was written".into(),
        }
    }

    /// What a stopped run leaves and how to go on, as printed after Ctrl-C: resume from the
    /// last checkpoint, or (none written) start over with the same command.
    pub fn how_to_continue(&self) -> String {
        match self.last_checkpoint() {
            Some(epoch) => {
                format!("the checkpoint of epoch {epoch} is kept; continue with --resume")
            }
            None => "no checkpoint was written, so there is nothing to resume; run the same \
                     command again to start over"
                .into(),
        }
    }

    /// Checks that epoch `epoch`'s checkpoints can be restored into `module` (the learner's
    /// model, built from `config.json`), so that a resume fails with a clear error instead of
    /// a panic inside burn-train.
    pub fn check_restorable<M: Module>(&self, epoch: usize, module: M) -> Result<()> {
        let unreadable = |path: PathBuf| {
            move |source| LenetError::Record {
                path,
                what: "not a readable checkpoint",
                source,
            }
        };
        let model_path = self.checkpoint_file(Kind::Model, epoch);
        let record = ModuleRecord::load(&model_path).map_err(unreadable(model_path.clone()))?;
        module
            .try_load_record(record)
            .map_err(|source| LenetError::Record {
                path: model_path,
                what: "does not fit the network in config.json",
                source,
            })?;
        let optim_path = self.checkpoint_file(Kind::Optim, epoch);
        OptimizerRecord::load(optim_path.clone()).map_err(unreadable(optim_path))?;
        let scheduler_path = self.checkpoint_file(Kind::Scheduler, epoch);
        LrSchedulerRecord::load(scheduler_path.clone()).map_err(unreadable(scheduler_path))?;
        Ok(())
    }

    /// Writes the trained network as `model.bpk` with its checksum
    /// ([`crate::weights::save`]), crash-safe.
    pub fn save_network(&self, net: &crate::model::LeNet) -> Result<()> {
        let path = self.model_file();
        write_atomically(&path, |tmp| {
            crate::weights::save(net, tmp, crate::weights::WeightFormat::Burnpack)
        })
        .map_err(|e| LenetError::io(&path, e))
    }

    /// Writes `evaluation.json`, crash-safe.
    pub fn save_evaluation(&self, evaluation: &SavedEvaluation) -> Result<()> {
        evaluation.save(&self.evaluation_file())
    }

    /// Reads `evaluation.json`, if there is one.
    pub fn load_evaluation(&self) -> Result<Option<SavedEvaluation>> {
        SavedEvaluation::load(&self.evaluation_file())
    }
}

/// Removes each of `paths` that exists, files and folders.
fn remove_all(paths: impl IntoIterator<Item = PathBuf>) -> Result<()> {
    for path in paths {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.exists() {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.map_err(|e| LenetError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    /// Writes epoch `epoch`'s three checkpoints through the checkpointers' own checksum files.
    fn complete_epoch(run: &RunFolder, epoch: usize) {
        for kind in Kind::ALL {
            let path = run.checkpoint_file(kind, epoch);
            touch(&path);
            let crc = format!("{:08x}", crc32fast::hash(b"x"));
            std::fs::write(checkpoint::checksum_file(&path), crc).unwrap();
        }
    }

    #[test]
    fn a_resume_removes_partial_files_and_finds_the_last_complete_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        complete_epoch(&run, 1);
        complete_epoch(&run, 2);
        // Epoch 3 was being written when the run was killed: one file done, one half-written.
        touch(&run.checkpoint_file(Kind::Model, 3));
        touch(&crate::atomic::temporary_sibling(
            &run.checkpoint_file(Kind::Optim, 3),
        ));
        touch(&crate::atomic::temporary_sibling(&run.model_file()));
        touch(&run.config_file());

        assert_eq!(run.last_checkpoint(), Some(2));
        assert_eq!(run.begin(StartMode::Resume).unwrap(), Some(2));
        assert!(!crate::atomic::temporary_sibling(&run.checkpoint_file(Kind::Optim, 3)).exists());
        assert!(!crate::atomic::temporary_sibling(&run.model_file()).exists());
        // Epoch 3's checkpoint is incomplete, so its model file goes too (a checkpoint is
        // complete or absent); the others are never touched.
        assert!(!run.checkpoint_file(Kind::Model, 3).exists());
        assert!(run.config_file().exists() && run.checkpoint_file(Kind::Model, 2).exists());
        assert!(run.describe_kept().contains("epoch 2"));
    }

    #[test]
    fn a_half_written_checkpoint_is_never_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        complete_epoch(&run, 1);
        complete_epoch(&run, 2);
        // Epoch 3 is all there, but its model file lost its end (a power cut before the data
        // reached the disk): its checksum no longer agrees.
        complete_epoch(&run, 3);
        std::fs::write(run.checkpoint_file(Kind::Model, 3), b"").unwrap();
        assert_eq!(run.last_checkpoint(), Some(2));
        assert_eq!(run.begin(StartMode::Resume).unwrap(), Some(2));
        // `--model FOLDER` takes epoch 2's model too, not the broken one.
        assert_eq!(
            RunFolder::resolve_model(dir.path()).unwrap(),
            run.checkpoint_file(Kind::Model, 2)
        );
        // Epoch 3 asked for by name is refused when read, naming the file and the reason.
        let [model, _, _] = run.checkpointers();
        let restored: std::result::Result<burn::store::ModuleRecord, _> =
            burn::train::checkpoint::Checkpointer::restore(&model, 3);
        let Err(message) = restored.map(|_| ()) else {
            panic!("a corrupted checkpoint was restored");
        };
        let message = message.to_string();
        assert!(
            message.contains("model-3.bpk") && message.contains("corrupted"),
            "{message}"
        );
    }

    #[test]
    fn a_fresh_run_refuses_a_previous_one_and_an_overwrite_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        touch(&run.model_file());
        touch(&run.checkpoint_file(Kind::Model, 1));
        touch(&dir.path().join("experiment.log"));
        let refused = run.begin(StartMode::Fresh).unwrap_err().to_string();
        assert!(refused.contains("--overwrite"), "{refused}");
        assert!(run.model_file().exists());
        assert_eq!(run.begin(StartMode::Overwrite).unwrap(), None);
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[test]
    fn a_run_that_completed_no_epoch_is_replaced_by_a_fresh_one_and_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        touch(&run.config_file());
        let refused = run.begin(StartMode::Resume).unwrap_err().to_string();
        assert!(refused.contains("without --resume"), "{refused}");
        assert_eq!(run.begin(StartMode::Fresh).unwrap(), None);
        assert!(!run.config_file().exists());
        assert!(run.how_to_continue().contains("run the same command again"));
        // Once an epoch is checkpointed, it is a previous run.
        touch(&run.config_file());
        complete_epoch(&run, 1);
        assert!(run.begin(StartMode::Fresh).is_err());
        assert!(
            run.how_to_continue()
                .contains("epoch 1 is kept; continue with --resume")
        );
    }

    #[test]
    fn a_checkpoint_belongs_to_the_folder_above_checkpoint() {
        let run = Path::new("runs/lenet");
        let model = run.join(CHECKPOINT_DIR).join("model-3.bpk");
        assert_eq!(RunFolder::of_model(&model).path(), run);
        assert_eq!(RunFolder::of_model(&run.join(MODEL_FILE)).path(), run);
    }
}
