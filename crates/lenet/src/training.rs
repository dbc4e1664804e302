//! Training with burn-train's `Learner`: the project's `TrainStep`/`InferenceStep`, the one
//! training configuration saved beside the artifacts, checkpoints and resume.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::SgdConfig;
use burn::prelude::*;
use burn::train::metric::LossMetric;
use burn::train::renderer::MetricsRenderer;
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::{
    ClassificationOutput, InferenceStep, Interrupter, Learner, SupervisedTraining, TrainOutput,
    TrainStep,
};

use crate::checkpoint::{self, CHECKPOINT_DIR, write_atomically};
use crate::data::{DigitBatch, DigitBatcher, EpochShuffledLoader, MnistSplits};
use crate::error::{self, LenetError};
use crate::inference::{self, Evaluation};
use crate::loss;
use crate::metric::ErrorRateMetric;
use crate::model::{LeNet, LeNetConfig};
use crate::renderer::{BatchLoss, Divergence, EpochRenderer, EpochStats, Progress, SharedRunLog};
use crate::weights;

/// Name of the saved training configuration inside an artifact folder.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the final model inside an artifact folder.
pub const MODEL_FILE: &str = "model.bpk";
/// Batch size used to evaluate the test split (it does not change the results).
pub const EVAL_BATCH_SIZE: usize = 1000;

/// Everything a training run depends on. Saved as `config.json` beside the artifacts, so
/// evaluation and inference rebuild the model from files.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The network.
    pub model: LeNetConfig,
    /// Passes over the training split.
    #[config(default = 10)]
    pub epochs: usize,
    /// Images per SGD step.
    #[config(default = 50)]
    pub batch_size: usize,
    /// SGD learning rate η (constant, as in the paper).
    #[config(default = 1.0)]
    pub learning_rate: f64,
    /// Weight decay λ of the objective.
    #[config(default = 0.0)]
    pub lambda: f64,
    /// Seed of the initial weights, the data subsets and the shuffling.
    #[config(default = 42)]
    pub seed: u64,
    /// Size of the random training subset (`None`: the whole split).
    pub train_size: Option<usize>,
    /// Size of the random test subset (`None`: the whole split).
    pub test_size: Option<usize>,
    /// Deskew every image (training, test and `predict`) before it reaches the network.
    /// An `Option` so that configurations saved before this setting existed (no field: `None`)
    /// still load; use [`TrainingConfig::deskews`].
    pub deskew: Option<bool>,
    /// Weights to start from instead of the random initialisation (`.bpk`, `.safetensors`,
    /// `.pt`).
    pub init_from: Option<String>,
}

impl TrainingConfig {
    /// Rejects settings no run can use, naming the setting and its valid range.
    pub fn validate(&self) -> error::Result<()> {
        let invalid = |name, value: String, expected: &str| {
            Err(LenetError::InvalidSetting {
                name,
                value,
                expected: expected.into(),
            })
        };
        self.model.feature_sizes()?;
        if self.epochs == 0 {
            return invalid("epochs", "0".into(), "at least 1");
        }
        if self.batch_size == 0 {
            return invalid("batch-size", "0".into(), "at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return invalid("lr", self.learning_rate.to_string(), "a finite number > 0");
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return invalid("lambda", self.lambda.to_string(), "a finite number >= 0");
        }
        Ok(())
    }

    /// Whether images are deskewed.
    pub fn deskews(&self) -> bool {
        self.deskew.unwrap_or(false)
    }

    /// The data this configuration trains and tests on: its random subsets of `data`,
    /// deskewed when it says so.
    pub fn prepare_data(&self, data: MnistSplits) -> error::Result<MnistSplits> {
        let data = data.subset(self.train_size, self.test_size, self.seed)?;
        if self.deskews() {
            data.deskewed()
        } else {
            Ok(data)
        }
    }

    /// Loads the configuration saved in an artifact folder.
    pub fn load_from(artifact_dir: &Path) -> error::Result<Self> {
        let path = artifact_dir.join(CONFIG_FILE);
        Self::load(&path).map_err(|e| LenetError::Artifact {
            path,
            reason: format!("cannot read the training configuration: {e}"),
        })
    }
}

impl LeNet {
    /// Forward pass plus the objective, packaged for burn-train's metrics.
    pub fn forward_objective(&self, batch: DigitBatch) -> ClassificationOutput {
        let output = self.forward(batch.images);
        let loss = loss::objective(self, output.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, output, batch.targets)
    }
}

impl TrainStep for LeNet {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.forward_objective(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for LeNet {
    type Input = DigitBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: DigitBatch) -> ClassificationOutput {
        self.forward_objective(batch)
    }
}

/// How a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// A new run in an empty (or new) artifact folder.
    Fresh,
    /// A new run that first deletes a previous run's results in the artifact folder.
    Overwrite,
    /// Continue the run in the artifact folder from its last complete checkpoint.
    Resume,
}

/// Options of one training run that are not part of the saved configuration.
#[derive(Clone)]
pub struct RunOptions {
    /// Folder for checkpoints, logs, `config.json` and `model.bpk`.
    pub artifact_dir: PathBuf,
    /// Fresh, overwrite or resume.
    pub start: StartMode,
    /// Dashboard, epoch lines or a callback.
    pub progress: Progress,
    /// Stops training when asked (Ctrl-C handlers hold a clone).
    pub interrupter: Interrupter,
}

impl RunOptions {
    /// Options for a fresh run in `artifact_dir`: burn's dashboard when stdout is a terminal,
    /// else a line per epoch.
    pub fn new(artifact_dir: impl Into<PathBuf>) -> Self {
        Self {
            artifact_dir: artifact_dir.into(),
            start: StartMode::Fresh,
            progress: if std::io::stdout().is_terminal() {
                Progress::Dashboard
            } else {
                Progress::EpochLines
            },
            interrupter: Interrupter::new(),
        }
    }
}

/// What a finished (or interrupted) run produced.
pub struct TrainingOutcome {
    /// The trained network (validation mode); saved as `model.bpk` only when every epoch ran.
    pub model: LeNet,
    /// Per-epoch results of the epochs this invocation ran.
    pub epochs: Vec<EpochStats>,
    /// Every training batch's objective in the epochs this invocation ran.
    pub batches: Vec<BatchLoss>,
    /// The final model on the whole test split.
    pub test: Evaluation,
    /// Epoch the run resumed after, if it resumed.
    pub resumed_after: Option<usize>,
    /// Whether it was stopped before its last epoch (Ctrl-C, SIGTERM, the dashboard's stop).
    pub interrupted: bool,
}

impl LenetError {
    fn diverged(divergence: Divergence, artifact_dir: &Path) -> Self {
        LenetError::Diverged {
            epoch: divergence.epoch,
            batch: divergence.batch,
            loss: divergence.loss,
            kept: checkpoint::describe_kept(artifact_dir),
        }
    }
}

/// Prepares the artifact folder for `start`; returns the epoch to resume after.
fn prepare_artifact_dir(dir: &Path, start: StartMode) -> error::Result<Option<usize>> {
    let previous = [CONFIG_FILE, MODEL_FILE, CHECKPOINT_DIR]
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.exists())
        .collect::<Vec<_>>();
    match start {
        StartMode::Resume => {
            checkpoint::remove_partial_files(dir)?;
            let epoch = checkpoint::last_checkpoint(dir).ok_or_else(|| LenetError::Artifact {
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
            for path in previous.iter().chain(&[
                dir.join("train"),
                dir.join("valid"),
                dir.join("experiment.log"),
            ]) {
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(path)
                } else if path.exists() {
                    std::fs::remove_file(path)
                } else {
                    Ok(())
                };
                removed.map_err(|e| LenetError::io(path, e))?;
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| LenetError::io(dir, e))?;
    Ok(None)
}

/// Trains the network described by `config` on `data` (already subset), on `device`.
///
/// Writes `config.json` first, a checkpoint after every epoch, and `model.bpk` at the end, all
/// into `options.artifact_dir`; returns the trained model and its test results.
pub fn train(
    config: &TrainingConfig,
    data: &MnistSplits,
    device: &Device,
    options: &RunOptions,
) -> error::Result<TrainingOutcome> {
    config.validate()?;
    if config.batch_size > data.train.len() {
        return Err(LenetError::InvalidSetting {
            name: "batch-size",
            value: config.batch_size.to_string(),
            expected: format!("1..={} (the number of training images)", data.train.len()),
        });
    }
    let dir = &options.artifact_dir;
    let resumed_after = prepare_artifact_dir(dir, options.start)?;
    match resumed_after {
        None => {
            let path = dir.join(CONFIG_FILE);
            write_atomically(&path, |tmp| config.save(tmp))
                .map_err(|e| LenetError::io(&path, e))?;
        }
        Some(epoch) => checkpoint::check_restorable(dir, epoch, &config.model, device)?,
    }

    let train_device = device.clone().autodiff();
    let mut model = config.model.init_seeded(&train_device, config.seed);
    if let (Some(path), None) = (&config.init_from, resumed_after) {
        model = weights::load(model, Path::new(path))?;
    }
    model.weight_decay = config.lambda;

    let first_epoch = resumed_after.map_or(1, |epoch| epoch + 1);
    let loader_train = Arc::new(EpochShuffledLoader::new(
        data.train.clone(),
        Arc::new(DigitBatcher),
        config.batch_size,
        config.seed,
        first_epoch,
        train_device.clone(),
    ));
    let loader_test = DataLoaderBuilder::new(DigitBatcher)
        .batch_size(EVAL_BATCH_SIZE)
        .build(data.test.clone());

    let log: SharedRunLog = Arc::new(Mutex::new(Default::default()));
    let (dashboard, hook): (Option<Box<dyn MetricsRenderer>>, _) = match &options.progress {
        Progress::Dashboard => (
            Some(Box::new(TuiMetricsRendererWrapper::new(
                options.interrupter.clone(),
                resumed_after,
            ))),
            None,
        ),
        Progress::EpochLines => (None, None),
        Progress::Hook(hook) => (None, Some(hook.clone())),
    };
    let (model_checkpoints, optim_checkpoints, scheduler_checkpoints) =
        checkpoint::checkpointers(dir);
    let renderer = EpochRenderer::new(dashboard, hook, log.clone(), options.interrupter.clone());
    let mut training = SupervisedTraining::new(dir, loader_train, loader_test)
        .metrics((LossMetric::new(), ErrorRateMetric::new()))
        .with_custom_checkpointers(model_checkpoints, optim_checkpoints, scheduler_checkpoints)
        .with_interrupter(options.interrupter.clone())
        .num_epochs(config.epochs)
        .renderer(Box::new(renderer));
    if let Some(epoch) = resumed_after {
        training = training.checkpoint(epoch);
    }

    let learner = Learner::new(model, SgdConfig::new().init(), config.learning_rate);
    let result = training.launch(learner);
    if let Some(error) = result.error {
        return Err(LenetError::Training(error.to_string()));
    }
    let log = log.lock().expect("run log poisoned").clone();
    if let Some(divergence) = log.divergence {
        return Err(LenetError::diverged(divergence, dir));
    }
    // burn's dashboard resets the interrupter when training ends, so also count the epochs.
    let last_epoch = log
        .epochs
        .last()
        .map(|e| e.epoch)
        .or(resumed_after)
        .unwrap_or(0);
    let interrupted = result.interrupted.is_some() || last_epoch < config.epochs;
    let model = result.model;

    if !interrupted {
        let path = dir.join(MODEL_FILE);
        write_atomically(&path, |tmp| model.clone().into_record().save(tmp)).map_err(|e| {
            LenetError::Artifact {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
    }

    let test = inference::evaluate(&model, &data.test, device)?;
    Ok(TrainingOutcome {
        model,
        epochs: log.epochs,
        batches: log.batches,
        test,
        resumed_after,
        interrupted,
    })
}
