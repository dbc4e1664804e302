//! A batch's forward and backward pass: the images split evenly over rayon's threads, each
//! thread running [`Scratch`]'s per-image loops over buffers it keeps from step to step, and
//! the per-thread gradients summed.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::pass::{Dims, HostNet, Scratch};
use crate::{NUM_CLASSES, PIXELS, half_squared_error};

thread_local! {
    /// Each thread's buffers, kept from step to step.
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Runs `work` with this thread's buffers for a network of sizes `dims`.
fn with_scratch<R>(dims: Dims, work: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        let scratch = match slot.take() {
            Some(scratch) if scratch.dims() == dims => slot.insert(scratch),
            _ => slot.insert(Scratch::new(dims)),
        };
        work(scratch)
    })
}

/// Images per parallel task: the batch split evenly over the threads.
fn chunk_len(images: usize) -> usize {
    images.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// The network's outputs, `[n, 10]` row-major, for `n` images (`[n, 784]`, values in `[0, 1]`).
pub fn forward(net: &HostNet, images: &[f32]) -> Vec<f32> {
    let n = images.len() / PIXELS;
    let mut outputs = vec![0.0; n * NUM_CLASSES];
    let chunk = chunk_len(n);
    outputs
        .par_chunks_mut(chunk * NUM_CLASSES)
        .zip(images.par_chunks(chunk * PIXELS))
        .for_each(|(outputs, images)| {
            with_scratch(net.dims, |scratch| {
                scratch.forward_images(net, images, outputs)
            })
        });
    outputs
}

/// What one training step computed on the host.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The objective `E` on the batch (data term plus weight decay).
    pub loss: f64,
    /// The network's outputs, `[n, 10]` row-major.
    pub outputs: Vec<f32>,
    /// The gradient of `E` with respect to every parameter, in the kernels' layouts.
    pub grads: HostNet,
}

/// Forward and backward pass of a batch: `images` `[n, 784]`, `targets` `[n]` classes, with
/// weight decay `lambda` (the paper's objective, equation 6).
pub fn train_step(net: &HostNet, images: &[f32], targets: &[usize], lambda: f64) -> StepOutput {
    let n = targets.len();
    let mut outputs = vec![0.0; n * NUM_CLASSES];
    let chunk = chunk_len(n);
    let partial: Vec<(f64, HostNet)> = outputs
        .par_chunks_mut(chunk * NUM_CLASSES)
        .zip(images.par_chunks(chunk * PIXELS))
        .zip(targets.par_chunks(chunk))
        .map(|((outputs, images), targets)| {
            with_scratch(net.dims, |scratch| {
                scratch.train_images(net, images, targets, n, outputs)
            })
        })
        .collect();
    let mut loss = 0.0;
    let mut grads = HostNet::zeros(net.dims);
    for (part_loss, mut part_grads) in partial {
        loss += part_loss;
        grads.add_assign(&mut part_grads);
    }
    if lambda != 0.0 {
        for (grad, weights) in [
            (&mut grads.w1, &net.w1),
            (&mut grads.w3, &net.w3),
            (&mut grads.wf, &net.wf),
        ] {
            for (g, w) in grad.iter_mut().zip(weights) {
                *g += lambda as f32 * w;
            }
        }
        loss += decay(net, lambda);
    }
    StepOutput {
        loss,
        outputs,
        grads,
    }
}

/// The decay term `λ/2 Σ W²` over the kernels and the output matrix.
fn decay(net: &HostNet, lambda: f64) -> f64 {
    let squares: f64 = net
        .decayed()
        .iter()
        .flat_map(|w| w.iter())
        .map(|&w| f64::from(w) * f64::from(w))
        .sum();
    lambda / 2.0 * squares
}

/// The objective `E = 1/n Σ ½‖t − y‖² + λ/2 Σ W²` of outputs `[n, 10]` (from [`forward`])
/// against `targets` (`[n]` classes).
pub fn objective(net: &HostNet, outputs: &[f32], targets: &[usize], lambda: f64) -> f64 {
    let squared: f64 = outputs
        .chunks_exact(NUM_CLASSES)
        .zip(targets)
        .map(|(row, &target)| half_squared_error(row, target))
        .sum();
    let data = squared / targets.len().max(1) as f64;
    if lambda == 0.0 {
        data
    } else {
        data + decay(net, lambda)
    }
}
