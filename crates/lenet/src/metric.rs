//! The paper's figure of merit, the error rate (equation 18), as a burn-train metric.

use burn::prelude::*;
use burn::tensor::TensorReadError;
use burn::train::ClassificationOutput;
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};

/// Percentage of misclassified images: `100 · wrong / total`.
#[derive(Clone)]
pub struct ErrorRateMetric {
    name: MetricName,
    state: NumericMetricState,
}

impl Default for ErrorRateMetric {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorRateMetric {
    /// The metric's name on the dashboard and in logs.
    pub const NAME: &'static str = "Error";

    /// A new, empty metric.
    pub fn new() -> Self {
        Self {
            name: MetricName::new(Self::NAME.to_string()),
            state: NumericMetricState::default(),
        }
    }

    fn format(&self) -> FormatOptions {
        FormatOptions::new(self.name()).unit("%").precision(2)
    }
}

/// Input of [`ErrorRateMetric`].
pub struct ErrorRateInput {
    /// Network outputs, `[batch, classes]`.
    pub outputs: Tensor<2>,
    /// True classes, `[batch]`.
    pub targets: Tensor<1, Int>,
}

impl Adaptor<ErrorRateInput> for ClassificationOutput {
    fn adapt(&self) -> ErrorRateInput {
        ErrorRateInput {
            outputs: self.output.clone(),
            targets: self.targets.clone(),
        }
    }
}

/// Number of images whose largest output is not their class.
///
/// # Shapes
/// - `outputs`: `[batch, classes]`, `targets`: `[batch]`
pub fn count_errors(outputs: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1, Int> {
    let [batch, _] = outputs.dims();
    outputs
        .argmax(1)
        .reshape([batch])
        .not_equal(targets)
        .int()
        .sum()
}

impl Metric for ErrorRateMetric {
    type Input = ErrorRateInput;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(
        &mut self,
        input: &ErrorRateInput,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let [batch, _] = input.outputs.dims();
        let wrong =
            count_errors(input.outputs.clone(), input.targets.clone()).try_into_scalar::<i64>()?;
        self.state
            .update(100.0 * wrong as f64 / batch as f64, batch);
        Ok(self.state.compute_update(self.format()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self.state.compute_final(self.format()))
    }

    fn clear(&mut self) {
        self.state.reset()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: Some("%".to_string()),
            higher_is_better: false,
        }
        .into()
    }
}

impl Numeric for ErrorRateMetric {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }

    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }

    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}
