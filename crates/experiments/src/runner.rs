//! Runs a study: every variant × seed (curve studies) or classifier × protocol × seed (table
//! studies), with a progress bar, writing per-run CSVs, `summary.csv`, the figure and
//! `result.json` into `<results>/<study name>/`.

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

use crate::baselines::{self, BaselineOutcome, Features};
use crate::error::{ExperimentError, Result};
use crate::plot::{self, Labels, Series};
use crate::provenance::{self, Provenance};
use crate::results::{
    self, Band, Line, RUNS_DIR, RunSummary, SUMMARY_FILE, StudyResult, TableRow, slug,
};
use crate::study::{Classifier, Curve, Method, Protocol, Study, training_config};

/// Where and how studies run.
pub struct Runner {
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
    /// Stops the current network run (Ctrl-C).
    pub interrupter: Interrupter,
    /// Revision of the code, taken when the program started (see [`provenance::git_revision`]).
    pub git_revision: String,
}

impl Runner {
    /// Runs `study` and saves everything it measured; returns the result.
    pub fn run(&self, study: &Study) -> Result<StudyResult> {
        let dir = self.results_dir.join(&study.name);
        let runs = dir.join(RUNS_DIR);
        std::fs::create_dir_all(&runs).map_err(|e| ExperimentError::io(&runs, e))?;
        let start = Instant::now();
        let mut result = if study.is_table() {
            self.run_table(study)?
        } else {
            self.run_curves(study)?
        };
        result.provenance.wall_seconds = start.elapsed().as_secs_f64();
        result.save(&dir)?;
        Ok(result)
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

    fn provenance(&self) -> Provenance {
        Provenance {
            git_revision: self.git_revision.clone(),
            machine: provenance::machine(),
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
        let data = config.prepare_data(self.data.clone())?;
        let mut options = RunOptions::new(self.work_dir.join(study).join(run));
        options.start = StartMode::Overwrite;
        options.interrupter = self.interrupter.clone();
        let bar = bar.clone();
        options.progress = Progress::Hook(Arc::new(move |_| bar.inc(1)));
        let outcome = lenet::train(config, &data, &self.backend.device()?, &options)?;
        if outcome.interrupted {
            return Err(ExperimentError::Interrupted(format!("{study}/{run}")));
        }
        Ok(outcome)
    }

    fn run_curves(&self, study: &Study) -> Result<StudyResult> {
        let curve = study.curve.unwrap_or(Curve::TestError);
        let dir = self.results_dir.join(&study.name);
        let mut planned = Vec::new();
        for variant in &study.variants {
            for &seed in &study.seeds {
                planned.push((variant, seed, study.variant_config(variant, seed)?));
            }
        }
        let bar = self.bar(planned.iter().map(|(_, _, c)| c.epochs).sum(), "epochs");
        let mut lines: Vec<Line> = Vec::new();
        for variant in &study.variants {
            let mut runs = Vec::new();
            let mut curves = Vec::new();
            let mut xs = Vec::new();
            for (_, seed, config) in planned.iter().filter(|(v, _, _)| *v == variant) {
                bar.set_message(format!("{} (seed {seed})", variant.label));
                let name = format!("{}-seed{seed}", slug(&variant.label));
                let start = Instant::now();
                let outcome = self.train(config, &study.name, &name, &bar)?;
                let csv = format!("{RUNS_DIR}/{name}.csv");
                results::write_csv(&dir.join(&csv), &outcome.epochs)?;
                match curve {
                    Curve::TestError => {
                        xs = outcome.epochs.iter().map(|e| e.epoch as f64).collect();
                        curves.push(outcome.epochs.iter().map(|e| e.test_error).collect());
                    }
                    Curve::TrainMse => {
                        let batches = format!("{RUNS_DIR}/{name}-batches.csv");
                        results::write_csv(&dir.join(batches), &outcome.batches)?;
                        xs = outcome
                            .batches
                            .iter()
                            .map(|b| b.samples_seen as f64)
                            .collect();
                        let losses: Vec<f64> = outcome.batches.iter().map(|b| b.loss).collect();
                        curves.push(results::smoothed(&losses));
                    }
                }
                let last = outcome.epochs.last();
                runs.push(RunSummary {
                    seed: *seed,
                    final_test_error: outcome.test.error_rate(),
                    final_train_loss: last.map_or(f64::NAN, |e| e.train_loss),
                    seconds: start.elapsed().as_secs_f64(),
                    csv,
                });
            }
            lines.push(Line {
                label: variant.label.clone(),
                settings: variant.set.clone(),
                runs,
                points: results::bands(&xs, &curves),
            });
        }
        bar.finish_and_clear();

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
        results::write_csv(&dir.join(SUMMARY_FILE), rows)?;

        let (x, y) = match curve {
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
        let title = format!(
            "{} ({} seeds: mean, min-max band)",
            study.title,
            study.seeds.len()
        );
        plot::draw(
            &dir.join(&study.name),
            &Labels {
                title: &title,
                x,
                y,
            },
            &series,
        )?;

        Ok(StudyResult {
            name: study.name.clone(),
            title: study.title.clone(),
            claim: study.claim.clone(),
            discussion: study.discussion.clone(),
            curve: Some(curve),
            provenance: self.provenance(),
            lines,
            table: Vec::new(),
            figure: Some(study.name.clone()),
        })
    }

    fn run_table(&self, study: &Study) -> Result<StudyResult> {
        let dir = self.results_dir.join(&study.name);
        let steps = |c: &Classifier, p: &Protocol| match &c.model {
            Method::Cnn { set } => training_config(&set.then(&p.cnn), 0).map_or(1, |c| c.epochs),
            _ => 1,
        };
        let runs_of = |p: &Protocol| {
            study
                .classifiers
                .iter()
                .filter(|c| skip_reason(p, c).is_none())
                .map(|c| steps(c, p) * p.seeds.len())
                .sum::<usize>()
        };
        let bar = self.bar(study.protocols.iter().map(runs_of).sum(), "steps");
        let mut table = Vec::new();
        for protocol in &study.protocols {
            let mut rows: Vec<TableRow> = study
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
                    skipped: skip_reason(protocol, c),
                })
                .collect();
            for &seed in &protocol.seeds {
                let data =
                    self.data
                        .clone()
                        .subset(protocol.train_size, protocol.test_size, seed)?;
                let mut cache: FeatureCache = [None, None];
                for (classifier, row) in study.classifiers.iter().zip(&mut rows) {
                    if row.skipped.is_some() {
                        continue;
                    }
                    bar.set_message(format!("{} (seed {seed})", classifier.name));
                    let start = Instant::now();
                    let outcome = match &classifier.model {
                        Method::NearestNeighbour {
                            k,
                            validation_fraction,
                        } => {
                            let (train, test) = features(&mut cache, &data, classifier.deskew)?;
                            baselines::nearest_neighbour(train, test, k, *validation_fraction)?
                        }
                        Method::Svm {
                            c,
                            gamma,
                            validation_fraction,
                            max_train,
                        } => {
                            let (train, test) = features(&mut cache, &data, classifier.deskew)?;
                            baselines::svm(train, test, c, gamma, *validation_fraction, *max_train)?
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
                            let outcome = self.train(&config, &study.name, &name, &bar)?;
                            results::write_csv(
                                &dir.join(RUNS_DIR).join(format!("{name}.csv")),
                                &outcome.epochs,
                            )?;
                            BaselineOutcome {
                                test_error: outcome.test.error_rate(),
                                chosen: format!(
                                    "{} epochs, batch {}, η = {}",
                                    config.epochs, config.batch_size, config.learning_rate
                                ),
                            }
                        }
                    };
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
            table.extend(rows);
        }
        bar.finish_and_clear();

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
        results::write_csv(&dir.join(SUMMARY_FILE), rows)?;

        Ok(StudyResult {
            name: study.name.clone(),
            title: study.title.clone(),
            claim: study.claim.clone(),
            discussion: study.discussion.clone(),
            curve: None,
            provenance: self.provenance(),
            lines: Vec::new(),
            table,
            figure: None,
        })
    }
}

/// Pixel rows of a protocol's training and test images, plain and deskewed, built at most once
/// per seed and shared by the baselines.
type FeatureCache = [Option<(Features, Features)>; 2];

fn features<'a>(
    cache: &'a mut FeatureCache,
    data: &MnistSplits,
    deskew: bool,
) -> Result<&'a (Features, Features)> {
    let slot = &mut cache[usize::from(deskew)];
    if slot.is_none() {
        *slot = Some((
            Features::from_dataset(&data.train, deskew)?,
            Features::from_dataset(&data.test, deskew)?,
        ));
    }
    Ok(slot.as_ref().expect("filled above"))
}

fn skip_reason(protocol: &Protocol, classifier: &Classifier) -> Option<String> {
    protocol
        .skip
        .iter()
        .find(|s| s.classifier == classifier.name)
        .map(|s| s.reason.clone())
}
