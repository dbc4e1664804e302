//! `trainer bench`: how fast the network trains and infers, per backend, through the same
//! code paths as `trainer` and `predict` (burn-train's `Learner` for training), with the peak
//! memory of each measurement.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use lenet::artifacts::StartMode;
use lenet::cli::DataArg;
use lenet::data::MnistSplits;
use lenet::train::{Progress, RunOptions};
use lenet::{Backend, TrainedModel, TrainingConfig};
use serde::Serialize;

/// Options of `trainer bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Backends to measure, in order.
    #[arg(long = "backend", value_enum, default_values_t = [Backend::Flex, Backend::Ndarray])]
    backends: Vec<Backend>,
    #[command(flatten)]
    data: DataArg,
    /// Training images per run of the batch-size sweep (batch 50, 100, 200).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    sweep_images: usize,
    /// Training images of the epoch measurement (the full split is 60000).
    #[arg(long, default_value_t = 60_000, value_name = "N")]
    epoch_images: usize,
    /// Skip the batch-size sweep (compare.sh measures the epoch and inference only).
    #[arg(long)]
    no_sweep: bool,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// One backend's figures.
#[derive(Debug, Serialize)]
struct BackendBench {
    backend: Backend,
    /// Training images/s per batch size, through the real training path.
    train_images_per_s: Vec<(usize, f64)>,
    /// One epoch of `epoch_images` images at batch 50: the training pass, seconds.
    train_epoch_s: f64,
    /// The test pass (10k images at batch 1000) of that epoch, seconds.
    test_pass_s: f64,
    /// Images/s classifying one image at a time.
    infer_b1_images_per_s: f64,
    /// Images/s classifying batches of 1000.
    infer_b1000_images_per_s: f64,
    /// Peak resident memory of the epoch run and of the inference runs, MiB (Linux only).
    peak_train_mib: Option<f64>,
    peak_infer_mib: Option<f64>,
}

/// What `trainer bench` prints and writes.
#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    threads: usize,
    epoch_images: usize,
    sweep_images: usize,
    backends: Vec<BackendBench>,
}

/// Runs the measurements and prints (and optionally writes) them.
pub fn run(args: &BenchArgs) -> Result<()> {
    let data = args.data.load()?;
    let mut report = Report {
        machine: machine(),
        threads: rayon::current_num_threads(),
        epoch_images: args.epoch_images,
        sweep_images: args.sweep_images,
        backends: Vec::new(),
    };
    println!(
        "{} ({} threads); epoch of {} images",
        report.machine, report.threads, args.epoch_images
    );
    for &backend in &args.backends {
        report.backends.push(measure(backend, &data, args)?);
    }
    println!("\n{}", table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("written to {}", path.display());
    }
    Ok(())
}

fn measure(backend: Backend, data: &MnistSplits, args: &BenchArgs) -> Result<BackendBench> {
    let device = backend.device()?;
    let work = tempfile::tempdir().context("a temporary folder for the runs")?;
    let run = |name: &str, config: &TrainingConfig| -> Result<lenet::train::TrainingOutcome> {
        let data = config.prepare_data(data.clone())?;
        let mut options = RunOptions::new(work.path().join(name));
        options.start = StartMode::Overwrite;
        options.progress = Progress::Hook(Arc::new(|_| {}));
        Ok(lenet::train(config, &data, &device, &options)?)
    };

    // The batch-size sweep: two epochs each, the second one timed (the first warms up).
    let mut train_images_per_s = Vec::new();
    if !args.no_sweep {
        for batch in [50, 100, 200] {
            let config = TrainingConfig::default()
                .with_batch_size(batch)
                .with_epochs(2)
                .with_train_size(Some(args.sweep_images))
                .with_test_size(Some(1000));
            let outcome = run(&format!("sweep-{batch}"), &config)?;
            let seconds = outcome.times.last().map_or(f64::NAN, |t| t.train_seconds);
            let rate = args.sweep_images as f64 / seconds;
            println!("{backend}: training at batch {batch}: {rate:.0} images/s");
            train_images_per_s.push((batch, rate));
        }
    }

    // One epoch at the defaults (batch 50), with the whole test split.
    reset_peak_memory();
    let config = TrainingConfig::default()
        .with_epochs(1)
        .with_train_size((args.epoch_images < data.train.len()).then_some(args.epoch_images));
    let outcome = run("epoch", &config)?;
    let peak_train_mib = peak_memory_mib();
    let times = outcome.times.last().context("the epoch was not recorded")?;
    println!(
        "{backend}: epoch of {} images: training {:.2} s, test pass {:.2} s (test error {:.2} %)",
        args.epoch_images,
        times.train_seconds,
        times.test_seconds,
        outcome.test.error_rate()
    );

    // Inference with the trained network: one image at a time, then batches of 1000.
    reset_peak_memory();
    let images: Vec<Vec<u8>> = lenet::data::all_items(&data.test)?
        .into_iter()
        .map(|item| item.pixels)
        .collect();
    let model = TrainedModel::new(config, outcome.model, work.path().join("epoch"), &device);
    let singles = 2000.min(images.len());
    let start = Instant::now();
    for image in &images[..singles] {
        std::hint::black_box(model.predict(vec![image.clone()]));
    }
    let infer_b1_images_per_s = singles as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for batch in images.chunks(1000) {
        std::hint::black_box(model.predict(batch.to_vec()));
    }
    let infer_b1000_images_per_s = images.len() as f64 / start.elapsed().as_secs_f64();
    let peak_infer_mib = peak_memory_mib();
    println!(
        "{backend}: inference {infer_b1_images_per_s:.0} images/s at batch 1, \
         {infer_b1000_images_per_s:.0} at batch 1000"
    );
    Ok(BackendBench {
        backend,
        train_images_per_s,
        train_epoch_s: times.train_seconds,
        test_pass_s: times.test_seconds,
        infer_b1_images_per_s,
        infer_b1000_images_per_s,
        peak_train_mib,
        peak_infer_mib,
    })
}

fn table(report: &Report) -> String {
    let mut lines = vec![
        "| backend | train img/s b50 | b100 | b200 | epoch: train s | test s | infer img/s b1 | b1000 | peak MiB train | infer |".to_string(),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |".to_string(),
    ];
    let mib = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.0}"));
    for b in &report.backends {
        let rate = |batch: usize| {
            b.train_images_per_s
                .iter()
                .find(|(size, _)| *size == batch)
                .map_or("-".into(), |(_, r)| format!("{r:.0}"))
        };
        lines.push(format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {} | {} |",
            b.backend,
            rate(50),
            rate(100),
            rate(200),
            b.train_epoch_s,
            b.test_pass_s,
            b.infer_b1_images_per_s,
            b.infer_b1000_images_per_s,
            mib(b.peak_train_mib),
            mib(b.peak_infer_mib),
        ));
    }
    lines.join("\n")
}

/// The processor's name (Linux), for the report.
fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Resets the kernel's peak-resident-memory counter of this process (Linux: `clear_refs`).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, MiB (Linux: `VmHWM`).
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
