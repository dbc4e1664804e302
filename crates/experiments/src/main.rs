//! `experiments`: runs the paper's studies (`experiments/*.toml`) and writes
//! `experiments/REPORT.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::train::Interrupter;
use clap::{Args, Parser, Subcommand};
use experiments::report;
use experiments::runner::{Merged, StudyRunner, merge};
use experiments::shard::{self, Shard};
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
    /// Regenerate the report from the saved results (runs nothing); first merges the runs that
    /// a sharded study's shards saved, and names those not finished.
    Report,
    /// Write the `sbatch` script of a Slurm job array that runs a study (one array task per
    /// run, results to --results on a shared filesystem) and print the command that submits it
    /// with the job that merges the shards.
    Slurm(SlurmArgs),
    /// Write MNIST's digits as simulated phone photos on paper (INDEX_LABEL.jpg) or in UCI
    /// optdigits' 8x8 form (INDEX_LABEL.png), to measure `trainer predict` beyond MNIST
    /// (experiments/beyond_mnist/).
    Photos(PhotosArgs),
}

/// `--work-dir`, where the network runs go.
#[derive(Args, Debug)]
struct WorkDirArg {
    /// Folder for the network runs' checkpoints, logs and TensorBoard event files (not results).
    #[arg(long, default_value = "runs/experiments", value_name = "DIR")]
    work_dir: PathBuf,
}

#[derive(Args, Debug)]
struct SlurmArgs {
    /// The study definition (TOML).
    #[arg(value_name = "TOML")]
    study: PathBuf,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    backend: BackendArg,
    #[command(flatten)]
    work: WorkDirArg,
    /// Slurm partition (default: the cluster's).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit of each array task (Slurm's format, e.g. 1:00:00).
    #[arg(long, default_value = "1:00:00")]
    time: String,
    /// CPUs of each array task (the threads of its run).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    cpus: u16,
    /// The script to write (an existing one is replaced).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
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

/// `path` made absolute against the current folder (array tasks start elsewhere).
fn absolute(path: &std::path::Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}", path.display()))
}

fn slurm(args: &SlurmArgs, paths: &Paths) -> Result<()> {
    let study = Study::load(&args.study)?;
    let text = |p: &std::path::Path| -> Result<String> { Ok(absolute(p)?.display().to_string()) };
    let mut run_args = vec![text(&args.study)?];
    if let Some(dir) = &args.data.data_dir {
        run_args.extend(["--data-dir".into(), text(dir)?]);
    }
    let folders = vec![
        "--definitions".to_string(),
        text(&paths.definitions)?,
        "--results".into(),
        text(&paths.results)?,
        "--report".into(),
        text(&paths.report)?,
    ];
    run_args.extend([
        "--work-dir".into(),
        text(&args.work.work_dir)?,
        "--backend".into(),
        args.backend.backend.to_string(),
    ]);
    run_args.extend(folders.clone());
    let array = experiments::slurm::JobArray {
        runs: shard::run_names(&study).len(),
        program: std::env::current_exe().context("the experiments binary's path")?,
        folder: absolute(std::path::Path::new("."))?,
        run_args,
        report_args: folders,
        log_dir: absolute(&args.work.work_dir.join("slurm"))?,
        partition: args.partition.clone(),
        time: args.time.clone(),
        cpus: usize::from(args.cpus),
        study: study.name.clone(),
    };
    let out = match &args.out {
        Some(out) => out.clone(),
        None => args
            .work
            .work_dir
            .join("slurm")
            .join(format!("{}.sbatch", study.name)),
    };
    std::fs::create_dir_all(&array.log_dir)
        .with_context(|| format!("{}", array.log_dir.display()))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("{}", parent.display()))?;
    }
    lenet::files::write_output(&out, array.script().as_bytes(), true)?;
    println!(
        "wrote {} ({} array tasks); submit it, and the merge after it, with:",
        out.display(),
        array.runs
    );
    println!("{}", array.submit_command(&absolute(&out)?));
    Ok(())
}

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
    #[command(flatten)]
    work: WorkDirArg,
    #[command(flatten)]
    tensorboard: TensorBoardArg,
    /// Run only shard I of N of each study's runs (e.g. 0/4; the same split on every machine);
    /// without it, a Slurm array task's or a Kubernetes Indexed Job's index and count when set.
    /// A shard saves its runs; `experiments report` merges them once all have finished.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
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
        work_dir: args.work.work_dir.clone(),
        progress: true,
        tensorboard: args.tensorboard.enabled(),
        interrupter,
        git_revision,
    };
    let shard = match args.shard {
        Some(shard) => shard,
        None => Shard::from_env(|name| std::env::var(name).ok())?.unwrap_or(Shard::ALL),
    };
    for study in &studies {
        let start = Instant::now();
        println!("{}: {}", study.name, study.title);
        let result = runner
            .run(study, shard)
            .with_context(|| format!("study {}", study.name))?;
        let elapsed = start.elapsed().as_secs_f64();
        let dir = paths.results.join(&study.name);
        match result {
            Some(_) => {
                println!(
                    "{}: done in {elapsed:.0} s -> {}",
                    study.name,
                    dir.display()
                );
                write_report(paths)?;
            }
            None => println!(
                "{}: shard {}/{} done in {elapsed:.0} s -> {}; `experiments report` merges the \
                 shards once all have finished",
                study.name,
                shard.index,
                shard.count,
                dir.display()
            ),
        }
    }
    Ok(())
}

/// Merges the finished runs of sharded curve studies, then writes the report.
fn merge_and_report(paths: &Paths) -> Result<()> {
    for path in study::definitions_in(&paths.definitions)? {
        let study = Study::load(&path)?;
        let runs = paths
            .results
            .join(&study.name)
            .join(experiments::results::RUNS_DIR);
        let saved = std::fs::read_dir(&runs).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "json"))
        });
        if !saved {
            continue;
        }
        match merge(&study, &paths.results)? {
            Merged::Complete(result) => println!(
                "{}: merged {} runs",
                study.name,
                result.lines.iter().map(|l| l.runs.len()).sum::<usize>()
            ),
            Merged::Missing(missing) => println!(
                "{}: {} of {} runs not finished: {}",
                study.name,
                missing.len(),
                shard::run_names(&study).len(),
                missing.join(", ")
            ),
        }
    }
    write_report(paths)
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
    lenet::runtime_dir::give_wgpu_a_runtime_dir();
    let cli = Cli::parse();
    lenet::atomic::end_quietly_when_stdout_closes();
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
        Command::Report => merge_and_report(&cli.paths),
        Command::Photos(args) => photos(args),
        Command::Slurm(args) => slurm(args, &cli.paths),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
