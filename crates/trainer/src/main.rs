//! `trainer`: trains the paper's improved LeNet-5 on MNIST with burn, evaluates and exports
//! trained models, classifies images, and measures its own speed.

mod bench;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use burn::train::Interrupter;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use lenet::artifacts::{self, RunFolder, StartMode};
use lenet::cli::{BackendArg, DataArg, ModelArg};
use lenet::data::{RunData, image};
use lenet::train::RunOptions;
use lenet::weights::{self, Layout, Precision, SaveOptions, WeightFile, WeightFormat};
use lenet::{TrainedModel, TrainingConfig, TrainingOverrides};

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
    Train(Box<TrainArgs>),
    /// Evaluate a trained model on the MNIST test split: error, per-class error, confusion matrix.
    Eval(EvalArgs),
    /// Classify digit images (PNG, JPEG, BMP, ... of any size).
    Predict(PredictArgs),
    /// Write a trained model's weights as burnpack or as SafeTensors (PyTorch's or burn's layout).
    Export(ExportArgs),
    /// Convert any model file this program reads (other burn apps', old burn records, PyTorch)
    /// into burnpack or SafeTensors, by OUT's extension.
    Convert(ConvertArgs),
    /// Show a weight file: its tensors, metadata, and how they map onto the network.
    Inspect(InspectArgs),
    /// Measure training and inference speed and memory (a table, and JSON with --json).
    Bench(bench::BenchArgs),
    /// Serve a web page to draw a digit and watch the network read it, and its JSON API.
    Serve(serve::ServeArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
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
}

#[derive(Args, Debug)]
struct EvalArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    backend: BackendArg,
    /// Also write the confusion matrix as CSV to FILE (`-`: standard output, after the report).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct PredictArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    backend: BackendArg,
    /// Images to classify.
    #[arg(required = true, value_name = "IMG")]
    images: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct ExportArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Output format: bpk (burnpack) or safetensors (the weights), or onnx (the whole model as
    /// an ONNX graph, its deskewing included).
    #[arg(long, value_enum)]
    format: WeightFormat,
    /// The file to write (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

/// How written weights are stored, and whether they may replace a file.
#[derive(Args, Debug)]
struct OutputArgs {
    /// Replace the output if it exists (a regular file only: a folder or a symbolic link is
    /// never replaced; a device such as /dev/null is written into). Without it, an existing
    /// file is refused.
    #[arg(long)]
    force: bool,
    /// Float type of the written tensors.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Precision,
    /// SafeTensors only: Linear weights as PyTorch stores them ([out, in], what
    /// load_state_dict takes) or as burn does ([in, out], what burn-store reads by default);
    /// recorded in the file's metadata, which this program reads back.
    #[arg(long, value_enum, default_value = "pytorch")]
    layout: Layout,
}

impl OutputArgs {
    fn options(&self, format: WeightFormat) -> SaveOptions {
        SaveOptions {
            format,
            precision: self.dtype,
            layout: self.layout,
        }
    }
}

#[derive(Args, Debug)]
struct ConvertArgs {
    /// The model to read (any form --model takes).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The file to write: .bpk or .safetensors (`-`: standard output, as --format says).
    #[arg(value_name = "OUT")]
    out: PathBuf,
    /// OUT's format when OUT is `-` (else taken from its extension).
    #[arg(long, value_enum)]
    format: Option<WeightFormat>,
    /// Rename the input's tensors (FROM=TO, repeatable).
    #[arg(long, value_name = "FROM=TO")]
    remap: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The weight file, or an ONNX model (.onnx: its graph is printed).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Rename its tensors (FROM=TO, repeatable) before matching them to the network.
    #[arg(long, value_name = "FROM=TO")]
    remap: Vec<String>,
}

impl TrainArgs {
    /// The run's configuration: the saved one when resuming (with a new --epochs), else the
    /// defaults with the flags applied.
    fn config(&self) -> Result<TrainingConfig> {
        if !self.resume {
            return Ok(self.settings.config()?);
        }
        if !RunFolder::new(&self.artifact_dir).config_file().is_file() {
            anyhow::bail!(
                "--resume: {} holds no run to resume (no {})",
                self.artifact_dir.display(),
                artifacts::CONFIG_FILE
            );
        }
        let mut config = TrainingConfig::load_from(&self.artifact_dir)?;
        let fixed = self.settings.fixed_by_resume(&config);
        if !fixed.is_empty() {
            anyhow::bail!(
                "--resume continues with the run's saved config.json; only --epochs can change, \
                 not {}",
                fixed.join(", ")
            );
        }
        if let Some(epochs) = self.settings.epochs {
            config.epochs = epochs;
        }
        config.validate()?;
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

/// How a command ended, when it did not fail.
enum Outcome {
    Finished,
    /// Stopped early on request; exits with 130 like a shell's Ctrl-C.
    Interrupted,
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

fn train(args: &TrainArgs) -> Result<Outcome> {
    let config = args.config()?;
    let device = args.backend.device()?;
    println!(
        "{}",
        lenet::eval::describe(&config.model, &config.model.init(&device))
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
    let options = RunOptions::new(&args.artifact_dir).with_start(args.start_mode());
    stop_on_signals(&options.interrupter, &args.artifact_dir)?;
    // A kill from burn-train's dashboard is a panic (exit code 101, as if the program had
    // crashed): it ends here as a stopped run instead (130, the last complete checkpoint kept).
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lenet::train(&config, &data, &device, &options)
    }));
    let outcome = match run {
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
            "interrupted before epoch {} ended ({split} error at the stop: {:.2}%): {}",
            config.epochs,
            outcome.test.error_rate(),
            RunFolder::new(&args.artifact_dir).how_to_continue(),
        );
        return Ok(Outcome::Interrupted);
    }
    println!(
        "final {split} error: {:.2}% ({}/{}), {split} MSE {:.5}; model saved to {}",
        outcome.test.error_rate(),
        outcome.test.errors,
        outcome.test.total,
        outcome.test.mse,
        RunFolder::new(&args.artifact_dir).model_file().display()
    );
    Ok(Outcome::Finished)
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

/// Says where a loaded model's network came from when it is not a run of ours.
fn note_source(model: &TrainedModel) {
    if let lenet::ConfigSource::Inferred(reason) = &model.source {
        eprintln!(
            "note: {} ({reason}): the network was read from its tensors' shapes: {}",
            model.path.display(),
            model.describe()
        );
    }
}

fn eval(args: &EvalArgs) -> Result<Outcome> {
    let model = args.model.load(&args.backend.device()?)?;
    note_source(&model);
    let result = model.evaluate(args.data.load()?)?;
    // With `--csv -` the report goes to stderr, so that stdout holds the CSV alone.
    let to_stdout = args.csv.as_deref() == Some(Path::new(lenet::files::STDOUT));
    let report = format!(
        "test error: {:.2}% ({}/{}), test MSE {:.5} ({}, on {})\n\n{}",
        result.error_rate(),
        result.errors,
        result.total,
        result.mse,
        model.describe(),
        args.backend.backend,
        result.report()
    );
    if to_stdout {
        eprintln!("{report}");
    } else {
        println!("{report}");
    }
    // Written only where asked: never beside the model (which may be the shipped one, or a
    // folder of assets/).
    if let Some(csv) = &args.csv {
        let written =
            lenet::files::write_output(csv, result.confusion_csv().as_bytes(), args.force)?;
        if !written.is_stdout() {
            println!("\nconfusion matrix written to {}", csv.display());
        }
    }
    Ok(Outcome::Finished)
}

fn predict(args: &PredictArgs) -> Result<Outcome> {
    let model = args.model.load(&args.backend.device()?)?;
    note_source(&model);
    let mut failed = 0;
    for path in &args.images {
        // One image at a time: a bad file is reported and the others are still classified.
        match image::load_digit(path) {
            Ok(pixels) if image::is_blank(&pixels) => {
                println!("{}: {}", path.display(), image::no_digit_reason());
            }
            Ok(pixels) => {
                for prediction in model.predict(vec![pixels]) {
                    let outputs: Vec<String> = prediction
                        .outputs
                        .iter()
                        .map(|v| format!("{v:.3}"))
                        .collect();
                    println!(
                        "{}: {}  [{}]",
                        path.display(),
                        prediction.class,
                        outputs.join(", ")
                    );
                }
            }
            Err(error) => {
                // With its causes: "FILE: Is a directory", not the path alone.
                eprintln!("error: {}", one_line(&anyhow::Error::new(error)));
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
    // A file named for one format holding another would load as neither.
    if let Ok(named) = WeightFormat::of(&args.out)
        && named != args.format
    {
        let name = |format: WeightFormat| {
            clap::ValueEnum::to_possible_value(&format)
                .map_or_else(|| format!("{format:?}"), |v| v.get_name().to_string())
        };
        anyhow::bail!(
            "--out {} is named for --format {}, not {}: give the file the format's extension \
             (.bpk, .safetensors, .onnx) or change --format",
            args.out.display(),
            name(named),
            name(args.format)
        );
    }
    // Refused before the model is read: a clear error first, and no work wasted.
    lenet::files::destination(&args.out, args.output.force)?;
    let device = lenet::Backend::default().device()?;
    let model = args.model.load(&device)?;
    note_source(&model);
    let written = write_model(&model, &args.out, &args.output, args.format)?;
    say(&written, format!("wrote {}", args.out.display()));
    Ok(Outcome::Finished)
}

/// Writes `model` as `format` says (its weights, or the whole model as ONNX) where `out` and
/// `--force` allow ([`lenet::files::write_output`]).
fn write_model(
    model: &TrainedModel,
    out: &Path,
    output: &OutputArgs,
    format: WeightFormat,
) -> Result<lenet::files::Destination> {
    let bytes = match format {
        WeightFormat::Onnx => lenet::onnx::encode(model),
        _ => weights::encode(&model.net, out, &output.options(format))?,
    };
    Ok(lenet::files::write_output(out, &bytes, output.force)?)
}

/// Prints what was written: on stdout, unless stdout is where the output went.
fn say(written: &lenet::files::Destination, message: String) {
    if written.is_stdout() {
        eprintln!("{message}");
    } else {
        println!("{message}");
    }
}

fn convert(args: &ConvertArgs) -> Result<Outcome> {
    let format = match (args.format, args.out.as_os_str() == lenet::files::STDOUT) {
        (Some(format), _) => format,
        (None, true) => anyhow::bail!("OUT is - (standard output): say its --format"),
        (None, false) => WeightFormat::of(&args.out)?,
    };
    lenet::files::destination(&args.out, args.output.force)?;
    let model = ModelArg {
        model: Some(args.input.clone()),
        remap: args.remap.clone(),
    }
    .load(&lenet::Backend::default().device()?)?;
    note_source(&model);
    let written = write_model(&model, &args.out, &args.output, format)?;
    say(
        &written,
        format!(
            "wrote {} ({}, {} parameters)",
            args.out.display(),
            model.describe(),
            burn::module::Module::num_params(&model.net)
        ),
    );
    Ok(Outcome::Finished)
}

fn inspect(args: &InspectArgs) -> Result<Outcome> {
    if WeightFormat::of(&args.file).ok() == Some(WeightFormat::Onnx) {
        let model = lenet::onnx::read(&args.file)?;
        print!("{}: {}", args.file.display(), lenet::onnx::describe(&model));
        return Ok(Outcome::Finished);
    }
    let file = WeightFile::read(&args.file)?;
    println!(
        "{}: {:?}, {} tensors, Linear weights in {} layout",
        file.path.display(),
        file.format,
        file.tensors.len(),
        file.layout().name()
    );
    for (key, value) in &file.metadata {
        println!("  metadata {key} = {value}");
    }
    let names = ModelArg {
        model: Some(args.file.clone()),
        remap: args.remap.clone(),
    }
    .load_options()?
    .names;
    let mut tensors: Vec<_> = file.tensors.iter().collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    for tensor in tensors {
        let ours = names.rename(&tensor.name);
        let arrow = if ours == tensor.name {
            String::new()
        } else {
            format!(" -> {ours}")
        };
        println!(
            "  {} {:?} {:?}{arrow}",
            tensor.name,
            tensor.dtype,
            tensor.shape.as_slice()
        );
    }
    let file = file.renamed(&names);
    match file.infer_config() {
        Ok(config) => {
            let device = lenet::Backend::default().device()?;
            let fit = weights::load_with(
                config.init(&device),
                &args.file,
                &lenet::weights::LoadOptions { names, only: None },
            );
            match fit {
                Ok(_) => println!(
                    "fits the network {}",
                    lenet::eval::describe(&config, &config.init(&device))
                ),
                Err(error) => println!("does not fit: {error}"),
            }
        }
        Err(error) => println!("does not describe the network: {error}"),
    }
    Ok(Outcome::Finished)
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

/// Whether `error` is standard output's reader having gone (`| head`).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `trainer eval ... | head -1`: Rust ignores SIGPIPE, so once `head` has gone the next
/// `println!` panics ("failed printing to stdout: Broken pipe"). This hook ends the program
/// there quietly with status 0, its half-written files removed, as a Unix tool ends (restoring
/// SIGPIPE's default instead would need `unsafe` and exit with 141). Any other panic goes to
/// the hook installed before.
fn end_quietly_when_stdout_closes() {
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
            lenet::atomic::exit_removing_unfinished(0);
        }
        previous(info);
    }));
}

/// An error and its causes in one line, `a: b: c`, each cause once: some errors (burn-train's
/// checkpointer's, for a full disk) repeat their source's text in their own message, which
/// `{:#}` would then print twice.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn main() -> ExitCode {
    let command = lenet::cli::show_defaults(Cli::command());
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    end_quietly_when_stdout_closes();
    if !matches!(cli.command, Some(Command::Serve(_))) {
        lenet::compute::share_this_thread_with_rayon();
    }
    // Training stops after its batch on a signal (`stop_on_signals`); the server shuts down
    // gracefully on its own. The other commands exit at once, their half-written output
    // removed.
    let exits_at_once = !matches!(
        cli.command,
        None | Some(Command::Train(_) | Command::Serve(_))
    );
    if exits_at_once
        && let Err(error) = ctrlc::set_handler(|| lenet::atomic::exit_removing_unfinished(130))
    {
        eprintln!("error: installing the Ctrl-C/SIGTERM handler: {error}");
        return ExitCode::FAILURE;
    }
    let result = match &cli.command {
        Some(Command::Train(args)) => train(args),
        Some(Command::Eval(args)) => eval(args),
        Some(Command::Predict(args)) => predict(args),
        Some(Command::Export(args)) => export(args),
        Some(Command::Convert(args)) => convert(args),
        Some(Command::Inspect(args)) => inspect(args),
        Some(Command::Bench(args)) => bench::run(args).map(|()| Outcome::Finished),
        Some(Command::Serve(args)) => serve::run(args).map(|()| Outcome::Finished),
        None => train(&cli.train),
    };
    match result {
        Ok(Outcome::Finished) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        // Output piped into `head` that stopped reading: done, as Unix tools are.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the error and its causes, no backtrace.
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message repeats its source's, as burn-train's checkpointer errors do.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "I/O Error: `{}`", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let text = full.to_string();
        let error = anyhow::Error::new(Repeats(full)).context("training into runs/lenet");
        let line = one_line(&error);
        assert_eq!(line.matches(&text).count(), 1, "{line}");
        assert!(
            line.starts_with("training into runs/lenet: I/O Error"),
            "{line}"
        );
    }
}
