//! What a run leaves in memory: every epoch's loss, error and time, every training batch's loss
//! (the paper's Fig. 7), and where the loss stopped being finite.
//!
//! [`RunRecorder`] is a burn-train metric logger: the `Learner` hands it every metric value,
//! so it replaces burn's file logger (which wrote a file line per batch) and also answers the
//! checkpoint strategy's questions (the best epoch by test loss). Because it sees each batch's
//! loss, it also stops a run whose loss is no longer finite, and at the end of each epoch it
//! prints the epoch's line or calls the caller's hook (see [`Progress`](super::Progress)).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::Interrupter;
use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{LossMetric, Metric, MetricDefinition, MetricId, NumericEntry};

use crate::metric::ErrorRateMetric;

/// One epoch's results, as reported by burn-train's metrics at the end of each split.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean objective `E` over the training split.
    pub train_loss: f64,
    /// Training error, %.
    pub train_error: f64,
    /// Mean objective `E` over the test split.
    pub test_loss: f64,
    /// Test error, %.
    pub test_error: f64,
    /// Wall time of the epoch (training and test), seconds.
    pub seconds: f64,
}

/// How long the two passes of an epoch took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochTimes {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// The training pass, seconds.
    pub train_seconds: f64,
    /// The test pass, seconds.
    pub test_seconds: f64,
}

/// Where a run's loss stopped being finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergence {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Batch number within the epoch, from 1.
    pub batch: usize,
    /// The loss value (NaN or infinite).
    pub loss: f64,
}

/// The objective `E` of one training batch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchLoss {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Training images seen since the start of the run, this batch included.
    pub samples_seen: usize,
    /// The batch's objective `E` (the training MSE ½‖t−y‖² per image when λ = 0).
    pub loss: f64,
}

/// What the recorder saw of a run.
#[derive(Debug, Clone, Default)]
pub struct RunLog {
    /// Completed epochs.
    pub epochs: Vec<EpochStats>,
    /// The time of each completed epoch's two passes.
    pub times: Vec<EpochTimes>,
    /// Every training batch's objective, in order (the curve of the paper's Fig. 7).
    pub batches: Vec<BatchLoss>,
    /// The first non-finite training loss, if any.
    pub divergence: Option<Divergence>,
}

/// A [`RunLog`] shared between the recorder and whoever launched the training.
pub type SharedRunLog = Arc<Mutex<RunLog>>;

/// Callback told each finished epoch (for progress bars).
pub type EpochHook = Arc<dyn Fn(&EpochStats) + Send + Sync>;

/// What the recorder does at the end of an epoch.
#[derive(Clone)]
pub enum EpochReport {
    /// Nothing (burn's dashboard shows the epoch).
    Nothing,
    /// Print one line to stdout.
    Line,
    /// Call the hook.
    Hook(EpochHook),
}

/// The name of burn-train's loss metric.
pub(crate) fn loss_name() -> String {
    LossMetric::new().name().to_string()
}

/// The names of a run's metrics by id (burn-train sends them once, then ids), and what a
/// metrics update says by meaning: shared by the run's metric loggers ([`RunRecorder`] and
/// [`TensorBoardLogger`](super::tensorboard::TensorBoardLogger)), so both read the same values.
#[derive(Debug)]
pub(crate) struct MetricNames {
    names: HashMap<MetricId, String>,
    loss: String,
}

impl Default for MetricNames {
    fn default() -> Self {
        Self {
            names: HashMap::new(),
            loss: loss_name(),
        }
    }
}

/// What one metrics update says.
#[derive(Debug, Default)]
pub(crate) struct UpdateValues {
    /// Each metric's value over the whole epoch, sent once at its end, by name.
    pub finals: Vec<(String, f64)>,
    /// A training batch's objective.
    pub batch_loss: Option<f64>,
    /// The images of that batch (the error metric counts images; the loss counts batches).
    pub batch_images: usize,
    /// The learning rate of that batch (with [`burn::train::metric::LearningRateMetric`]).
    pub learning_rate: Option<f64>,
}

impl MetricNames {
    /// Learns a metric's name.
    pub(crate) fn define(&mut self, definition: &MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }

    /// The update's numeric entries with their metrics' names.
    pub(crate) fn entries<'a>(
        &'a self,
        update: &'a MetricsUpdate,
    ) -> impl Iterator<Item = (&'a str, &'a NumericEntry)> + 'a {
        update.entries_numeric.iter().filter_map(|numeric| {
            let name = self.names.get(&numeric.entry.metric_id)?;
            Some((name.as_str(), numeric.numeric_entry.as_ref()?))
        })
    }

    /// What `update`, of `split`, says.
    pub(crate) fn read(&self, update: &MetricsUpdate, split: &Split) -> UpdateValues {
        let mut values = UpdateValues::default();
        for (name, entry) in self.entries(update) {
            match (entry, split) {
                (NumericEntry::Final(value), _) => values.finals.push((name.to_string(), *value)),
                (entry, Split::Train) if name == self.loss => {
                    values.batch_loss = Some(entry.current());
                }
                (entry, Split::Train) if name == LEARNING_RATE => {
                    values.learning_rate = Some(entry.current());
                }
                (NumericEntry::Aggregated { count, .. }, Split::Train)
                    if name == ErrorRateMetric::NAME =>
                {
                    values.batch_images = *count;
                }
                _ => {}
            }
        }
        values
    }
}

/// The name of burn-train's learning-rate metric.
pub(crate) const LEARNING_RATE: &str = "Learning Rate";

/// The epoch in progress.
#[derive(Debug, Default)]
struct Current {
    batches: usize,
    images: usize,
    start: Option<Instant>,
    test_start: Option<Instant>,
    train: HashMap<String, f64>,
    test: HashMap<String, f64>,
}

/// Records a run from burn-train's metric updates; see the module documentation.
pub struct RunRecorder {
    log: SharedRunLog,
    report: EpochReport,
    interrupter: Interrupter,
    total_epochs: usize,
    train_images: usize,
    names: MetricNames,
    /// Every numeric entry by metric, split and epoch, for [`MetricLogger::read_numeric`].
    entries: HashMap<(String, String), BTreeMap<usize, Vec<NumericEntry>>>,
    current: Current,
    /// When the last epoch ended: the next one starts there (its checkpoint included).
    last_end: Option<Instant>,
}

impl RunRecorder {
    /// A recorder for a run of `total_epochs` epochs over `train_images` training images that
    /// records into `log`, reports each epoch as `report` says, and stops the run through
    /// `interrupter` when the training loss is not finite.
    pub fn new(
        log: SharedRunLog,
        report: EpochReport,
        interrupter: Interrupter,
        total_epochs: usize,
        train_images: usize,
    ) -> Self {
        Self {
            log,
            report,
            interrupter,
            total_epochs,
            train_images,
            names: MetricNames::default(),
            entries: HashMap::new(),
            current: Current::default(),
            last_end: None,
        }
    }

    fn batch_loss(&mut self, epoch: usize, loss: f64, images: usize) {
        let current = &mut self.current;
        current.batches += 1;
        current.images += images;
        let mut log = self.log.lock().expect("run log poisoned");
        log.batches.push(BatchLoss {
            epoch,
            samples_seen: (epoch - 1) * self.train_images + current.images,
            loss,
        });
        if !loss.is_finite() && log.divergence.is_none() {
            log.divergence = Some(Divergence {
                epoch,
                batch: current.batches,
                loss,
            });
            self.interrupter
                .stop(Some("the training loss is no longer finite"));
        }
    }

    fn finish_epoch(&mut self, epoch: usize) {
        let now = Instant::now();
        self.last_end = Some(now);
        let current = std::mem::take(&mut self.current);
        let get =
            |split: &HashMap<String, f64>, name: &str| split.get(name).copied().unwrap_or(f64::NAN);
        let since = |start: Option<Instant>| start.map_or(0.0, |s| (now - s).as_secs_f64());
        let stats = EpochStats {
            epoch,
            train_loss: get(&current.train, &loss_name()),
            train_error: get(&current.train, ErrorRateMetric::NAME),
            test_loss: get(&current.test, &loss_name()),
            test_error: get(&current.test, ErrorRateMetric::NAME),
            seconds: since(current.start),
        };
        let test_seconds = since(current.test_start.or(Some(now)));
        let times = EpochTimes {
            epoch,
            train_seconds: stats.seconds - test_seconds,
            test_seconds,
        };
        match &self.report {
            EpochReport::Nothing => {}
            EpochReport::Line => println!(
                "epoch {:>3}/{} | train loss {:.5} error {:6.2}% | test loss {:.5} error {:6.2}% | {:.1} s",
                stats.epoch,
                self.total_epochs,
                stats.train_loss,
                stats.train_error,
                stats.test_loss,
                stats.test_error,
                stats.seconds
            ),
            EpochReport::Hook(hook) => hook(&stats),
        }
        let mut log = self.log.lock().expect("run log poisoned");
        log.epochs.push(stats);
        log.times.push(times);
    }
}

impl MetricLogger for RunRecorder {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        if self.current.start.is_none() {
            self.current.start = Some(self.last_end.unwrap_or_else(Instant::now));
        }
        if *split == Split::Valid && self.current.test_start.is_none() {
            self.current.test_start = Some(Instant::now());
        }
        for (name, entry) in self.names.entries(&update) {
            self.entries
                .entry((name.to_string(), split.to_string()))
                .or_default()
                .entry(epoch)
                .or_default()
                .push(entry.clone());
        }
        let read = self.names.read(&update, split);
        let finals = match split {
            Split::Valid => &mut self.current.test,
            _ => &mut self.current.train,
        };
        finals.extend(read.finals);
        if let Some(loss) = read.batch_loss {
            self.batch_loss(epoch, loss, read.batch_images);
        }
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        Ok(self
            .entries
            .get(&(name.to_string(), split.to_string()))
            .and_then(|epochs| epochs.get(&epoch))
            .cloned()
            .unwrap_or_default())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.names.define(&definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if summary.split == Split::Valid {
            self.finish_epoch(summary.epoch_number);
        }
    }
}
