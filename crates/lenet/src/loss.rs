//! The paper's objective, equation (6):
//! `E = 1/m Σᵢ ½‖tᵢ − yᵢ‖² + λ/2 Σ W²` — one-hot targets `t`, network outputs `y`, the squared
//! error summed over the 10 outputs and averaged over the `m` images of the batch, plus weight
//! decay over the convolution and fully connected weights (not the biases).

use burn::prelude::*;

use crate::mnist::NUM_CLASSES;
use crate::model::LeNet;

/// The data term `1/m Σᵢ ½‖tᵢ − yᵢ‖²`.
///
/// # Shapes
/// - `outputs`: `[batch, 10]`
/// - `targets`: `[batch]` class indices
/// - returns `[1]`
pub fn squared_error(outputs: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = outputs.dims();
    let one_hot = targets.one_hot::<2>(NUM_CLASSES).float();
    let diff = one_hot - outputs;
    (diff.clone() * diff).sum().div_scalar(2.0 * batch as f64)
}

/// One image's share of the data term before the mean, `½‖t − y‖²`, on the host (defined
/// beside the kernels that sum it).
pub use lenet_kernels::half_squared_error;

/// The decay term `λ/2 Σ W²` over `weights`.
///
/// Returns `[1]`.
pub fn weight_decay(weights: Vec<Tensor<1>>, lambda: f64) -> Tensor<1> {
    weights
        .into_iter()
        .map(|w| (w.clone() * w).sum())
        .reduce(|a, b| a + b)
        .expect("at least one weight tensor")
        .mul_scalar(lambda / 2.0)
}

/// The full objective `E` for `model` on a batch, with weight decay `lambda`.
///
/// # Shapes
/// - `outputs`: `[batch, 10]`, the model's output on the batch
/// - `targets`: `[batch]`
/// - returns `[1]`
pub fn objective(
    model: &LeNet,
    outputs: Tensor<2>,
    targets: Tensor<1, Int>,
    lambda: f64,
) -> Tensor<1> {
    let data = squared_error(outputs, targets);
    if lambda == 0.0 {
        data
    } else {
        data + weight_decay(model.decayed_weights(), lambda)
    }
}
