//! `trainer train`: a training run with burn-train's dashboard or a line per epoch, stopped
//! cleanly by Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use burn::train::Interrupter;
use clap::Args;
use lenet::TrainingConfig;
use lenet::TrainingOverrides;
use lenet::artifacts::{RunFolder, StartMode};
use lenet::cli::{BackendArg, DataArg, TensorBoardArg};
use lenet::data::RunData;
use lenet::train::{RunOptions, TrainingOutcome};

use super::Outcome;

/// Options of `trainer train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    backend: BackendArg,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    settings: TrainingOverrides,
    /// Folder for checkpoints, config.json and model.bpk.
    #[arg(long, default_value = "runs/lenet", value_name = "DIR")]
    artifact_dir: PathBuf,
    /// Continue the run in --artifact-dir from its last checkpoint, with its saved config.json
    /// (only --epochs may change it).
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Replace a previous run's results in --artifact-dir.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    tensorboard: TensorBoardArg,
}

impl TrainArgs {
    fn start_mode(&self) -> StartMode {
        match (self.resume, self.overwrite) {
            (true, _) => StartMode::Resume,
            (false, true) => StartMode::Overwrite,
            (false, false) => StartMode::Fresh,
        }
    }
}

/// `trainer train` (and `trainer` alone): one training run, as the flags say.
pub fn run(args: &TrainArgs) -> Result<Outcome> {
    let config = args
        .settings
        .config_for(args.start_mode(), &args.artifact_dir)?;
    let device = args.backend.device()?;
    println!(
        "{}",
        lenet::model::describe(&config.model, &config.model.init(&device))
    );
    let data = load_data(&args.data, &config)?;
    println!(
        "training on {} for {} epochs: batch {}, lr {}, lambda {}, seed {} -> {}",
        args.backend.backend,
        config.epochs,
        config.batch_size,
        config.learning_rate,
        config.lambda,
        config.seed,
        args.artifact_dir.display()
    );
    let options = RunOptions::new(&args.artifact_dir)
        .with_start(args.start_mode())
        .with_tensorboard(args.tensorboard.enabled());
    stop_on_signals(&options.interrupter, &args.artifact_dir)?;
    // A kill from burn-train's dashboard is a panic (exit code 101, as if the program had
    // crashed): it ends here as a stopped run instead (130, the last complete checkpoint kept).
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lenet::train(&config, &data, &device, &options)
    }));
    let outcome = match run {
        Ok(Err(error @ lenet::LenetError::Checkpoint { .. })) => {
            // A full disk, say: the error, and the command that goes on once it is mended.
            let error = anyhow::Error::new(error)
                .context(format!("training into {}", args.artifact_dir.display()));
            anyhow::bail!(
                "{}; once that is mended, continue with: {}",
                crate::exit::one_line(&error),
                continue_command(&args.artifact_dir)
            );
        }
        Ok(result) => {
            result.with_context(|| format!("training into {}", args.artifact_dir.display()))?
        }
        Err(payload) if killed_from_the_dashboard(payload.as_ref()) => {
            eprintln!(
                "stopped from the dashboard: {}",
                RunFolder::new(&args.artifact_dir).how_to_continue()
            );
            return Ok(Outcome::Interrupted);
        }
        Err(payload) => std::panic::resume_unwind(payload),
    };
    Ok(report(
        &config,
        &outcome,
        &RunFolder::new(&args.artifact_dir),
    ))
}

/// Prints how a run in `run`'s folder ended: what it resumed after, kept or stopped on, then
/// its final error and where the model is, or where it was interrupted and how to go on.
fn report(config: &TrainingConfig, outcome: &TrainingOutcome, run: &RunFolder) -> Outcome {
    if let Some(epoch) = outcome.resumed_after {
        println!("resumed after epoch {epoch}");
    }
    if !outcome.kept_initial.is_empty() {
        println!(
            "kept their initial values (not taken from --init-from): {}",
            outcome.kept_initial.join(", ")
        );
    }
    if outcome.stopped_early {
        println!(
            "stopped early: no lower validation error for {} epochs",
            config.patience.unwrap_or_default()
        );
    }
    if let Some(best) = outcome.best_epoch {
        println!("the model is epoch {best}'s, the lowest validation error");
    }
    // With --holdout the run is evaluated on the validation split; the test split is unread.
    let split = if config.holdout.is_some() {
        "validation"
    } else {
        "test"
    };
    if outcome.interrupted {
        println!(
            "interrupted in epoch {} of {} ({split} error at the stop: {:.2}%): {}",
            outcome.last_epoch + 1,
            config.epochs,
            outcome.test.error_rate(),
            run.how_to_continue(),
        );
        return Outcome::Interrupted;
    }
    println!(
        "final {split} error: {:.2}% ({}/{}), {split} MSE {:.5}; model saved to {}",
        outcome.test.error_rate(),
        outcome.test.errors,
        outcome.test.total,
        outcome.test.mse,
        run.model_file().display()
    );
    Outcome::Finished
}

/// The command line this program was started with, made to continue the run in `dir`: with
/// `--resume` when a checkpoint is kept, else as it was (a folder whose run wrote no checkpoint
/// is started again), and without `--overwrite`, which would delete what is kept.
fn continue_command(dir: &Path) -> String {
    let resume = RunFolder::new(dir).last_checkpoint().is_some();
    let words: Vec<String> = std::env::args_os()
        .map(|word| word.to_string_lossy().into_owned())
        .filter(|word| word != "--resume" && word != "--overwrite")
        .chain(resume.then(|| "--resume".to_string()))
        .collect();
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

fn load_data(args: &DataArg, config: &TrainingConfig) -> Result<RunData> {
    let data = args.load()?;
    let (train, test) = (data.train.len(), data.test.len());
    let data = config.select_data(data)?;
    println!(
        "data: {} of {train} training and {} of {test} test images{}{}",
        data.splits().train.len(),
        data.splits().test.len(),
        if config.deskew { ", deskewed" } else { "" },
        args.data_dir
            .as_ref()
            .map(|d| format!(" from {}", d.display()))
            .unwrap_or_default()
    );
    Ok(data)
}

/// How long the first Ctrl-C or SIGTERM waits for the current batch before the program exits
/// anyway (a batch on a software GPU renderer, or of a huge network, can take minutes).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The first Ctrl-C or SIGTERM stops training after the current batch (the last complete
/// checkpoint stays), or after [`STOP_GRACE`] at the latest; a second one exits at once.
/// Checkpoints are written atomically, so exiting mid-batch loses only that epoch's work.
fn stop_on_signals(interrupter: &Interrupter, artifact_dir: &Path) -> Result<()> {
    let interrupter = interrupter.clone();
    let run = RunFolder::new(artifact_dir);
    let received = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if received.swap(true, Ordering::SeqCst) {
            eprintln!("second signal: exiting now");
            lenet::atomic::exit_removing_unfinished(130);
        }
        eprintln!("stopping after the current batch (signal again to exit now)");
        interrupter.stop(Some("stopped by a signal"));
        let run = run.clone();
        std::thread::spawn(move || {
            std::thread::sleep(STOP_GRACE);
            eprintln!(
                "the batch did not end within {} s: exiting now; {}",
                STOP_GRACE.as_secs(),
                run.how_to_continue()
            );
            lenet::atomic::exit_removing_unfinished(130);
        });
    })
    .context("installing the Ctrl-C/SIGTERM handler")
}

/// Whether a panic is burn-train's dashboard ending a run its user killed from the quit menu
/// ("Killing training from user input."): burn-train stops the training threads that way, and
/// its own panic hook has already told the user.
fn killed_from_the_dashboard(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned());
    message.is_some_and(|m| m.starts_with("Killing training from user input"))
}
