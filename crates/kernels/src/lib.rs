//! The arithmetic of lenet's fused CPU path: the network's forward and backward pass on the
//! host as direct convolutions over reused buffers, one image at a time ([`pass`]), for a
//! batch split over rayon's threads ([`batch`]). lenet converts burn's parameters to
//! [`HostNet`] and the gradients back; this crate knows nothing of burn.
//!
//! It is a crate of its own, compiled as one codegen unit, with each stage of the pass a
//! function of its own (`pass::stage!`), so that the machine code of these loops depends on
//! this code alone. The loops keep their running sums in registers only where LLVM unrolls
//! them fully, and that decision weighs everything compiled in the same unit: inside lenet, a
//! change elsewhere in lenet could move those sums to the stack and slow training by a fifth;
//! as one function, LLVM stops inlining the iterator adapters inside it. The measurements
//! behind both are in `experiments/bench/RESULTS.md` ("The kernels' machine code made
//! independent of the rest of lenet").

pub mod batch;
pub mod pass;

pub use batch::{StepOutput, forward, objective, train_step};
pub use pass::{Dims, HostNet};

/// Side of the square input images, in pixels.
pub const IMAGE_SIZE: usize = 28;
/// Pixels of one image.
pub const PIXELS: usize = IMAGE_SIZE * IMAGE_SIZE;
/// Number of digit classes (the network's outputs).
pub const NUM_CLASSES: usize = 10;

/// One image's share of the data term before the mean, `½‖t − y‖²`: `outputs` its 10 outputs,
/// `target` its class. What the fused path and the evaluation sum (lenet's `loss::squared_error`
/// is the tensor form autodiff differentiates).
pub fn half_squared_error(outputs: &[f32], target: usize) -> f64 {
    let squared: f64 = outputs
        .iter()
        .enumerate()
        .map(|(class, &y)| {
            let diff = f64::from(y) - if class == target { 1.0 } else { 0.0 };
            diff * diff
        })
        .sum();
    0.5 * squared
}
