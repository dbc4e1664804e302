//! A renderer that records each epoch's final loss and error and, when no dashboard is shown,
//! prints them as one compact line per epoch (burn's own non-terminal renderer prints a line per
//! batch). It also watches the training loss and stops a run whose loss is no longer finite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{LossMetric, Metric, MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{Interrupter, LearnerSummary};

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

/// What the renderer saw of a run.
#[derive(Debug, Clone, Default)]
pub struct RunLog {
    /// Completed epochs.
    pub epochs: Vec<EpochStats>,
    /// Every training batch's objective, in order (the curve of the paper's Fig. 7).
    pub batches: Vec<BatchLoss>,
    /// The first non-finite training loss, if any.
    pub divergence: Option<Divergence>,
}

/// A [`RunLog`] shared between the renderer and whoever launched the training.
pub type SharedRunLog = Arc<Mutex<RunLog>>;

/// Callback told each finished epoch (for progress bars).
pub type EpochHook = Arc<dyn Fn(&EpochStats) + Send + Sync>;

/// How a run shows its progress.
#[derive(Clone)]
pub enum Progress {
    /// burn's terminal dashboard.
    Dashboard,
    /// One line per epoch on stdout.
    EpochLines,
    /// Nothing printed; the hook is called after each epoch.
    Hook(EpochHook),
}

/// Records [`EpochStats`] and forwards everything to an inner renderer (burn's terminal
/// dashboard), or prints one line per epoch when there is none.
pub struct EpochRenderer {
    inner: Option<Box<dyn MetricsRenderer>>,
    hook: Option<EpochHook>,
    names: HashMap<MetricId, String>,
    /// Name of burn-train's loss metric (the objective E).
    loss_name: String,
    train: HashMap<String, f64>,
    valid: HashMap<String, f64>,
    total_epochs: usize,
    epoch: usize,
    batch: usize,
    epoch_start: Option<Instant>,
    /// Whether the current split is the training split, and its size.
    in_train: bool,
    split_items: usize,
    /// The last training batch's loss, waiting for the batch's progress report.
    pending_loss: Option<f64>,
    log: SharedRunLog,
    interrupter: Interrupter,
}

impl EpochRenderer {
    /// A renderer that forwards to `inner` (or, when `None`, calls `hook` after each epoch, or
    /// prints a line when there is no hook either), records into `log`, and stops the run
    /// through `interrupter` when the training loss is not finite.
    pub fn new(
        inner: Option<Box<dyn MetricsRenderer>>,
        hook: Option<EpochHook>,
        log: SharedRunLog,
        interrupter: Interrupter,
    ) -> Self {
        Self {
            inner,
            hook,
            names: HashMap::new(),
            loss_name: LossMetric::new().name().to_string(),
            train: HashMap::new(),
            valid: HashMap::new(),
            total_epochs: 0,
            epoch: 1,
            batch: 0,
            epoch_start: None,
            in_train: false,
            split_items: 0,
            pending_loss: None,
            log,
            interrupter,
        }
    }

    /// Keeps an epoch-final value (burn sends `NumericEntry::Final` when a split ends) and
    /// watches the per-batch training loss.
    fn record(&mut self, state: &MetricState, valid: bool) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id) else {
            return;
        };
        match value {
            NumericEntry::Final(value) => {
                let split = if valid {
                    &mut self.valid
                } else {
                    &mut self.train
                };
                split.insert(name.clone(), *value);
            }
            batch if !valid && *name == self.loss_name => {
                let loss = batch.current();
                self.pending_loss = Some(loss);
                if !loss.is_finite() {
                    self.diverged(loss);
                }
            }
            _ => {}
        }
    }

    fn diverged(&mut self, loss: f64) {
        let mut log = self.log.lock().expect("run log poisoned");
        if log.divergence.is_none() {
            log.divergence = Some(Divergence {
                epoch: self.epoch,
                // burn reports a batch's metrics before its progress.
                batch: self.batch + 1,
                loss,
            });
            self.interrupter
                .stop(Some("the training loss is no longer finite"));
        }
    }

    fn finish_epoch(&mut self, epoch: usize) {
        let get =
            |split: &HashMap<String, f64>, name: &str| split.get(name).copied().unwrap_or(f64::NAN);
        let stats = EpochStats {
            epoch,
            train_loss: get(&self.train, &self.loss_name),
            train_error: get(&self.train, ErrorRateMetric::NAME),
            test_loss: get(&self.valid, &self.loss_name),
            test_error: get(&self.valid, ErrorRateMetric::NAME),
            seconds: self
                .epoch_start
                .map_or(0.0, |start| start.elapsed().as_secs_f64()),
        };
        if let Some(hook) = &self.hook {
            hook(&stats);
        } else if self.inner.is_none() {
            println!(
                "epoch {:>3}/{} | train loss {:.5} error {:6.2}% | test loss {:.5} error {:6.2}% | {:.1} s",
                stats.epoch,
                self.total_epochs,
                stats.train_loss,
                stats.train_error,
                stats.test_loss,
                stats.test_error,
                stats.seconds
            );
        }
        self.log
            .lock()
            .expect("run log poisoned")
            .epochs
            .push(stats);
    }
}

impl MetricsRendererTraining for EpochRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(&state, false);
        if let Some(inner) = &mut self.inner {
            inner.update_train(state);
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(&state, true);
        if let Some(inner) = &mut self.inner {
            inner.update_valid(state);
        }
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        match &mut self.inner {
            Some(inner) => inner.on_train_end(summary),
            None => Ok(()),
        }
    }
}

impl TrainingProgressLogger for EpochRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch;
        if let Some(inner) = &mut self.inner {
            inner.start(total_epochs, starting_epoch, total_items, label);
        }
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.finish_epoch(epoch);
        self.epoch = epoch + 1;
        if let Some(inner) = &mut self.inner {
            inner.update_epoch(epoch);
        }
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.in_train = split == "train";
        if self.in_train {
            self.epoch_start = Some(Instant::now());
            self.batch = 0;
            self.split_items = total_items;
        }
        if let Some(inner) = &mut self.inner {
            inner.start_split(split, total_items);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        self.batch += 1;
        if let (true, Some(loss)) = (self.in_train, self.pending_loss.take()) {
            self.log
                .lock()
                .expect("run log poisoned")
                .batches
                .push(BatchLoss {
                    epoch: self.epoch,
                    samples_seen: (self.epoch - 1) * self.split_items + items_processed,
                    loss,
                });
        }
        if let Some(inner) = &mut self.inner {
            inner.update_split(items_processed);
        }
    }

    fn end_split(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.end_split();
        }
    }

    fn end(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.end();
        }
    }

    fn log_event_training(&mut self, event: String) {
        if let Some(inner) = &mut self.inner {
            inner.log_event_training(event);
        }
    }
}

impl EvaluationProgressLogger for EpochRenderer {
    fn start_global_progress(&mut self, total_tests: usize) {
        if let Some(inner) = &mut self.inner {
            inner.start_global_progress(total_tests);
        }
    }

    fn start_test(&mut self, name: &str, total_items: usize) {
        if let Some(inner) = &mut self.inner {
            inner.start_test(name, total_items);
        }
    }

    fn update_test_progress(&mut self, items_processed: usize) {
        if let Some(inner) = &mut self.inner {
            inner.update_test_progress(items_processed);
        }
    }

    fn end_test(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.end_test();
        }
    }

    fn end_global_progress(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.end_global_progress();
        }
    }

    fn log_event_evaluation(&mut self, event: String) {
        if let Some(inner) = &mut self.inner {
            inner.log_event_evaluation(event);
        }
    }
}

impl MetricsRendererEvaluation for EpochRenderer {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        if let Some(inner) = &mut self.inner {
            inner.update_test(name, state);
        }
    }
}

impl MetricsRenderer for EpochRenderer {
    fn manual_close(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.manual_close();
        }
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
        if let Some(inner) = &mut self.inner {
            inner.register_metric(definition);
        }
    }
}
