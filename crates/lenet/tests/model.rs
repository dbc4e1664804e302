//! The network's shapes and parameter counts, the objective's value and its gradients.

use burn::module::Param;
use burn::prelude::*;
use lenet::loss;
use lenet::model::{LeNet, LeNetConfig, Subsampling};

fn device() -> Device {
    Device::flex()
}

fn images(batch: usize, seed: u64, device: &Device) -> Tensor<4> {
    device.seed(seed);
    Tensor::random(
        [batch, 1, 28, 28],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        device,
    )
}

#[test]
fn every_layer_has_the_papers_shape() {
    let device = device();
    let model = LeNetConfig::new().init(&device);
    let x = images(3, 1, &device);
    let c1 = model.c1.forward(x.clone());
    assert_eq!(c1.dims(), [3, 6, 24, 24]);
    let s2 = model.s2.forward(c1);
    assert_eq!(s2.dims(), [3, 6, 12, 12]);
    let c3 = model.c3.forward(s2);
    assert_eq!(c3.dims(), [3, 12, 8, 8]);
    let s4 = model.s4.forward(c3);
    assert_eq!(s4.dims(), [3, 12, 4, 4]);
    assert_eq!(model.fc.weight.dims(), [192, 10]);
    let y = model.forward(x);
    assert_eq!(y.dims(), [3, 10]);
    let values = y.into_data().try_into_vec_as::<f32>().unwrap();
    assert!(
        values.iter().all(|v| *v > 0.0 && *v < 1.0),
        "sigmoid outputs"
    );
}

/// conv: maps_out · (maps_in · k² + 1); FC: c3 · 16 · 10 + 10; paper subsampling adds one bias
/// per map.
fn expected_params(c1: usize, c3: usize, paper: bool) -> usize {
    let convs = c1 * (25 + 1) + c3 * (c1 * 25 + 1);
    let fc = c3 * 16 * 10 + 10;
    convs + fc + if paper { c1 + c3 } else { 0 }
}

#[test]
fn parameter_counts_for_the_papers_three_sizes() {
    let device = device();
    for (c1, c3, count) in [(2, 8, 1750), (6, 12, 3898), (10, 16, 6846)] {
        assert_eq!(expected_params(c1, c3, false), count);
        for (kind, paper) in [(Subsampling::Mean, false), (Subsampling::Paper, true)] {
            let model = LeNetConfig::new()
                .with_c1(c1)
                .with_c3(c3)
                .with_subsampling(kind)
                .init(&device);
            assert_eq!(
                model.num_params(),
                expected_params(c1, c3, paper),
                "{c1}-{c3} {kind}"
            );
        }
    }
}

#[test]
fn initialisation_follows_the_toolbox() {
    let device = device();
    let model = LeNetConfig::new().init(&device);
    let max_abs = |t: Tensor<1>| t.abs().max().into_scalar::<f32>();
    let bound_c1 = (6.0f32 / (25.0 + 6.0 * 25.0)).sqrt();
    let bound_c3 = (6.0f32 / (6.0 * 25.0 + 12.0 * 25.0)).sqrt();
    let bound_fc = (6.0f32 / (192.0 + 10.0)).sqrt();
    let [c1, c3, fc] = <[Tensor<1>; 3]>::try_from(model.decayed_weights()).unwrap();
    for (w, bound) in [(c1, bound_c1), (c3, bound_c3), (fc, bound_fc)] {
        let m = max_abs(w);
        assert!(
            m <= bound && m > 0.8 * bound,
            "max |w| = {m}, bound {bound}"
        );
    }
    let bias = model.c1.bias.as_ref().unwrap().val();
    assert_eq!(max_abs(bias), 0.0);
}

#[test]
fn invalid_configurations_are_rejected_with_the_valid_range() {
    let err = LeNetConfig::new()
        .with_kernel_size(13)
        .feature_sizes()
        .unwrap_err();
    assert!(err.to_string().contains("kernel-size = 13"), "{err}");
    assert!(err.to_string().contains("1..=9"), "{err}");
    let err = LeNetConfig::new().with_c1(0).feature_sizes().unwrap_err();
    assert!(err.to_string().contains("c1 = 0"), "{err}");
    // A 3x3 kernel is fine: 26 -> 13 -> 11 -> 5.
    let sizes = LeNetConfig::new()
        .with_kernel_size(3)
        .feature_sizes()
        .unwrap();
    assert_eq!((sizes.c1, sizes.s2, sizes.c3, sizes.s4), (26, 13, 11, 5));
}

#[test]
fn objective_matches_a_hand_computed_value() {
    let device = device();
    // Image 1: all outputs 0.5, class 3 -> ½(9·0.25 + 0.25) = 1.25.
    // Image 2: a perfect one-hot output for class 7 -> 0.
    let mut second = [0.0f32; 10];
    second[7] = 1.0;
    let outputs = Tensor::<2>::from_data([[0.5f32; 10], second], &device);
    let targets = Tensor::<1, Int>::from_data([3i64, 7], &device);
    let data: f32 = loss::squared_error(outputs, targets).into_scalar::<f32>();
    assert!((data - 0.625).abs() < 1e-6, "{data}");

    // λ/2 Σ W² with W = {1, 2} and {3}, λ = 0.1 -> 0.05 · 14 = 0.7.
    let weights = vec![
        Tensor::<1>::from_data([1.0f32, 2.0], &device),
        Tensor::<1>::from_data([3.0f32], &device),
    ];
    let decay: f32 = loss::weight_decay(weights, 0.1).into_scalar::<f32>();
    assert!((decay - 0.7).abs() < 1e-6, "{decay}");
}

#[test]
fn objective_with_lambda_adds_the_decay_of_exactly_the_weights() {
    let device = device();
    let model = LeNetConfig::new().init(&device);
    let x = images(4, 3, &device);
    let targets = Tensor::<1, Int>::from_data([1i64, 2, 3, 4], &device);
    let out = model.forward(x);
    let plain: f32 =
        loss::objective(&model, out.clone(), targets.clone(), 0.0).into_scalar::<f32>();
    let decayed: f32 = loss::objective(&model, out, targets, 0.5).into_scalar::<f32>();
    let sum_sq: f32 = model
        .decayed_weights()
        .into_iter()
        .map(|w| (w.clone() * w).sum().into_scalar::<f32>())
        .sum();
    assert!(((decayed - plain) - 0.25 * sum_sq).abs() < 1e-4 * sum_sq.max(1.0));
}

/// λ of the gradient check.
const LAMBDA: f64 = 0.01;

/// Objective of `model` on a fixed batch.
fn objective_value(model: &LeNet, x: &Tensor<4>, t: &Tensor<1, Int>) -> f64 {
    let out = model.forward(x.clone());
    loss::objective(model, out, t.clone(), LAMBDA).into_scalar::<f64>()
}

fn nudged<const D: usize>(param: &Param<Tensor<D>>, index: usize, by: f32) -> Param<Tensor<D>> {
    let tensor = param.val();
    let shape = tensor.shape();
    let device = tensor.device();
    let mut values = tensor.into_data().try_into_vec_as::<f32>().unwrap();
    values[index] += by;
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), &device))
}

/// The weight tensors the gradient check nudges.
#[derive(Debug, Clone, Copy)]
enum Weight {
    C1,
    C3,
    Fc,
}

impl Weight {
    /// `model` with one weight of this tensor moved by `by`.
    fn nudge(self, model: &LeNet, index: usize, by: f32) -> LeNet {
        let mut m = model.clone();
        match self {
            Weight::C1 => m.c1.weight = nudged(&model.c1.weight, index, by),
            Weight::C3 => m.c3.weight = nudged(&model.c3.weight, index, by),
            Weight::Fc => m.fc.weight = nudged(&model.fc.weight, index, by),
        }
        m
    }
}

#[test]
fn gradients_match_finite_differences() {
    let device = device();
    let ad = device.clone().autodiff();
    for kind in [Subsampling::Mean, Subsampling::Paper] {
        ad.seed(7);
        let model = LeNetConfig::new().with_subsampling(kind).init(&ad);
        let x = images(5, 11, &ad);
        let t = Tensor::<1, Int>::from_data([0i64, 3, 5, 7, 9], &ad);
        let out = model.forward(x.clone());
        let grads = loss::objective(&model, out, t.clone(), LAMBDA).backward();

        let plain = model.valid();
        let x = x.without_autodiff();
        let t = t.without_autodiff();
        let grad_of = |g: Option<Tensor<1>>| {
            g.expect("gradient")
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap()
        };
        let checks = [
            (
                Weight::C1,
                grad_of(model.c1.weight.grad(&grads).map(|g| g.flatten(0, 3))),
            ),
            (
                Weight::C3,
                grad_of(model.c3.weight.grad(&grads).map(|g| g.flatten(0, 3))),
            ),
            (
                Weight::Fc,
                grad_of(model.fc.weight.grad(&grads).map(|g| g.flatten(0, 1))),
            ),
        ];
        let eps = 1e-2f32;
        let abs_tol = 5e-5;
        for (name, analytic) in &checks {
            let perturb = |index, by| name.nudge(&plain, index, by);
            let indices = [0, 7, analytic.len() / 2, analytic.len() - 1];
            let largest = indices
                .iter()
                .map(|&i| analytic[i].abs())
                .fold(0.0, f32::max);
            assert!(
                largest > 1e-3,
                "{kind} {name:?}: gradients too small to check ({largest:e})"
            );
            for index in indices {
                let up = objective_value(&perturb(index, eps), &x, &t);
                let down = objective_value(&perturb(index, -eps), &x, &t);
                let numeric = (up - down) / (2.0 * eps as f64);
                let a = analytic[index] as f64;
                let tol = abs_tol + 2e-2 * a.abs().max(numeric.abs());
                assert!(
                    (a - numeric).abs() < tol,
                    "{kind} {name:?}[{index}]: autodiff {a:e} vs finite difference {numeric:e}"
                );
            }
        }
    }
}

#[test]
fn a_training_step_of_the_paper_network_is_1_05_mflop_an_image() {
    // Hand-counted: C1 6 maps of 24x24 from 5x5 kernels = 86 400 multiply-adds; C3 12 maps of
    // 8x8 from 6 maps of 5x5 = 115 200; the output layer 192 x 10 = 1 920.
    let counts = LeNetConfig::new().multiply_adds().unwrap();
    assert_eq!(counts.forward, 86_400 + 115_200 + 1_920);
    // Weight gradients of all three, input gradients of C3 and the output layer.
    assert_eq!(counts.backward, 86_400 + 2 * 115_200 + 2 * 1_920);
    // 62.9 GFLOP an epoch of 60 000 images.
    let epoch = counts.training_flops() * 60_000.0;
    assert!((epoch / 1e9 - 62.9).abs() < 0.05, "{epoch}");
    // Twice the C3 maps, twice C3's share.
    let wider = LeNetConfig::new().with_c3(24).multiply_adds().unwrap();
    assert_eq!(wider.forward - counts.forward, 115_200 + 1_920);
}
