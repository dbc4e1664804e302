//! The arithmetic of lenet's fused CPU path: the network's forward and backward pass on the
//! host as direct convolutions over reused buffers ([`kernels`]), for a batch split over
//! rayon's threads ([`batch`]). lenet converts burn's parameters to [`HostNet`] and the
//! gradients back; this crate knows nothing of burn.
//!
//! A crate of its own, compiled as one codegen unit, and each stage of the pass a function of
//! its own (`kernels::stage!`), so that the machine code of these loops depends on this code
//! alone. The loops keep their running sums in registers only where LLVM unrolls them fully,
//! and while they were a module of lenet that decision also weighed the rest of lenet: a change
//! to lenet's data loader alone (2026-12-04, 2-core AMD EPYC) took the forward pass's
//! stack accesses of vector registers from 10 to 52 and the inference rate at batch 1 from
//! 82 000 to 45 000 images/s, and slowed the batch-10 epoch by a fifth. Split over the default
//! 16 codegen units this crate still had them; in one unit with the whole pass as one function,
//! LLVM stopped inlining iterator adapters into it and training ran 9x slower. With the stages,
//! the same kernels compile to the same code whatever lenet holds (see `experiments/bench/
//! RESULTS.md` for the epoch times).

pub mod batch;
pub mod kernels;

pub use batch::{StepOutput, forward, objective, train_step};
pub use kernels::{Dims, HostNet};

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
