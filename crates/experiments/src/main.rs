//! `experiments`: runs the paper's studies (`experiments/*.toml`) and writes
//! `experiments/REPORT.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::train::Interrupter;
use clap::{Args, Parser, Subcommand};
use experiments::report;
use experiments::runner::StudyRunner;
use experiments::study::{self, Study};
use lenet::cli::{BackendArg, DataArg, TensorBoardArg};

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
    /// Write MNIST's digits as simulated phone photos on paper (INDEX_LABEL.jpg) or in UCI
    /// optdigits' 8x8 form (INDEX_LABEL.png), to measure `trainer predict` beyond MNIST
    /// (experiments/beyond_mnist/).
    Photos(PhotosArgs),
}

#[derive(Args, Debug)]
struct PhotosArgs {
    #[command(flatten)]
    data: DataArg,
    /// Whose digits: MNIST's test split (to report on), or the validation split (the last
    /// 10 000 training images, to choose settings on).
    #[arg(long, value_enum, default_value = "test")]
    split: PhotoSplit,
    /// How many photos: the split's first N digits.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    count: usize,
    /// What to make of each digit.
    #[arg(long, value_enum, default_value = "paper")]
    kind: PhotoKind,
    /// Folder to write the photos to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// The digits a set of photos is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PhotoSplit {
    /// MNIST's 10 000 test images: photo i is drawn with seed i.
    Test,
    /// The last 10 000 training images (`--holdout 10000`'s validation split): photo i is
    /// drawn with seed 1 000 000 + i, other photos than the test split's.
    Validation,
}

/// What a digit is turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PhotoKind {
    /// A phone photo of the digit written on paper (JPEG).
    Paper,
    /// The digit as UCI optdigits stores its digits: 8x8 block counts of a 32x32 bitmap (PNG).
    Cells,
}

/// Images held out of training as the validation split (the studies' `holdout`).
const VALIDATION_IMAGES: usize = 10_000;

fn photos(args: &PhotosArgs) -> Result<()> {
    let data = args.data.load().context("loading MNIST")?;
    let (digits, first_seed) = match args.split {
        PhotoSplit::Test => (data.test, 0),
        PhotoSplit::Validation => (data.hold_out(VALIDATION_IMAGES)?.test, 1_000_000),
    };
    let digits = lenet::data::all_items(&digits)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let count = args.count.min(digits.len());
    for (i, digit) in digits.iter().take(count).enumerate() {
        let (bytes, extension) = match args.kind {
            PhotoKind::Paper => (
                lenet::data::photo::photo_jpeg(&digit.pixels, first_seed + i as u64),
                "jpg",
            ),
            PhotoKind::Cells => (lenet::data::photo::cells_png(&digit.pixels), "png"),
        };
        let path = args.out.join(format!("{i:05}_{}.{extension}", digit.label));
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{count} images -> {}", args.out.display());
    Ok(())
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
    /// Folder for the network runs' checkpoints, logs and TensorBoard event files (not results).
    #[arg(long, default_value = "runs/experiments", value_name = "DIR")]
    work_dir: PathBuf,
    #[command(flatten)]
    tensorboard: TensorBoardArg,
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
    let runner = StudyRunner {
        data,
        backend: args.backend.backend,
        results_dir: paths.results.clone(),
        work_dir: args.work_dir.clone(),
        progress: true,
        tensorboard: args.tensorboard.enabled(),
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
        Command::Photos(args) => photos(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
