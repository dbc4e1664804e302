//! How a run shows its progress: burn-train's terminal dashboard, one line per epoch, or a
//! callback, and the renderer burn-train needs for each.

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{Interrupter, LearnerSummary};

use super::recorder::{EpochHook, EpochReport};

/// How a run shows its progress.
#[derive(Clone)]
pub enum Progress {
    /// burn's terminal dashboard (loss and error curves, `q` to stop).
    Dashboard,
    /// One line per epoch on stdout.
    EpochLines,
    /// Nothing printed; the hook is called after each epoch.
    Hook(EpochHook),
}

impl Progress {
    /// The dashboard when stdout is a terminal, else a line per epoch.
    pub fn for_stdout() -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            Progress::Dashboard
        } else {
            Progress::EpochLines
        }
    }

    /// The renderer burn-train draws with, and what the run's recorder reports per epoch.
    pub(super) fn renderer(
        &self,
        interrupter: &Interrupter,
        resumed_after: Option<usize>,
    ) -> (Box<dyn MetricsRenderer>, EpochReport) {
        match self {
            Progress::Dashboard => (
                Box::new(TuiMetricsRendererWrapper::new(
                    interrupter.clone(),
                    resumed_after,
                )),
                EpochReport::Nothing,
            ),
            Progress::EpochLines => (Box::new(Quiet), EpochReport::Line),
            Progress::Hook(hook) => (Box::new(Quiet), EpochReport::Hook(hook.clone())),
        }
    }
}

/// A renderer that draws nothing: without the dashboard the recorder reports each epoch, where
/// burn's own text renderer would print a line per batch. (burn-train offers no silent one.)
struct Quiet;

impl MetricsRendererTraining for Quiet {
    fn update_train(&mut self, _: MetricState) {}
    fn update_valid(&mut self, _: MetricState) {}
    fn on_train_end(
        &mut self,
        _: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for Quiet {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}
}

impl TrainingProgressLogger for Quiet {
    fn start(&mut self, _: usize, _: usize, _: Option<usize>, _: Option<&str>) {}
    fn update_epoch(&mut self, _: usize) {}
    fn start_split(&mut self, _: &str, _: usize) {}
    fn update_split(&mut self, _: usize) {}
    fn end_split(&mut self) {}
    fn end(&mut self) {}
    fn log_event_training(&mut self, _: String) {}
}

impl EvaluationProgressLogger for Quiet {
    fn start_global_progress(&mut self, _: usize) {}
    fn start_test(&mut self, _: &str, _: usize) {}
    fn update_test_progress(&mut self, _: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _: String) {}
}

impl MetricsRenderer for Quiet {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _: MetricDefinition) {}
}
