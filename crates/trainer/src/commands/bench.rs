//! `trainer bench`: how fast the network trains and infers, per backend, through the same
//! code paths as `trainer` and `predict` (burn-train's `Learner` for training), with the peak
//! memory of each measurement; and how far the epochs are from the machine's arithmetic bound
//! (the epoch's FLOP against a large matrix product measured in the same run), with the README
//! recipe's epoch split into its phases.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::optim::SgdConfig;
use burn::prelude::Device;
use burn::train::TrainStep;
use clap::Args;
use lenet::artifacts::StartMode;
use lenet::cli::DataArg;
use lenet::data::DigitBatcher;
use lenet::data::augment::Augment;
use lenet::data::{MnistSplits, RunData};
use lenet::train::{Objective, Progress, RunOptions, TrainingModel, TrainingOutcome};
use lenet::{Backend, Init, LeNetConfig, TrainedModel, TrainingConfig};
use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
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
    /// The same epoch at batch 10 (plain images, the paper's settings otherwise): the
    /// training pass, seconds; where per-step work weighs most.
    train_epoch_b10_s: f64,
    /// Images/s classifying one image at a time.
    infer_b1_images_per_s: f64,
    /// Images/s classifying batches of 1000.
    infer_b1000_images_per_s: f64,
    /// Peak resident memory of the epoch run and of the inference runs, MiB (Linux only).
    peak_train_mib: Option<f64>,
    peak_infer_mib: Option<f64>,
    /// The batch-50 epoch's arithmetic rate, GFLOP/s (the epoch's FLOP over its training pass).
    achieved_gflops: f64,
    /// The batch-50 epoch's training pass over the time the machine's bound allows for its
    /// arithmetic (1 would be the limit).
    times_the_bound: f64,
    /// The README recipe's epoch (batch 10, deskewed, affine distortions, logistic
    /// initialisation): the training pass and the test pass, seconds.
    recipe_train_s: f64,
    recipe_test_s: f64,
    /// The recipe epoch (training + test pass) over the time its arithmetic needs at the bound.
    recipe_times_the_bound: f64,
    /// Where the recipe's training time goes, replayed outside the `Learner` (seconds).
    recipe_phases: Phases,
}

/// A recipe epoch's training time by phase: the same batches, steps and SGD updates as the
/// `Learner` runs, timed one by one; what the `Learner`'s epoch took beyond their sum is its own
/// per-step work (metrics, events, the dashboard's data), "bookkeeping".
#[derive(Debug, Default, Serialize)]
struct Phases {
    /// Reading, distorting and batching the images.
    data: f64,
    /// The forward and backward passes (the network's arithmetic, and moving parameters and
    /// gradients between burn and the host layout).
    forward_backward: f64,
    /// burn's SGD updates.
    optimizer: f64,
    /// The `Learner`'s epoch minus the three above (negative where the `Learner` overlaps
    /// them, its loader preparing batches while a step runs).
    bookkeeping: f64,
}

/// What `trainer bench` prints and writes.
#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    threads: usize,
    epoch_images: usize,
    sweep_images: usize,
    /// FLOP of one training epoch of `epoch_images` images (forward and backward, see
    /// `LeNetConfig::multiply_adds`), GFLOP.
    epoch_gflop: f64,
    /// The machine's arithmetic bound measured in this run: a 2048x2048 f32 matrix product with
    /// matrixmultiply (through ndarray; its own threads, one per physical core), best of 5,
    /// GFLOP/s: what a tuned matrix library reaches on this machine.
    bound_gflops: f64,
    backends: Vec<BackendBench>,
}

/// Runs the measurements and prints (and optionally writes) them.
pub fn run(args: &BenchArgs) -> Result<()> {
    let data = args.data.load()?;
    let flops = LeNetConfig::new().multiply_adds()?.training_flops();
    let mut report = Report {
        machine: lenet::machine::describe(),
        threads: rayon::current_num_threads(),
        epoch_images: args.epoch_images,
        sweep_images: args.sweep_images,
        epoch_gflop: flops * args.epoch_images as f64 / 1e9,
        bound_gflops: sgemm_gflops(),
        backends: Vec::new(),
    };
    println!(
        "{} ({} threads); epoch of {} images: {:.1} GFLOP; the machine's bound (2048² sgemm): \
         {:.0} GFLOP/s, so {:.3} s an epoch at best",
        report.machine,
        report.threads,
        args.epoch_images,
        report.epoch_gflop,
        report.bound_gflops,
        report.epoch_gflop / report.bound_gflops
    );
    for &backend in &args.backends {
        report
            .backends
            .push(measure(backend, &data, args, &report)?);
    }
    println!("\n{}", table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("written to {}", path.display());
    }
    Ok(())
}

/// One backend's measurements, in the order they run: the batch-size sweep, an epoch at batch
/// 50 and at batch 10, inference with the trained network, the README recipe's epoch.
fn measure(
    backend: Backend,
    data: &MnistSplits,
    args: &BenchArgs,
    report: &Report,
) -> Result<BackendBench> {
    let runs = Runs::new(backend.device()?, data)?;
    let train_images_per_s = if args.no_sweep {
        Vec::new()
    } else {
        batch_sweep(backend, args, &runs)?
    };

    // One epoch at the defaults (batch 50), with the whole test split.
    reset_peak_memory();
    let config = TrainingConfig::default()
        .with_epochs(1)
        .with_train_size((args.epoch_images < data.train.len()).then_some(args.epoch_images));
    let outcome = runs.run("epoch", &config)?;
    let peak_train_mib = peak_memory_mib();
    let times = outcome.times.last().context("the epoch was not recorded")?;
    println!(
        "{backend}: epoch of {} images: training {:.2} s, test pass {:.2} s (test error {:.2} %)",
        args.epoch_images,
        times.train_seconds,
        times.test_seconds,
        outcome.test.error_rate()
    );

    // The same epoch at batch 10.
    let small_batches = config.clone().with_batch_size(10);
    let b10 = runs.run("epoch-b10", &small_batches)?;
    let train_epoch_b10_s = b10.times.last().map_or(f64::NAN, |t| t.train_seconds);
    println!("{backend}: the same epoch at batch 10: training {train_epoch_b10_s:.2} s");

    let model = TrainedModel::new(config, outcome.model, runs.folder("epoch"), &runs.device);
    let inference = inference_speed(backend, &model, data)?;
    let achieved_gflops = report.epoch_gflop / times.train_seconds;
    let at_bound = report.epoch_gflop / report.bound_gflops;
    println!(
        "{backend}: {achieved_gflops:.1} GFLOP/s, {:.1}x the bound's time",
        times.train_seconds / at_bound
    );
    let recipe = recipe_epoch(backend, args, &runs, at_bound)?;
    Ok(BackendBench {
        backend,
        train_images_per_s,
        train_epoch_s: times.train_seconds,
        test_pass_s: times.test_seconds,
        train_epoch_b10_s,
        infer_b1_images_per_s: inference.b1_images_per_s,
        infer_b1000_images_per_s: inference.b1000_images_per_s,
        peak_train_mib,
        peak_infer_mib: inference.peak_mib,
        achieved_gflops,
        times_the_bound: times.train_seconds / at_bound,
        recipe_train_s: recipe.train_s,
        recipe_test_s: recipe.test_s,
        recipe_times_the_bound: recipe.times_the_bound,
        recipe_phases: recipe.phases,
    })
}

/// Training runs on one backend, each in a folder of its own in a temporary folder.
struct Runs<'a> {
    device: Device,
    data: &'a MnistSplits,
    work: tempfile::TempDir,
}

impl<'a> Runs<'a> {
    fn new(device: Device, data: &'a MnistSplits) -> Result<Self> {
        let work = tempfile::tempdir().context("a temporary folder for the runs")?;
        Ok(Self { device, data, work })
    }

    /// The folder of run `name`.
    fn folder(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Run `name` of `config` on data already selected for it, quietly.
    fn run_on(
        &self,
        name: &str,
        config: &TrainingConfig,
        data: &RunData,
    ) -> Result<TrainingOutcome> {
        let options = RunOptions::new(self.folder(name))
            .with_start(StartMode::Overwrite)
            .with_progress(Progress::Hook(Arc::new(|_| {})));
        Ok(lenet::train(config, data, &self.device, &options)?)
    }

    /// Run `name` of `config` on the data it selects.
    fn run(&self, name: &str, config: &TrainingConfig) -> Result<TrainingOutcome> {
        self.run_on(name, config, &config.select_data(self.data.clone())?)
    }
}

/// The batch-size sweep: two epochs each at batch 50, 100 and 200, the second one timed (the
/// first warms up); training images/s per batch size.
fn batch_sweep(backend: Backend, args: &BenchArgs, runs: &Runs) -> Result<Vec<(usize, f64)>> {
    let mut rates = Vec::new();
    for batch in [50, 100, 200] {
        let config = TrainingConfig::default()
            .with_batch_size(batch)
            .with_epochs(2)
            .with_train_size(Some(args.sweep_images))
            .with_test_size(Some(1000));
        let outcome = runs.run(&format!("sweep-{batch}"), &config)?;
        let seconds = outcome.times.last().map_or(f64::NAN, |t| t.train_seconds);
        let rate = args.sweep_images as f64 / seconds;
        println!("{backend}: training at batch {batch}: {rate:.0} images/s");
        rates.push((batch, rate));
    }
    Ok(rates)
}

/// Inference speed and memory with a trained network.
struct InferenceSpeed {
    b1_images_per_s: f64,
    b1000_images_per_s: f64,
    peak_mib: Option<f64>,
}

/// `model` classifying the test split: one image at a time (the first 2000), then batches of
/// 1000.
fn inference_speed(
    backend: Backend,
    model: &TrainedModel,
    data: &MnistSplits,
) -> Result<InferenceSpeed> {
    reset_peak_memory();
    let images: Vec<Vec<u8>> = lenet::data::all_items(&data.test)?
        .into_iter()
        .map(|item| item.pixels)
        .collect();
    let singles = 2000.min(images.len());
    let start = Instant::now();
    for image in &images[..singles] {
        std::hint::black_box(model.predict(vec![image.clone()]));
    }
    let b1_images_per_s = singles as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for batch in images.chunks(1000) {
        std::hint::black_box(model.predict(batch.to_vec()));
    }
    let b1000_images_per_s = images.len() as f64 / start.elapsed().as_secs_f64();
    println!(
        "{backend}: inference {b1_images_per_s:.0} images/s at batch 1, \
         {b1000_images_per_s:.0} at batch 1000"
    );
    Ok(InferenceSpeed {
        b1_images_per_s,
        b1000_images_per_s,
        peak_mib: peak_memory_mib(),
    })
}

/// The README recipe's epoch through the `Learner`, and where its time goes.
struct RecipeEpoch {
    train_s: f64,
    test_s: f64,
    times_the_bound: f64,
    phases: Phases,
}

/// The README recipe's epoch (batch 10, deskewed, affine distortions, logistic
/// initialisation) through the `Learner`, then its phases replayed; `at_bound` is the time the
/// machine's bound allows an epoch's arithmetic.
fn recipe_epoch(
    backend: Backend,
    args: &BenchArgs,
    runs: &Runs,
    at_bound: f64,
) -> Result<RecipeEpoch> {
    let recipe = TrainingConfig::default()
        .with_epochs(1)
        .with_batch_size(10)
        .with_deskew(true)
        .with_augment(Augment::Affine)
        .with_init(Init::Logistic)
        .with_train_size((args.epoch_images < runs.data.train.len()).then_some(args.epoch_images));
    let selected = recipe.select_data(runs.data.clone())?;
    let outcome = runs.run_on("recipe", &recipe, &selected)?;
    let times = outcome.times.last().context("the epoch was not recorded")?;
    let mut phases = recipe_phases(&recipe, selected.splits(), &runs.device);
    phases.bookkeeping =
        times.train_seconds - (phases.data + phases.forward_backward + phases.optimizer);
    let times_the_bound = (times.train_seconds + times.test_seconds) / at_bound;
    println!(
        "{backend}: recipe epoch: training {:.2} s, test pass {:.2} s ({times_the_bound:.1}x \
         the bound's time); phases: data {:.2} s, forward/backward {:.2} s, optimizer {:.2} s, \
         bookkeeping {:.2} s",
        times.train_seconds,
        times.test_seconds,
        phases.data,
        phases.forward_backward,
        phases.optimizer,
        phases.bookkeeping
    );
    Ok(RecipeEpoch {
        train_s: times.train_seconds,
        test_s: times.test_seconds,
        times_the_bound,
        phases,
    })
}

/// Replays the recipe's training epoch outside the `Learner` (the same images distorted by the
/// same transform, batched, stepped through the same `TrainStep` on the backend's own path, and
/// updated by burn's SGD), timing each phase.
fn recipe_phases(config: &TrainingConfig, data: &MnistSplits, device: &Device) -> Phases {
    let device = device.clone().autodiff();
    let mut model = TrainingModel {
        net: config.model.init_seeded(&device, config.seed),
        objective: Objective {
            lambda: config.lambda,
            compute: lenet::backend::compute_for(&device),
        },
    };
    let mut optimizer = SgdConfig::new().init();
    let mut phases = Phases::default();
    let indices: Vec<usize> = (0..data.train.len()).collect();
    for (step, chunk) in indices.chunks(config.batch_size).enumerate() {
        let start = Instant::now();
        let items = chunk
            .iter()
            .map(|&i| {
                let mut item = data.train.get(i).expect("a training image");
                item.pixels = config
                    .distortions()
                    .distort(&item.pixels, (step * 1000 + i) as u64);
                item
            })
            .collect();
        let batch = DigitBatcher.batch(items, &device);
        let stepped = Instant::now();
        let output = TrainStep::step(&model, batch);
        let updated = Instant::now();
        model = optimizer.step(config.learning_rate, model, output.grads);
        let end = Instant::now();
        phases.data += (stepped - start).as_secs_f64();
        phases.forward_backward += (updated - stepped).as_secs_f64();
        phases.optimizer += (end - updated).as_secs_f64();
    }
    phases
}

/// GFLOP/s of a 2048x2048 f32 matrix product with matrixmultiply (through ndarray), best of 5.
fn sgemm_gflops() -> f64 {
    let n = 2048;
    let a = Array2::<f32>::from_shape_fn((n, n), |(i, j)| ((i * 7 + j * 3) % 17) as f32 / 17.0);
    let b = a.t().to_owned();
    let mut c = Array2::<f32>::zeros((n, n));
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            general_mat_mul(1.0, &a, &b, 0.0, &mut c);
            std::hint::black_box(&c);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    2.0 * (n as f64).powi(3) / best / 1e9
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
