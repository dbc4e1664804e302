//! `experiments`: runs the paper's studies (`experiments/*.toml`) and writes
//! `experiments/REPORT.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::train::Interrupter;
use clap::{Args, Parser, Subcommand};
use experiments::report;
use experiments::runner::Runner;
use experiments::study::{self, Study};
use lenet::cli::{BackendArg, DataArg};

/// Reproduce the paper's figures and table: run study definitions, draw, report.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    paths: Paths,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run these study definitions, then regenerate the report.
    Run(RunArgs),
    /// Run every definition in --definitions, then regenerate the report.
    All(RunArgs),
    /// Regenerate the report from the saved results (runs nothing).
    Report,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Study definitions (TOML).
    #[arg(value_name = "TOML")]
    studies: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    backend: BackendArg,
    /// Folder for the network runs' checkpoints and logs (not results).
    #[arg(long, default_value = "runs/experiments", value_name = "DIR")]
    work_dir: PathBuf,
}

#[derive(Args, Debug)]
struct Paths {
    /// Folder of the study definitions (for `all` and the report's order).
    #[arg(long, global = true, default_value = "experiments", value_name = "DIR")]
    definitions: PathBuf,
    /// Folder the results go to, one subfolder per study.
    #[arg(
        long,
        global = true,
        default_value = "experiments/results",
        value_name = "DIR"
    )]
    results: PathBuf,
    /// The report to write.
    #[arg(
        long,
        global = true,
        default_value = "experiments/REPORT.md",
        value_name = "FILE"
    )]
    report: PathBuf,
}

/// Markdown placed at the top of the report, read from the definitions folder when present.
const INTRO_FILE: &str = "intro.md";

fn run(args: &RunArgs, studies: &[PathBuf], paths: &Paths) -> Result<()> {
    // Every definition is checked before anything runs.
    let studies = studies
        .iter()
        .map(|path| Study::load(path))
        .collect::<Result<Vec<_>, _>>()?;
    // The revision the results come from: taken now, before anything can change the checkout.
    let git_revision = experiments::provenance::git_revision(std::path::Path::new("."));
    let data = args.data.load().context("loading MNIST")?;
    let interrupter = Interrupter::new();
    let stop = interrupter.clone();
    ctrlc::set_handler(move || {
        eprintln!("stopping after the current batch");
        stop.stop(Some("stopped by a signal"));
    })
    .context("installing the Ctrl-C handler")?;
    let runner = Runner {
        data,
        backend: args.backend.backend,
        results_dir: paths.results.clone(),
        work_dir: args.work_dir.clone(),
        progress: true,
        interrupter,
        git_revision,
    };
    for study in &studies {
        let start = Instant::now();
        println!("{}: {}", study.name, study.title);
        runner
            .run(study)
            .with_context(|| format!("study {}", study.name))?;
        println!(
            "{}: done in {:.0} s -> {}",
            study.name,
            start.elapsed().as_secs_f64(),
            paths.results.join(&study.name).display()
        );
        write_report(paths)?;
    }
    Ok(())
}

fn write_report(paths: &Paths) -> Result<()> {
    let studies = study::definitions_in(&paths.definitions)?
        .iter()
        .map(|p| Study::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    // Optional hand-written text for the top of the report (setup differences from the paper).
    let intro_path = paths.definitions.join(INTRO_FILE);
    let intro = match std::fs::read_to_string(&intro_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", intro_path.display())),
    };
    let missing = report::write(&studies, &intro, &paths.results, &paths.report)?;
    println!(
        "report: {}{}",
        paths.report.display(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (no results yet for {})", missing.join(", "))
        }
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => {
            if args.studies.is_empty() {
                Err(anyhow::anyhow!(
                    "give at least one study definition (.toml)"
                ))
            } else {
                run(args, &args.studies, &cli.paths)
            }
        }
        Command::All(args) => study::definitions_in(&cli.paths.definitions)
            .map_err(anyhow::Error::from)
            .and_then(|all| run(args, &all, &cli.paths)),
        Command::Report => write_report(&cli.paths),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
