//! `trainer`: trains the paper's improved LeNet-5 on MNIST with burn.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use burn::prelude::Module;
use burn::train::Interrupter;
use clap::{Args, Parser, Subcommand};
use lenet::backend::Backend;
use lenet::data::MnistSplits;
use lenet::model::{LeNet, LeNetConfig, Subsampling};
use lenet::training::{self, RunOptions, StartMode, TrainingConfig};
use lenet::weights::{self, WeightFormat};
use lenet::{digit_image, inference};

/// Train the improved LeNet-5 of the paper on MNIST (burn, burn-train's dashboard).
#[derive(Parser, Debug)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a network (the default when no subcommand is given).
    Train(TrainArgs),
    /// Evaluate a trained model on the MNIST test split: error, per-class error, confusion matrix.
    Eval(EvalArgs),
    /// Classify digit images (PNG, JPEG, BMP, ... of any size).
    Predict(PredictArgs),
    /// Write a trained model's weights as burnpack or as SafeTensors that PyTorch loads.
    Export(ExportArgs),
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// A model.bpk with its config.json beside it (or the folder holding both).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Folder with the four MNIST IDX files (raw or .gz). Without it, MNIST is downloaded.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Backend: ndarray, flex or wgpu.
    #[arg(long, default_value = "flex", value_parser = parse_backend)]
    backend: Backend,
    /// Where to write the confusion matrix as CSV [default: confusion.csv beside the model].
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// A model.bpk with its config.json beside it (or the folder holding both).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Backend: ndarray, flex or wgpu.
    #[arg(long, default_value = "flex", value_parser = parse_backend)]
    backend: Backend,
    /// Images to classify.
    #[arg(required = true, value_name = "IMG")]
    images: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Backend: ndarray, flex (pure-Rust CPU) or wgpu (GPU; lavapipe without one).
    #[arg(long, default_value = "flex", value_parser = parse_backend)]
    backend: Backend,
    /// Folder with the four MNIST IDX files (raw or .gz). Without it, MNIST is downloaded.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Train on a random subset of this many training images (the paper: 2000) [default: all].
    #[arg(long, value_name = "N")]
    train_size: Option<usize>,
    /// Test on a random subset of this many test images (the paper: 1000) [default: all].
    #[arg(long, value_name = "M")]
    test_size: Option<usize>,
    /// Passes over the training set [default: 10]. With --resume: the new total.
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per SGD step.
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
    /// Constant SGD learning rate η.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    lr: f64,
    /// Weight decay λ in E = 1/m Σ ½‖t−y‖² + λ/2 Σ W².
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    lambda: f64,
    /// Feature maps of C1.
    #[arg(long, default_value_t = 6)]
    c1: usize,
    /// Feature maps of C3.
    #[arg(long, default_value_t = 12)]
    c3: usize,
    /// Side of the square convolution kernels.
    #[arg(long, default_value_t = 5)]
    kernel_size: usize,
    /// Subsampling layers: mean (plain 2x2 average) or paper (formula 3, rescaled: sigmoid(4·(mean−½) + bias)).
    #[arg(long, default_value = "mean", value_parser = parse_subsampling)]
    subsampling: Subsampling,
    /// Seed of the initial weights, the data subsets and the shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Folder for checkpoints, logs, config.json and model.bpk.
    #[arg(long, default_value = "runs/lenet", value_name = "DIR")]
    artifact_dir: PathBuf,
    /// Continue the run in --artifact-dir from its last checkpoint, with its saved config.json
    /// (only --epochs, --backend and --data-dir are taken from the command line).
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Replace a previous run's results in --artifact-dir.
    #[arg(long)]
    overwrite: bool,
    /// Deskew every image (training, test, and later eval/predict with this model).
    #[arg(long)]
    deskew: bool,
    /// Start from these weights (.bpk, .safetensors or PyTorch .pt/.pth) instead of random ones.
    #[arg(long, value_name = "FILE")]
    init_from: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// A model.bpk with its config.json beside it (or the folder holding both).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Output format: bpk (burnpack) or safetensors (PyTorch names and layout).
    #[arg(long, value_parser = ["bpk", "safetensors"])]
    format: String,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

fn parse_backend(name: &str) -> Result<Backend, String> {
    name.parse().map_err(|e: lenet::LenetError| e.to_string())
}

fn parse_subsampling(name: &str) -> Result<Subsampling, String> {
    name.parse().map_err(|e: lenet::LenetError| e.to_string())
}

impl TrainArgs {
    /// The run's configuration: the saved one when resuming, else the flags'.
    fn config(&self) -> Result<TrainingConfig> {
        if self.resume {
            let mut config = TrainingConfig::load_from(&self.artifact_dir)?;
            if let Some(epochs) = self.epochs {
                config.epochs = epochs;
            }
            return Ok(config);
        }
        let model = LeNetConfig::new()
            .with_c1(self.c1)
            .with_c3(self.c3)
            .with_kernel_size(self.kernel_size)
            .with_subsampling(self.subsampling);
        let mut config = TrainingConfig::new(model)
            .with_batch_size(self.batch_size)
            .with_learning_rate(self.lr)
            .with_lambda(self.lambda)
            .with_seed(self.seed)
            .with_train_size(self.train_size)
            .with_test_size(self.test_size)
            .with_deskew(Some(self.deskew))
            .with_init_from(self.init_from.as_ref().map(|p| p.display().to_string()));
        if let Some(epochs) = self.epochs {
            config.epochs = epochs;
        }
        Ok(config)
    }

    fn start_mode(&self) -> StartMode {
        match (self.resume, self.overwrite) {
            (true, _) => StartMode::Resume,
            (false, true) => StartMode::Overwrite,
            (false, false) => StartMode::Fresh,
        }
    }
}

fn describe(model: &LeNet) -> String {
    format!(
        "{} parameters (C1 {}, S2 {}, C3 {}, S4 {}, FC {})",
        model.num_params(),
        model.c1.num_params(),
        model.s2.num_params(),
        model.c3.num_params(),
        model.s4.num_params(),
        model.fc.num_params()
    )
}

fn load_data(dir: Option<&Path>, config: &TrainingConfig) -> Result<MnistSplits> {
    let data = MnistSplits::load(dir)?;
    let (train, test) = (data.train.len(), data.test.len());
    let data = config.prepare_data(data)?;
    println!(
        "data: {} of {train} training and {} of {test} test images{}{}",
        data.train.len(),
        data.test.len(),
        if config.deskews() { ", deskewed" } else { "" },
        dir.map(|d| format!(" from {}", d.display()))
            .unwrap_or_default()
    );
    Ok(data)
}

fn train(args: &TrainArgs) -> Result<Outcome> {
    let config = args.config()?;
    config.validate()?;
    let device = args.backend.device();
    println!(
        "LeNet {}-{}, {}x{} kernels, {} subsampling: {}",
        config.model.c1,
        config.model.c3,
        config.model.kernel_size,
        config.model.kernel_size,
        config.model.subsampling.name(),
        describe(&config.model.init(&device))
    );
    let data = load_data(args.data_dir.as_deref(), &config)?;
    println!(
        "training on {} for {} epochs: batch {}, lr {}, lambda {}, seed {} -> {}",
        args.backend,
        config.epochs,
        config.batch_size,
        config.learning_rate,
        config.lambda,
        config.seed,
        args.artifact_dir.display()
    );
    let mut options = RunOptions::new(&args.artifact_dir);
    options.start = args.start_mode();
    stop_on_signals(&options.interrupter)?;
    let outcome = training::train(&config, &data, &device, &options)
        .with_context(|| format!("training into {}", args.artifact_dir.display()))?;
    if let Some(epoch) = outcome.resumed_after {
        println!("resumed after epoch {epoch}");
    }
    if outcome.interrupted {
        let kept = lenet::checkpoint::describe_kept(&args.artifact_dir);
        println!(
            "interrupted before epoch {} ended: {kept}; continue with --resume (test error at the stop: {:.2}%)",
            config.epochs,
            outcome.test.error_rate()
        );
        return Ok(Outcome::Interrupted);
    }
    println!(
        "final test error: {:.2}% ({}/{}), test MSE {:.5}; model saved to {}",
        outcome.test.error_rate(),
        outcome.test.errors,
        outcome.test.total,
        outcome.test.mse,
        args.artifact_dir.join(training::MODEL_FILE).display()
    );
    Ok(Outcome::Finished)
}

/// How a command ended, when it did not fail.
enum Outcome {
    Finished,
    /// Stopped early on request; exits with 130 like a shell's Ctrl-C.
    Interrupted,
}

/// The first Ctrl-C or SIGTERM stops training after the current batch (the last complete
/// checkpoint stays); a second one exits at once.
fn stop_on_signals(interrupter: &Interrupter) -> Result<()> {
    let interrupter = interrupter.clone();
    let received = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if received.swap(true, Ordering::SeqCst) {
            eprintln!("second signal: exiting now");
            std::process::exit(130);
        }
        eprintln!("stopping after the current batch (signal again to exit now)");
        interrupter.stop(Some("stopped by a signal"));
    })
    .context("installing the Ctrl-C/SIGTERM handler")
}

fn eval(args: &EvalArgs) -> Result<Outcome> {
    let device = args.backend.device();
    let (config, model) = inference::load_model_file(&args.model, &device)?;
    let mut data = MnistSplits::load(args.data_dir.as_deref())?;
    if config.deskews() {
        data = data.deskewed()?;
    }
    let result = inference::evaluate(&model, &data.test, &device)?;
    println!(
        "test error: {:.2}% ({}/{}), test MSE {:.5} (LeNet {}-{}, {} subsampling, on {})",
        result.error_rate(),
        result.errors,
        result.total,
        result.mse,
        config.model.c1,
        config.model.c3,
        config.model.subsampling.name(),
        args.backend
    );
    println!("\nper-class error:");
    for (class, rate) in result.class_error_rates().iter().enumerate() {
        println!("  {class}: {rate:5.2}%");
    }
    println!("\nconfusion matrix (rows: true class, columns: predicted):");
    println!(
        "      {}",
        (0..10).map(|c| format!("{c:>5}")).collect::<String>()
    );
    for (class, row) in result.confusion.iter().enumerate() {
        println!(
            "  {class:>3} {}",
            row.iter().map(|n| format!("{n:>5}")).collect::<String>()
        );
    }
    let csv = match &args.csv {
        Some(path) => path.clone(),
        None => model_folder(&args.model).join("confusion.csv"),
    };
    let mut text = String::from("true\\predicted,0,1,2,3,4,5,6,7,8,9\n");
    for (class, row) in result.confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(usize::to_string).collect();
        text.push_str(&format!("{class},{}\n", cells.join(",")));
    }
    std::fs::write(&csv, text).with_context(|| format!("writing {}", csv.display()))?;
    println!("\nconfusion matrix written to {}", csv.display());
    Ok(Outcome::Finished)
}

/// The folder of a `--model` argument (the argument itself when it is a folder).
fn model_folder(model: &Path) -> PathBuf {
    if model.is_dir() {
        model.to_path_buf()
    } else {
        model.parent().unwrap_or(Path::new(".")).to_path_buf()
    }
}

fn predict(args: &PredictArgs) -> Result<Outcome> {
    let device = args.backend.device();
    let (config, model) = inference::load_model_file(&args.model, &device)?;
    let mut failed = 0;
    for path in &args.images {
        // One image at a time: a bad file is reported and the others are still classified.
        match digit_image::load_digit(path) {
            Ok(item) => {
                let item = if config.deskews() {
                    lenet::deskew::deskew(&item)
                } else {
                    item
                };
                for (class, outputs) in inference::predict_items(&model, vec![item], &device) {
                    let outputs: Vec<String> = outputs.iter().map(|v| format!("{v:.3}")).collect();
                    println!("{}: {class}  [{}]", path.display(), outputs.join(", "));
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} images could not be read", args.images.len());
    }
    Ok(Outcome::Finished)
}

fn export(args: &ExportArgs) -> Result<Outcome> {
    let device = Backend::Flex.device();
    let (_, model) = inference::load_model_file(&args.model, &device)?;
    let format = match args.format.as_str() {
        "safetensors" => WeightFormat::Safetensors,
        _ => WeightFormat::Burnpack,
    };
    weights::save(&model, &args.out, format)?;
    println!("wrote {}", args.out.display());
    Ok(Outcome::Finished)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Train(args)) => train(args),
        Some(Command::Eval(args)) => eval(args),
        Some(Command::Predict(args)) => predict(args),
        Some(Command::Export(args)) => export(args),
        None => train(&cli.train),
    };
    match result {
        Ok(Outcome::Finished) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(error) => {
            // One line: the error and its causes, no backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
