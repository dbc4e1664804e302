//! Runs a study, or a shard of it ([`crate::shard`]): every variant × seed (curve studies),
//! each finished run saved at once, or classifier × protocol × seed (table studies), with a
//! progress bar, writing per-run CSVs, then `summary.csv`, the figure and `result.json` into
//! `<results>/<study name>/` ([`merge`] assembles a curve study from its saved runs).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::train::Interrupter;
use indicatif::{ProgressBar, ProgressStyle};
use lenet::artifacts::StartMode;
use lenet::data::MnistSplits;
use lenet::train::{Progress, RunOptions, TrainingOutcome};
use lenet::{Backend, TrainingConfig};
use serde::Serialize;

use crate::baselines::{self, BaselineOutcome, Features, Neighbours, SvmOptions};
use crate::error::{ExperimentError, Result};
use crate::plot::{self, Labels, Series};
use crate::provenance::Provenance;
use crate::results::{self, Band, Line, RUNS_DIR, RunSummary, SUMMARY_FILE, StudyResult, TableRow};
use crate::shard::{self, FinishedRun, Shard};
use crate::study::{
    Classifier, Curve, CurveStudy, Method, Protocol, Study, StudyKind, TableStudy, Variant, slug,
    training_config,
};

/// Most points a line keeps in `result.json` and `summary.csv` (a per-batch curve of small
/// batches has many thousands; the per-run CSVs keep every batch).
const MAX_POINTS: usize = 1500;

/// Where and how studies run.
pub struct StudyRunner {
    /// Full MNIST; each run draws its own subsets from it.
    pub data: MnistSplits,
    /// Backend of the network runs.
    pub backend: Backend,
    /// Results go to `<results_dir>/<study name>/` (committed).
    pub results_dir: PathBuf,
    /// Checkpoints and logs of the network runs go under `<work_dir>/<study name>/` (not
    /// committed).
    pub work_dir: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Each network run writes TensorBoard event files into its folder under `work_dir`.
    pub tensorboard: bool,
    /// Stops the current network run (Ctrl-C).
    pub interrupter: Interrupter,
    /// Revision of the code, taken when the program started (see [`crate::provenance::git_revision`]).
    pub git_revision: String,
}

impl StudyRunner {
    /// Runs `shard`'s part of `study`, skipping runs that finished before with the same
    /// configuration. With every run ([`Shard::ALL`]) it then saves the study's result and
    /// returns it; a shard leaves that to `experiments report` (see [`crate::shard`]).
    pub fn run(&self, study: &Study, shard: Shard) -> Result<Option<StudyResult>> {
        let dir = self.results_dir.join(&study.name);
        let runs = dir.join(RUNS_DIR);
        std::fs::create_dir_all(&runs).map_err(|e| ExperimentError::io(&runs, e))?;
        match &study.kind {
            StudyKind::Curves(curves) => {
                self.run_curves(study, curves, shard)?;
                if shard.count > 1 {
                    return Ok(None);
                }
                match merge(study, &self.results_dir)? {
                    Merged::Complete(result) => Ok(Some(*result)),
                    Merged::Missing(missing) => Err(ExperimentError::Interrupted(format!(
                        "{}: runs missing after the run: {}",
                        study.name,
                        missing.join(", ")
                    ))),
                }
            }
            StudyKind::Table(table) if shard.owns(0) => {
                let start = Instant::now();
                let mut result = self.run_table(study, table)?;
                result.provenance.wall_seconds = start.elapsed().as_secs_f64();
                result.save(&dir)?;
                Ok(Some(result))
            }
            StudyKind::Table(_) => Ok(None),
        }
    }

    fn bar(&self, total: usize, unit: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total as u64);
        let template = format!(
            "{{spinner}} {{msg:28}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{elapsed_precise}} (eta {{eta}})"
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar
    }

    /// Where and from what this process runs, without the time.
    fn provenance(&self) -> Provenance {
        Provenance {
            git_revision: self.git_revision.clone(),
            machine: lenet::machine::describe(),
            backend: self.backend.to_string(),
            wall_seconds: 0.0,
        }
    }

    /// Trains one network with a progress-bar hook; an interrupted run is an error.
    fn train(
        &self,
        config: &TrainingConfig,
        study: &str,
        run: &str,
        bar: &ProgressBar,
    ) -> Result<TrainingOutcome> {
        let data = config.select_data(self.data.clone())?;
        let bar = bar.clone();
        let options = RunOptions::new(self.work_dir.join(study).join(run))
            .with_start(StartMode::Overwrite)
            .with_interrupter(self.interrupter.clone())
            .with_tensorboard(self.tensorboard)
            .with_progress(Progress::Hook(Arc::new(move |_| bar.inc(1))));
        let outcome = lenet::train(config, &data, &self.backend.device()?, &options)?;
        if outcome.interrupted {
            return Err(ExperimentError::Interrupted(format!("{study}/{run}")));
        }
        Ok(outcome)
    }

    /// A figure's runs that are `shard`'s and not finished yet, each saved as it ends.
    fn run_curves(&self, study: &Study, curves: &CurveStudy, shard: Shard) -> Result<()> {
        let dir = self.results_dir.join(&study.name);
        let mut todo = Vec::new();
        for (i, (variant, seed, name)) in shard::curve_runs(curves).enumerate() {
            let config = curves.variant_config(variant, seed)?;
            let json = serde_json::to_value(&config).expect("a configuration serialises");
            if shard.owns(i) && FinishedRun::load_if_current(&dir, &name, &config).is_none() {
                todo.push((variant, seed, config, name, json));
            }
        }
        let bar = self.bar(todo.iter().map(|t| t.2.epochs).sum(), "epochs");
        for (variant, seed, config, name, json) in todo {
            bar.set_message(format!("{} (seed {seed})", variant.label));
            let run = self.run_curve(study, curves, variant, seed, &config, &name, json, &bar)?;
            run.save(&dir, &name)?;
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// One run of a figure: trained, its CSVs written, what the figure needs of it returned.
    #[allow(clippy::too_many_arguments)]
    fn run_curve(
        &self,
        study: &Study,
        curves: &CurveStudy,
        variant: &Variant,
        seed: u64,
        config: &TrainingConfig,
        name: &str,
        json: serde_json::Value,
        bar: &ProgressBar,
    ) -> Result<FinishedRun> {
        let dir = self.results_dir.join(&study.name);
        let start = Instant::now();
        let outcome = self.train(config, &study.name, name, bar)?;
        let csv = format!("{RUNS_DIR}/{name}.csv");
        results::write_csv(&dir.join(&csv), &outcome.epochs)?;
        let (xs, values) = match curves.curve {
            Curve::TestError => (
                outcome.epochs.iter().map(|e| e.epoch as f64).collect(),
                outcome.epochs.iter().map(|e| e.test_error).collect(),
            ),
            Curve::TrainMse => {
                let batches = format!("{RUNS_DIR}/{name}-batches.csv");
                results::write_csv(&dir.join(batches), &outcome.batches)?;
                let losses: Vec<f64> = outcome.batches.iter().map(|b| b.loss).collect();
                (
                    outcome
                        .batches
                        .iter()
                        .map(|b| b.samples_seen as f64)
                        .collect(),
                    results::smoothed(&losses),
                )
            }
        };
        let seconds = start.elapsed().as_secs_f64();
        Ok(FinishedRun {
            variant: variant.label.clone(),
            config: json,
            summary: RunSummary {
                seed,
                final_test_error: outcome.test.error_rate(),
                final_train_loss: outcome.epochs.last().map_or(f64::NAN, |e| e.train_loss),
                seconds,
                epoch_seconds: outcome.epochs.iter().map(|e| e.seconds).collect(),
                csv,
            },
            xs,
            values,
            provenance: Provenance {
                wall_seconds: seconds,
                ..self.provenance()
            },
        })
    }

    /// A table: every protocol's rows, then the summary.
    fn run_table(&self, study: &Study, table: &TableStudy) -> Result<StudyResult> {
        let steps = |c: &Classifier, p: &Protocol| match &c.model {
            Method::Cnn { set } => training_config(&set.then(&p.cnn), 0).map_or(1, |c| c.epochs),
            _ => 1,
        };
        let total: usize = table
            .protocols
            .iter()
            .flat_map(|p| {
                table
                    .classifiers
                    .iter()
                    .filter(|c| TableStudy::skip_reason(p, c).is_none())
                    .map(move |c| steps(c, p) * p.seeds.len())
            })
            .sum();
        let bar = self.bar(total, "steps");
        let mut rows = Vec::new();
        for protocol in &table.protocols {
            rows.extend(self.run_protocol(study, table, protocol, &bar)?);
        }
        bar.finish_and_clear();
        write_table_summary(&self.results_dir.join(&study.name), &rows)?;
        Ok(StudyResult {
            table: rows,
            ..study_result(study, self.provenance())
        })
    }

    /// A protocol's rows: every classifier on every seed's subsets.
    fn run_protocol(
        &self,
        study: &Study,
        table: &TableStudy,
        protocol: &Protocol,
        bar: &ProgressBar,
    ) -> Result<Vec<TableRow>> {
        let mut rows: Vec<TableRow> = table
            .classifiers
            .iter()
            .map(|c| TableRow {
                protocol: protocol.label.clone(),
                classifier: c.name.clone(),
                paper_error: c.paper_error,
                paper_preprocessing: c.paper_preprocessing.clone(),
                deskew: c.deskew,
                errors: Vec::new(),
                seeds: Vec::new(),
                chosen: Vec::new(),
                seconds: 0.0,
                skipped: TableStudy::skip_reason(protocol, c),
            })
            .collect();
        for &seed in &protocol.seeds {
            let data = self
                .data
                .clone()
                .subset(protocol.train_size, protocol.test_size, seed)?;
            let mut inputs = BaselineInputs::new(table, protocol);
            for (classifier, row) in table.classifiers.iter().zip(&mut rows) {
                if row.skipped.is_some() {
                    continue;
                }
                bar.set_message(format!("{} (seed {seed})", classifier.name));
                let start = Instant::now();
                let outcome = self.run_classifier(
                    study,
                    protocol,
                    classifier,
                    seed,
                    &data,
                    &mut inputs,
                    bar,
                )?;
                // A network run advances the bar per epoch (its hook); a baseline is one step.
                if !matches!(classifier.model, Method::Cnn { .. }) {
                    bar.inc(1);
                }
                row.errors.push(outcome.test_error);
                row.seeds.push(seed);
                row.chosen.push(outcome.chosen);
                row.seconds += start.elapsed().as_secs_f64();
            }
        }
        Ok(rows)
    }

    /// One classifier on one seed's subsets.
    #[allow(clippy::too_many_arguments)]
    fn run_classifier(
        &self,
        study: &Study,
        protocol: &Protocol,
        classifier: &Classifier,
        seed: u64,
        data: &MnistSplits,
        inputs: &mut BaselineInputs,
        bar: &ProgressBar,
    ) -> Result<BaselineOutcome> {
        match &classifier.model {
            Method::NearestNeighbour {
                k,
                validation_fraction,
            } => {
                let (train, test, neighbours) = inputs.neighbours(data, classifier.deskew)?;
                baselines::nearest_neighbour(train, test, neighbours, k, *validation_fraction)
            }
            Method::Svm {
                c,
                gamma,
                validation_fraction,
                max_train,
                select_on,
                solver,
            } => {
                let (train, test) = inputs.features(data, classifier.deskew)?;
                let options = SvmOptions {
                    cs: c,
                    gammas: gamma,
                    validation_fraction: *validation_fraction,
                    max_train: *max_train,
                    select_on: *select_on,
                    solver: *solver,
                };
                baselines::svm(train, test, &options)
            }
            Method::Cnn { set } => {
                let mut settings = set.then(&protocol.cnn);
                settings.train_size = protocol.train_size;
                settings.test_size = protocol.test_size;
                settings.deskew = Some(classifier.deskew);
                let config = training_config(&settings, seed)?;
                let name = format!(
                    "{}-{}-seed{seed}",
                    slug(&protocol.label),
                    slug(&classifier.name)
                );
                let outcome = self.train(&config, &study.name, &name, bar)?;
                let csv = self
                    .results_dir
                    .join(&study.name)
                    .join(RUNS_DIR)
                    .join(format!("{name}.csv"));
                results::write_csv(&csv, &outcome.epochs)?;
                Ok(BaselineOutcome {
                    test_error: outcome.test.error_rate(),
                    chosen: format!(
                        "{} epochs, batch {}, η = {}",
                        config.epochs, config.batch_size, config.learning_rate
                    ),
                })
            }
        }
    }
}

/// What the baselines of one protocol and seed share, each built at most once: the pixel rows
/// (plain and deskewed) and the test images' nearest training images (one search, with the
/// largest k of the nearest-neighbour classifiers, serves 1-NN and k-NN).
struct BaselineInputs {
    features: [Option<(Features, Features)>; 2],
    neighbours: [Option<Neighbours>; 2],
    /// The largest k of the protocol's nearest-neighbour classifiers, plain and deskewed.
    k_max: [usize; 2],
}

impl BaselineInputs {
    fn new(table: &TableStudy, protocol: &Protocol) -> Self {
        let mut k_max = [0; 2];
        for classifier in &table.classifiers {
            if let (Method::NearestNeighbour { k, .. }, None) = (
                &classifier.model,
                TableStudy::skip_reason(protocol, classifier),
            ) {
                let slot = &mut k_max[usize::from(classifier.deskew)];
                *slot = (*slot).max(k.iter().copied().max().unwrap_or(1));
            }
        }
        Self {
            features: [None, None],
            neighbours: [None, None],
            k_max,
        }
    }

    fn features(&mut self, data: &MnistSplits, deskew: bool) -> Result<(&Features, &Features)> {
        let slot = &mut self.features[usize::from(deskew)];
        if slot.is_none() {
            *slot = Some((
                Features::from_dataset(&data.train, deskew)?,
                Features::from_dataset(&data.test, deskew)?,
            ));
        }
        let (train, test) = slot.as_ref().expect("filled above");
        Ok((train, test))
    }

    fn neighbours(
        &mut self,
        data: &MnistSplits,
        deskew: bool,
    ) -> Result<(&Features, &Features, &Neighbours)> {
        let i = usize::from(deskew);
        self.features(data, deskew)?;
        let (train, test) = self.features[i].as_ref().expect("built above");
        let neighbours = self.neighbours[i]
            .get_or_insert_with(|| Neighbours::search(train, test, self.k_max[i]));
        Ok((train, test, neighbours))
    }
}

/// A study's result as its definition describes it, with no lines or rows yet.
fn study_result(study: &Study, provenance: Provenance) -> StudyResult {
    StudyResult {
        name: study.name.clone(),
        title: study.title.clone(),
        claim: study.claim.clone(),
        discussion: study.discussion.clone(),
        curve: study.curves().map(|c| c.curve),
        levels: study.curves().map_or_else(Vec::new, |c| c.levels.clone()),
        provenance,
        lines: Vec::new(),
        table: Vec::new(),
        figure: None,
        validation: study.on_validation(),
    }
}

/// What [`merge`] found of a study's runs.
pub enum Merged {
    /// Every run had finished: the result, its summary and figure are saved.
    Complete(Box<StudyResult>),
    /// These runs have not finished (nothing was written).
    Missing(Vec<String>),
}

/// A curve study's result assembled from its finished runs in `<results_dir>/<name>/`
/// ([`crate::shard::assemble`]) and saved with its `summary.csv` and figure, when every run has
/// finished.
pub fn merge(study: &Study, results_dir: &std::path::Path) -> Result<Merged> {
    let Some(curves) = study.curves() else {
        return Ok(Merged::Missing(Vec::new()));
    };
    let dir = results_dir.join(&study.name);
    // The provenance is the runs' (see shard::assemble).
    let base = study_result(study, Provenance::default());
    match shard::assemble(curves, &dir, base, MAX_POINTS)? {
        Ok(result) => {
            write_curve_summary(&dir, &result.lines)?;
            draw_curves(&dir, study, curves, &result.lines)?;
            result.save(&dir)?;
            Ok(Merged::Complete(Box::new(result)))
        }
        Err(missing) => Ok(Merged::Missing(missing)),
    }
}

/// `summary.csv` of a figure: per line and x, the mean and the band over seeds.
fn write_curve_summary(dir: &std::path::Path, lines: &[Line]) -> Result<()> {
    #[derive(Serialize)]
    struct Row<'a> {
        label: &'a str,
        x: f64,
        mean: f64,
        min: f64,
        max: f64,
    }
    let rows = lines.iter().flat_map(|line| {
        line.points.iter().map(|p| Row {
            label: &line.label,
            x: p.x,
            mean: p.mean,
            min: p.min,
            max: p.max,
        })
    });
    results::write_csv(&dir.join(SUMMARY_FILE), rows)
}

/// The figure, as PNG and SVG.
fn draw_curves(
    dir: &std::path::Path,
    study: &Study,
    curves: &CurveStudy,
    lines: &[Line],
) -> Result<()> {
    let (x, y) = match curves.curve {
        Curve::TestError => ("epoch", "test error (%)"),
        Curve::TrainMse => ("training samples seen", "training MSE (smoothed)"),
    };
    let series: Vec<Series> = lines
        .iter()
        .map(|l| Series {
            label: &l.label,
            points: &l.points,
        })
        .collect();
    let counts: Vec<usize> = curves
        .variants
        .iter()
        .map(|v| curves.seeds_of(v).len())
        .collect();
    let (fewest, most) = (
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    );
    let seeds = if fewest == most {
        format!("{most}")
    } else {
        format!("{fewest}-{most}")
    };
    let title = format!("{} ({seeds} seeds: mean, min-max band)", study.title);
    plot::draw(
        &dir.join(&study.name),
        &Labels {
            title: &title,
            x,
            y,
        },
        &series,
    )
}

/// `summary.csv` of a table: per row, the errors over seeds and what was chosen.
fn write_table_summary(dir: &std::path::Path, table: &[TableRow]) -> Result<()> {
    #[derive(Serialize)]
    struct Row<'a> {
        protocol: &'a str,
        classifier: &'a str,
        paper_error: Option<f64>,
        mean: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        seeds: usize,
        seconds: f64,
        chosen: String,
    }
    let rows = table.iter().map(|r| {
        let band: Option<Band> = r.error();
        Row {
            protocol: &r.protocol,
            classifier: &r.classifier,
            paper_error: r.paper_error,
            mean: band.map(|b| b.mean),
            min: band.map(|b| b.min),
            max: band.map(|b| b.max),
            seeds: r.errors.len(),
            seconds: r.seconds,
            chosen: r.chosen.join("; "),
        }
    });
    results::write_csv(&dir.join(SUMMARY_FILE), rows)
}
