//! `trainer`: trains the paper's improved LeNet-5 on MNIST with burn, evaluates and exports
//! trained models, classifies images, and measures its own speed.

mod commands;
mod exit;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use commands::Outcome;
use commands::bench::BenchArgs;
use commands::eval::EvalArgs;
use commands::export::{ConvertArgs, ExportArgs};
use commands::inspect::InspectArgs;
use commands::predict::PredictArgs;
use commands::serve::ServeArgs;
use commands::train::TrainArgs;

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
    /// Classify digit images (a JPEG up to 64 megapixels; PNG, BMP, ... up to 16).
    Predict(PredictArgs),
    /// Write a trained model's weights as burnpack or as SafeTensors (PyTorch's or burn's layout).
    Export(ExportArgs),
    /// Convert any model file this program reads (other burn apps', old burn records, PyTorch)
    /// into burnpack or SafeTensors, by OUT's extension.
    Convert(ConvertArgs),
    /// Show a weight file: its tensors, metadata, and how they map onto the network.
    Inspect(InspectArgs),
    /// Measure training and inference speed and memory (a table, and JSON with --json).
    Bench(BenchArgs),
    /// Serve a web page to draw a digit and watch the network read it, and its JSON API.
    Serve(ServeArgs),
}

fn main() -> ExitCode {
    lenet::runtime_dir::give_wgpu_a_runtime_dir();
    let command = lenet::cli::show_defaults(Cli::command());
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    lenet::atomic::end_quietly_when_stdout_closes();
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
        Some(Command::Train(args)) => commands::train::run(args),
        Some(Command::Eval(args)) => commands::eval::run(args),
        Some(Command::Predict(args)) => commands::predict::run(args),
        Some(Command::Export(args)) => commands::export::export(args),
        Some(Command::Convert(args)) => commands::export::convert(args),
        Some(Command::Inspect(args)) => commands::inspect::run(args),
        Some(Command::Bench(args)) => commands::bench::run(args).map(|()| Outcome::Finished),
        Some(Command::Serve(args)) => commands::serve::run(args).map(|()| Outcome::Finished),
        None => commands::train::run(&cli.train),
    };
    match result {
        Ok(Outcome::Finished) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        // Output piped into `head` that stopped reading: done, as Unix tools are.
        Err(error) if exit::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the error and its causes, no backtrace.
            eprintln!("error: {}", exit::one_line(&error));
            ExitCode::FAILURE
        }
    }
}
