//! [`train`]: one training run, from a configuration and data to a saved model.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::SgdConfig;
use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::optim::momentum::MomentumConfig;
use burn::prelude::*;
use burn::train::checkpoint::{
    CheckpointerError, ComposedCheckpointingStrategy, KeepLastNCheckpoints,
    MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{LearningRateMetric, LossMetric};
use burn::train::{
    Interrupter, Learner, LearningResult, MetricEarlyStoppingStrategy, StoppingCondition,
    SupervisedTraining, TrainingError,
};

use super::ending::Ending;
use super::loader::EpochShuffledLoader;
use super::progress::Progress;
use super::recorder::{BatchLoss, EpochStats, EpochTimes, RunLog, RunRecorder, SharedRunLog};
use super::step::{Objective, TrainingModel};
use super::tensorboard::{TensorBoard, TensorBoardLogger};
use crate::artifacts::{Kind, RunFolder, SavedEvaluation, StartMode, write_atomically};
use crate::backend::{self, Backend};
use crate::compute::Compute;
use crate::config::{Schedule, TrainingConfig, TrainingOverrides};
use crate::data::{DigitBatch, DigitBatcher, DigitItem, MnistSplits, RunData};
use crate::error::{LenetError, Result};
use crate::eval::{EVAL_BATCH_SIZE, Evaluation, TrainedModel};
use crate::metric::ErrorRateMetric;
use crate::model::LeNet;
use crate::tensorboard::RunStatus;
use crate::weights::{self, LoadOptions};

/// Options of one training run that are not part of the saved configuration.
#[derive(Clone)]
pub struct RunOptions {
    /// Folder for checkpoints, `config.json` and `model.bpk`.
    pub artifact_dir: PathBuf,
    /// Fresh, overwrite or resume.
    pub start: StartMode,
    /// Dashboard, epoch lines or a callback.
    pub progress: Progress,
    /// Stops training when asked (Ctrl-C handlers hold a clone).
    pub interrupter: Interrupter,
    /// How steps, the test passes and the final evaluation are computed: `None` (the default)
    /// for the backend's own path ([`backend::compute_for`]); another to compare the paths.
    pub compute: Option<Compute>,
    /// Write TensorBoard event files into the run folder (the default; see
    /// [`super::tensorboard`]).
    pub tensorboard: bool,
}

impl RunOptions {
    /// Options for a fresh run in `artifact_dir`: burn's dashboard when stdout is a terminal,
    /// else a line per epoch.
    pub fn new(artifact_dir: impl Into<PathBuf>) -> Self {
        Self {
            artifact_dir: artifact_dir.into(),
            start: StartMode::Fresh,
            progress: Progress::for_stdout(),
            interrupter: Interrupter::new(),
            compute: None,
            tensorboard: true,
        }
    }

    /// Starts fresh, overwrites a previous run, or resumes it.
    pub fn with_start(mut self, start: StartMode) -> Self {
        self.start = start;
        self
    }

    /// Reports progress this way instead of the dashboard or epoch lines.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Stops when `interrupter` is asked to (a Ctrl-C handler holds a clone of it).
    pub fn with_interrupter(mut self, interrupter: Interrupter) -> Self {
        self.interrupter = interrupter;
        self
    }

    /// Computes the passes with `compute` instead of the backend's own path.
    pub fn with_compute(mut self, compute: Compute) -> Self {
        self.compute = Some(compute);
        self
    }

    /// Writes TensorBoard event files, or not.
    pub fn with_tensorboard(mut self, tensorboard: bool) -> Self {
        self.tensorboard = tensorboard;
        self
    }
}

/// What a finished (or interrupted) run produced.
pub struct TrainingOutcome {
    /// The trained network; saved as `model.bpk` only when every epoch ran.
    pub model: LeNet,
    /// Per-epoch results of the epochs this invocation ran.
    pub epochs: Vec<EpochStats>,
    /// How long each of those epochs' training and test passes took.
    pub times: Vec<EpochTimes>,
    /// Every training batch's objective in the epochs this invocation ran.
    pub batches: Vec<BatchLoss>,
    /// The final model on the whole test split.
    pub test: Evaluation,
    /// Epoch the run resumed after, if it resumed.
    pub resumed_after: Option<usize>,
    /// Whether it was stopped before its last epoch (Ctrl-C, SIGTERM, the dashboard's stop).
    pub interrupted: bool,
    /// The last epoch whose checkpoint exists (0: none); an interrupted run stopped in the
    /// epoch after it.
    pub last_epoch: usize,
    /// With `patience`: the epoch of the lowest validation error, whose weights are the model.
    pub best_epoch: Option<usize>,
    /// With `patience`: whether the run stopped early, the validation error not having
    /// improved for `patience` epochs.
    pub stopped_early: bool,
    /// With a partial `init_from`: the network's tensors that kept their initial values.
    pub kept_initial: Vec<String>,
}

/// The batches a run of `config` trains on, from epoch `first_epoch` on: `data`'s training
/// images reshuffled every epoch and distorted as `config` says, on `device`.
pub fn training_loader(
    config: &TrainingConfig,
    data: &MnistSplits,
    first_epoch: usize,
    device: &Device,
) -> EpochShuffledLoader<DigitItem, DigitBatch> {
    let loader = EpochShuffledLoader::new(
        data.train.clone(),
        Arc::new(DigitBatcher),
        config.batch_size,
        config.seed,
        first_epoch,
        device.clone(),
    );
    let distortions = config.distortions();
    if distortions.is_identity() {
        return loader;
    }
    loader.with_transform(Arc::new(move |item: &mut DigitItem, seed| {
        item.pixels = distortions.distort(&item.pixels, seed)
    }))
}

/// Trains the network described by `config` on `data` (selected by
/// [`TrainingConfig::select_data`]; data selected otherwise is refused), on `device`.
///
/// The run in its phases, each a function below:
/// 1. `checked_data`: the configuration against the data;
/// 2. the artifact folder's lock (held until the run returns: one writer per folder), then
///    `begin`: the network with its seeded initialisation (or the weights of `init_from`),
///    `config.json` written (or, resuming, the last checkpoint checked); a start that fails
///    leaves no `config.json`, and no folder if it created it;
/// 3. `Session::build`: burn-train's `SupervisedTraining` (loaders, metrics, the
///    [`RunRecorder`], TensorBoard, crash-safe checkpoints, early stopping), and `learner`:
///    plain SGD on a [`TrainingModel`] step per batch; burn-train runs the epochs, the test
///    split after each and a checkpoint after each;
/// 4. `finish`: how the run ended, `model.bpk` saved if every epoch ran, the final network
///    evaluated on the test split.
pub fn train(
    config: &TrainingConfig,
    data: &RunData,
    device: &Device,
    options: &RunOptions,
) -> Result<TrainingOutcome> {
    let data = checked_data(config, data)?;
    let run = RunFolder::new(&options.artifact_dir);
    let created = !options.artifact_dir.exists();
    let _lock = run.lock()?;
    let started = begin(config, &run, options.start, device, created)?;
    let compute = options
        .compute
        .unwrap_or_else(|| backend::compute_for(device));
    let session = Session::build(config, data, device, &run, options, started.resumed_after);
    let learner = learner(config, started.net, compute, data.train.len())?;
    let result = session.training.launch(learner);
    finish(
        config,
        data,
        &run,
        device,
        compute,
        Ended {
            result,
            log: session.log,
            tensorboard: session.tensorboard,
            resumed_after: started.resumed_after,
            kept_initial: started.kept_initial,
        },
    )
}

/// The splits of `data` when `config` selected them and they suit it.
fn checked_data<'a>(config: &TrainingConfig, data: &'a RunData) -> Result<&'a MnistSplits> {
    if data.selection() != &config.selection() {
        return Err(LenetError::Selection {
            data: format!("{:?}", data.selection()),
            config: format!("{:?}", config.selection()),
        });
    }
    let data = data.splits();
    config.validate_for(data)?;
    Ok(data)
}

/// What a run starts from.
struct Started {
    /// The epoch it resumes after, if it resumes.
    resumed_after: Option<usize>,
    /// The network, on the autodiff device.
    net: LeNet,
    /// The tensors `init_from` left at their initial values.
    kept_initial: Vec<String>,
}

/// burn-train's training of a run, and what records it.
struct Session {
    /// The epochs, the test passes, the checkpoints and the progress, ready to launch.
    training: SupervisedTraining<TrainingModel>,
    /// What the [`RunRecorder`] records: every epoch, batch and time, a divergence.
    log: SharedRunLog,
    /// The run's TensorBoard file, when one is written.
    tensorboard: Option<TensorBoard>,
}

impl Session {
    /// The training of `config` on `data` (its batches made on `device` with autodiff) into
    /// `run`'s folder, from the epoch after `resumed_after`: loaders, metrics, recorder,
    /// TensorBoard, checkpoints and, with `patience`, the best epoch kept and early stopping.
    fn build(
        config: &TrainingConfig,
        data: &MnistSplits,
        device: &Device,
        run: &RunFolder,
        options: &RunOptions,
        resumed_after: Option<usize>,
    ) -> Self {
        let train_device = device.clone().autodiff();
        let first_epoch = resumed_after.map_or(1, |epoch| epoch + 1);
        let loader_train = training_loader(config, data, first_epoch, &train_device);
        let loader_test = DataLoaderBuilder::new(DigitBatcher)
            .batch_size(EVAL_BATCH_SIZE)
            .build(data.test.clone());
        let log: SharedRunLog = Arc::new(Mutex::new(RunLog::default()));
        let (renderer, report) = options
            .progress
            .renderer(&options.interrupter, resumed_after);
        let recorder = RunRecorder::new(
            log.clone(),
            report,
            options.interrupter.clone(),
            config.epochs,
            data.train.len(),
        );
        let [model_checkpoints, optim_checkpoints, scheduler_checkpoints] = run.checkpointers();
        let mut training = SupervisedTraining::new(run.path(), Arc::new(loader_train), loader_test)
            .metrics((LossMetric::new(), ErrorRateMetric::new()))
            .metric_train_numeric(LearningRateMetric::new())
            .with_metric_logger(recorder)
            .with_application_logger(None)
            .with_custom_checkpointers(model_checkpoints, optim_checkpoints, scheduler_checkpoints)
            .with_interrupter(options.interrupter.clone())
            .num_epochs(config.epochs)
            .renderer(renderer);
        if let Some(epoch) = resumed_after {
            training = training.checkpoint(epoch);
        }
        let tensorboard = options
            .tensorboard
            .then(|| TensorBoard::open(run.path(), config, data.train.len(), resumed_after))
            .flatten();
        if let Some(file) = &tensorboard {
            training = training.with_metric_logger(TensorBoardLogger::new(
                file.clone(),
                data.train.len(),
                config.holdout.is_some(),
            ));
        }
        if let Some(patience) = config.patience {
            training = keep_best_and_stop_early(training, patience);
        }
        Self {
            training,
            log,
            tensorboard,
        }
    }
}

/// With `patience`: keep the best epoch by validation error (not burn's default, the loss)
/// besides the last two, and stop after `patience` epochs without a better one.
fn keep_best_and_stop_early(
    training: SupervisedTraining<TrainingModel>,
    patience: usize,
) -> SupervisedTraining<TrainingModel> {
    training
        .with_checkpointing_strategy(
            ComposedCheckpointingStrategy::builder()
                .add(KeepLastNCheckpoints::new(2))
                .add(MetricCheckpointingStrategy::new(
                    &ErrorRateMetric::new(),
                    Aggregate::Mean,
                    Direction::Lowest,
                    Split::Valid,
                ))
                .build(),
        )
        .early_stopping(MetricEarlyStoppingStrategy::new(
            &ErrorRateMetric::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince { n_epochs: patience },
        ))
}

/// The learner: `net` trained on the objective (computed as `compute` says) by SGD, with
/// `config`'s momentum and learning-rate schedule over `train_images` a epoch.
fn learner(
    config: &TrainingConfig,
    net: LeNet,
    compute: Compute,
    train_images: usize,
) -> Result<Learner<TrainingModel>> {
    let objective = Objective {
        lambda: config.lambda,
        compute,
    };
    let momentum = (config.momentum > 0.0).then(|| {
        MomentumConfig::new()
            .with_momentum(config.momentum)
            .with_dampening(0.0)
    });
    Ok(Learner::new(
        TrainingModel { net, objective },
        SgdConfig::new().with_momentum(momentum).init(),
        scheduler(config, train_images)?,
    ))
}

/// What burn-train left when it returned, and what the run started from.
struct Ended {
    result: LearningResult<TrainingModel>,
    log: SharedRunLog,
    tensorboard: Option<TensorBoard>,
    resumed_after: Option<usize>,
    kept_initial: Vec<String>,
}

/// How the run ended ([`Ending::decide`]); the model (the best epoch's with `patience`)
/// evaluated on the test split, and saved as `model.bpk` with `evaluation.json` when every
/// epoch ran; a failure or a divergence as an error.
fn finish(
    config: &TrainingConfig,
    data: &MnistSplits,
    run: &RunFolder,
    device: &Device,
    compute: Compute,
    ended: Ended,
) -> Result<TrainingOutcome> {
    let Ended {
        result,
        log,
        tensorboard,
        resumed_after,
        kept_initial,
    } = ended;
    let log = log.lock().expect("run log poisoned").clone();
    if result.error.is_some() || log.divergence.is_some() {
        tensorboard
            .iter()
            .for_each(|file| file.end(RunStatus::Failure));
    }
    if let Some(error) = result.error {
        return Err(failure(run, error));
    }
    if let Some(divergence) = log.divergence {
        return Err(LenetError::Diverged {
            epoch: divergence.epoch,
            batch: divergence.batch,
            loss: divergence.loss,
            kept: run.describe_kept(),
        });
    }
    let errors: Vec<(usize, f64)> = log.epochs.iter().map(|e| (e.epoch, e.test_error)).collect();
    let ending = Ending::decide(
        config.epochs,
        config.patience,
        resumed_after,
        &errors,
        result.interrupted.is_some(),
    );
    let status = if ending.interrupted {
        RunStatus::Failure
    } else {
        RunStatus::Success
    };
    tensorboard.iter().for_each(|file| file.end(status));
    let model = match ending.checkpoint_to_load() {
        Some(best) => {
            let checkpoint = run.checkpoint_file(Kind::Model, best);
            let initial = config.model.init(device);
            weights::load_with(initial, &checkpoint, &LoadOptions::default())?.0
        }
        None => result.model.net,
    };
    let trained =
        TrainedModel::new(config.clone(), model, run.model_file(), device).with_compute(compute);
    let test = trained.evaluate_preprocessed(&data.test)?;
    let model = trained.net;
    if !ending.interrupted {
        if let Some(resumed) = resumed_after {
            // burn-train's checkpointing strategy only deletes the epochs it saw: the ones
            // from before the resume would stay forever.
            run.remove_stale_checkpoints(resumed, ending.last_epoch)?;
        }
        run.save_network(&model)?;
        run.save_evaluation(&SavedEvaluation {
            test_error: test.error_rate(),
            test_mse: test.mse,
            test_images: test.total,
            epochs: config.epochs,
            best_epoch: ending.best_epoch,
            adapter: match Backend::of(device) {
                Some(Backend::Wgpu) => backend::wgpu_adapter(),
                _ => None,
            },
        })?;
    }
    Ok(TrainingOutcome {
        model,
        epochs: log.epochs,
        times: log.times,
        batches: log.batches,
        test,
        resumed_after,
        interrupted: ending.interrupted,
        last_epoch: ending.last_epoch,
        kept_initial,
        best_epoch: ending.best_epoch,
        stopped_early: ending.stopped_early,
    })
}

/// The error of a run that burn-train stopped. A checkpoint that could not be written (a full
/// disk) is removed with the files of its epoch that were, so that the folder holds complete
/// checkpoints only and the command the error gives (resume, or start again) works.
fn failure(run: &RunFolder, error: Arc<TrainingError>) -> LenetError {
    if let Err(cleaning) = run.remove_incomplete_checkpoints() {
        return cleaning;
    }
    match &*error {
        TrainingError::Checkpoint(CheckpointerError::IOError(io)) => LenetError::Checkpoint {
            epoch: run.last_checkpoint().unwrap_or(0) + 1,
            source: std::io::Error::new(io.kind(), io.to_string()),
            kept: run.describe_kept(),
        },
        _ => LenetError::Training(error),
    }
}

/// Phase 2 of [`train`] once the lock is held: builds the network (`init_from` is read before
/// anything in the folder changes: a bad one loses no previous run), begins the run in `run`'s
/// folder, writes `config.json`. A start that fails removes the folder if this run `created`
/// it: nothing of the run's was written.
fn begin(
    config: &TrainingConfig,
    run: &RunFolder,
    mode: StartMode,
    device: &Device,
    created: bool,
) -> Result<Started> {
    start(config, run, mode, device).inspect_err(|_| {
        if created {
            let _ = std::fs::remove_dir_all(run.path());
        }
    })
}

/// [`begin`]'s work, its cleanup aside.
fn start(
    config: &TrainingConfig,
    run: &RunFolder,
    mode: StartMode,
    device: &Device,
) -> Result<Started> {
    let mut net = config.model.init_seeded_scaled(
        &device.clone().autodiff(),
        config.seed,
        config.init.gain(),
    );
    let mut kept_initial = Vec::new();
    if let (Some(path), false) = (&config.init_from, mode == StartMode::Resume) {
        let (loaded, report) = weights::load_with(net, path, &config.init_options()?)?;
        net = loaded;
        kept_initial = report.kept;
    }
    let resumed_after = run.begin(mode)?;
    match resumed_after {
        None => {
            let path = run.config_file();
            write_atomically(&path, |tmp| config.save(tmp))
                .map_err(|e| LenetError::io(&path, e))?;
        }
        Some(epoch) => check_checkpoint(run.path(), epoch, config, device)?,
    }
    Ok(Started {
        resumed_after,
        net,
        kept_initial,
    })
}

/// The learning rate of every step of the run.
fn scheduler(config: &TrainingConfig, train_images: usize) -> Result<ModuleLrScheduler> {
    let steps_per_epoch = train_images.div_ceil(config.batch_size);
    let eta = config.learning_rate;
    let cosine = |epochs: usize| {
        CosineAnnealingLrSchedulerConfig::new(eta, epochs * steps_per_epoch)
            .with_min_lr(eta / 100.0)
    };
    let name = format!("{:?}", config.schedule).to_lowercase();
    let invalid = |reason| TrainingOverrides::invalid("schedule", &name, reason);
    Ok(match config.schedule {
        Schedule::Constant => eta.into(),
        Schedule::Cosine => cosine(config.epochs).init().map_err(invalid)?,
        Schedule::Tail => {
            let constant_epochs = config.epochs - config.decay_epochs;
            SequentialLrSchedulerConfig::new(
                vec![
                    LrSchedulerConfig::Constant(eta),
                    LrSchedulerConfig::Cosine(cosine(config.decay_epochs)),
                ],
                vec![constant_epochs * steps_per_epoch],
            )
            .init()
            .map_err(invalid)?
        }
    })
}

/// Checks that the checkpoint of `epoch` in the artifact folder `dir` can be restored into the
/// learner's model for `config` (so that a resume fails with a clear error rather than inside
/// burn-train).
pub fn check_checkpoint(
    dir: &Path,
    epoch: usize,
    config: &TrainingConfig,
    device: &Device,
) -> Result<()> {
    let model = TrainingModel {
        net: config.model.init(device),
        objective: Objective {
            lambda: config.lambda,
            compute: backend::compute_for(device),
        },
    };
    RunFolder::new(dir).check_restorable(epoch, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The learning rate of every step of a run of `config` on `images` training images.
    fn rates(config: &TrainingConfig, images: usize) -> Vec<f64> {
        let mut scheduler = scheduler(config, images).unwrap();
        let steps = config.epochs * images.div_ceil(config.batch_size);
        (0..steps).map(|_| scheduler.step().base()).collect()
    }

    #[test]
    fn the_tail_keeps_eta_then_falls_along_a_half_cosine_to_a_hundredth() {
        // 5 epochs of 100 images at batch 10: 50 steps, the last 2 epochs (20 steps) decaying.
        let config = TrainingConfig::default()
            .with_epochs(5)
            .with_batch_size(10)
            .with_learning_rate(0.8)
            .with_schedule(Schedule::Tail)
            .with_decay_epochs(2);
        let tailed = rates(&config, 100);
        assert_eq!(tailed.len(), 50);
        assert!(tailed[..30].iter().all(|&r| r == 0.8), "{tailed:?}");
        let tail = &tailed[30..];
        assert!(
            tail.windows(2).all(|w| w[1] < w[0]),
            "falls every step: {tail:?}"
        );
        // A half cosine from η to η/100 over the 20 steps: halfway at step 10.
        let cosine =
            |t: f64| 0.008 + (0.8 - 0.008) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0;
        for (i, &r) in tail.iter().enumerate() {
            assert!(
                (r - cosine(i as f64 / 20.0)).abs() < 1e-9,
                "step {i} of the tail: {r}"
            );
        }
        // The constant schedule never changes; cosine starts falling at once.
        let constant = rates(&config.clone().with_schedule(Schedule::Constant), 100);
        assert!(constant.iter().all(|&r| r == 0.8));
        let cosine_all = rates(&config.clone().with_schedule(Schedule::Cosine), 100);
        assert!(
            cosine_all[1] < 0.8 && cosine_all[49] < 0.02,
            "{cosine_all:?}"
        );
    }

    #[test]
    fn a_tail_as_long_as_the_run_is_refused_naming_both_settings() {
        let config = TrainingConfig::default()
            .with_epochs(10)
            .with_schedule(Schedule::Tail)
            .with_decay_epochs(10);
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("decay-epochs = 10") && error.contains("--epochs (10)"),
            "{error}"
        );
        let steep = TrainingConfig::default()
            .with_schedule(Schedule::Tail)
            .with_learning_rate(2.0);
        assert!(steep.validate().unwrap_err().to_string().contains("lr = 2"));
    }
}
