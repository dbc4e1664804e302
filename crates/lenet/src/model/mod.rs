//! The paper's "improved LeNet-5" (section 1.2): C1 conv → S2 subsampling → C3 conv →
//! S4 subsampling → one fully connected layer, sigmoid activations throughout.

pub(crate) mod subsampling;

use burn::module::{Initializer, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::sigmoid;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::error;
use crate::mnist::{IMAGE_SIZE, NUM_CLASSES};

/// The most feature maps C1 or C3 may have.
pub const MAX_MAPS: usize = 256;
pub use subsampling::{Subsampling, SubsamplingLayer};

crate::settings! {
    /// Configuration of [`LeNet`]: the network's settings (see [`crate::settings`](mod@crate::settings)), saved as
    /// the `model` section of `config.json`.
    pub struct LeNetConfig / LeNetOverrides {
        /// Feature maps of C1.
        #[arg(long, value_name = "MAPS")]
        value c1: usize = 6, valid(maps_in_range, format!("1..={MAX_MAPS} feature maps"));
        /// Feature maps of C3 (each sees every S2 map).
        #[arg(long, value_name = "MAPS")]
        value c3: usize = 12, valid(maps_in_range, format!("1..={MAX_MAPS} feature maps"));
        /// Side of the square convolution kernels (both convolutions must fit a 28x28 input).
        #[arg(long, value_name = "K")]
        value kernel_size: usize = 5;
        /// Subsampling layers: a plain 2x2 mean, or the paper's formula (3), rescaled:
        /// sigmoid(4·(mean−½) + bias).
        #[arg(long, value_enum)]
        value subsampling: Subsampling = Subsampling::Mean;
    }
}

/// Whether a layer's feature maps are within `1..=MAX_MAPS`: far above any network this
/// program is for (the paper's are 6 and 12), low enough that one batch never takes minutes or
/// gigabytes.
fn maps_in_range(maps: &usize) -> bool {
    (1..=MAX_MAPS).contains(maps)
}

/// Multiply-adds of one image (see [`LeNetConfig::multiply_adds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultiplyAdds {
    /// The forward pass.
    pub forward: usize,
    /// The backward pass of a training step.
    pub backward: usize,
}

impl MultiplyAdds {
    /// Floating-point operations of a training step (forward and backward) of one image.
    pub fn training_flops(&self) -> f64 {
        2.0 * (self.forward + self.backward) as f64
    }
}

/// Side lengths of the feature maps after C1, S2, C3 and S4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureSizes {
    /// After C1.
    pub c1: usize,
    /// After S2.
    pub s2: usize,
    /// After C3.
    pub c3: usize,
    /// After S4.
    pub s4: usize,
}

impl LeNetConfig {
    /// Checks the configuration and returns the feature-map sizes it leads to.
    pub fn feature_sizes(&self) -> error::Result<FeatureSizes> {
        self.check_fields()?;
        // Two valid convolutions and two halvings must leave at least a 1x1 map.
        let k = self.kernel_size;
        let fits = |k: usize| {
            let c1 = IMAGE_SIZE.checked_sub(k)? + 1;
            let s2 = c1 / 2;
            let c3 = s2.checked_sub(k)? + 1;
            (k >= 1 && c3 / 2 >= 1).then_some(FeatureSizes {
                c1,
                s2,
                c3,
                s4: c3 / 2,
            })
        };
        fits(k).ok_or_else(|| {
            let max = (1..=IMAGE_SIZE)
                .filter(|&k| fits(k).is_some())
                .max()
                .unwrap_or(1);
            LeNetOverrides::invalid(
                "kernel_size",
                k,
                format!(
                    "1..={max} so that both convolutions fit a {IMAGE_SIZE}x{IMAGE_SIZE} input"
                ),
            )
        })
    }

    /// The arithmetic of one image's training step, in multiply-adds (a multiply-add is 2
    /// floating-point operations): the forward pass (C1, C3 and the fully connected layer), and
    /// the backward pass as training computes it (the weight gradients of all three, the input
    /// gradients of C3 and the fully connected layer; C1's input gradient is never needed). The
    /// subsampling layers and sigmoids are a few thousand operations, left out.
    pub fn multiply_adds(&self) -> error::Result<MultiplyAdds> {
        let sizes = self.feature_sizes()?;
        let k2 = self.kernel_size * self.kernel_size;
        let c1 = self.c1 * sizes.c1 * sizes.c1 * k2;
        let c3 = self.c3 * sizes.c3 * sizes.c3 * self.c1 * k2;
        let fc = self.fc_inputs()? * NUM_CLASSES;
        Ok(MultiplyAdds {
            forward: c1 + c3 + fc,
            backward: c1 + 2 * c3 + 2 * fc,
        })
    }

    /// Inputs of the fully connected layer: `c3 · s4 · s4` (192 for the paper's network).
    pub fn fc_inputs(&self) -> error::Result<usize> {
        let sizes = self.feature_sizes()?;
        Ok(self.c3 * sizes.s4 * sizes.s4)
    }

    /// Builds the network with the reference toolbox's initialisation, drawing from the
    /// device's random generator (seed it with `device.seed`).
    ///
    /// Weights are uniform in `±sqrt(6 / (fan_in + fan_out))` (for a convolution
    /// `fan_in = in_maps·k²`, `fan_out = out_maps·k²`), biases zero. Panics if the configuration
    /// is invalid; call [`Self::feature_sizes`] first to get an error instead.
    pub fn init(&self, device: &Device) -> LeNet {
        self.build(device, |count, bound| {
            Tensor::<1>::random([count], Distribution::Uniform(-bound, bound), device)
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("f32 weights")
        })
    }

    /// Like [`Self::init`], but draws the weights from a generator seeded with `seed`: the same
    /// weights on every backend, whatever else uses the device's generator.
    pub fn init_seeded(&self, device: &Device, seed: u64) -> LeNet {
        self.init_seeded_scaled(device, seed, 1.0)
    }

    /// Like [`Self::init_seeded`], with every weight bound multiplied by `gain` (4 is Glorot and
    /// Bengio's bound for logistic units; see [`crate::config::Init`]).
    pub fn init_seeded_scaled(&self, device: &Device, seed: u64, gain: f64) -> LeNet {
        let mut rng = StdRng::seed_from_u64(seed);
        self.build(device, |count, bound| {
            let bound = gain * bound;
            (0..count)
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect()
        })
    }

    /// Assembles the layers; `uniform(count, bound)` draws `count` weights in `±bound`.
    fn build(&self, device: &Device, mut uniform: impl FnMut(usize, f64) -> Vec<f32>) -> LeNet {
        let fc_inputs = self.fc_inputs().expect("invalid LeNet configuration");
        let k = self.kernel_size;
        let mut conv = |inputs: usize, outputs: usize| {
            let mut conv = Conv2dConfig::new([inputs, outputs], [k, k])
                .with_initializer(Initializer::Zeros)
                .init(device);
            let bound = glorot_bound(inputs * k * k, outputs * k * k);
            let weights = uniform(outputs * inputs * k * k, bound);
            conv.weight =
                Param::from_data(TensorData::new(weights, [outputs, inputs, k, k]), device);
            conv
        };
        let c1 = conv(1, self.c1);
        let c3 = conv(self.c1, self.c3);
        let mut fc = LinearConfig::new(fc_inputs, NUM_CLASSES)
            .with_initializer(Initializer::Zeros)
            .init(device);
        let weights = uniform(
            fc_inputs * NUM_CLASSES,
            glorot_bound(fc_inputs, NUM_CLASSES),
        );
        fc.weight = Param::from_data(TensorData::new(weights, [fc_inputs, NUM_CLASSES]), device);
        LeNet {
            c1,
            s2: SubsamplingLayer::new(self.subsampling, self.c1, device),
            c3,
            s4: SubsamplingLayer::new(self.subsampling, self.c3, device),
            fc,
        }
    }
}

fn glorot_bound(fan_in: usize, fan_out: usize) -> f64 {
    (6.0 / (fan_in + fan_out) as f64).sqrt()
}

/// The improved LeNet-5.
#[derive(Module, Debug)]
pub struct LeNet {
    /// C1: `1 → c1` maps, `k×k` kernels.
    pub c1: Conv2d,
    /// S2: 2x2 subsampling.
    pub s2: SubsamplingLayer,
    /// C3: `c1 → c3` maps (full connection table), `k×k` kernels.
    pub c3: Conv2d,
    /// S4: 2x2 subsampling.
    pub s4: SubsamplingLayer,
    /// Output layer: `c3·s4·s4 → 10`.
    pub fc: Linear,
}

impl LeNet {
    /// Output activations in `(0, 1)`, one per class.
    ///
    /// # Shapes
    /// - `images`: `[batch, 1, 28, 28]`, pixels in `[0, 1]`
    /// - returns `[batch, 10]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = sigmoid(self.c1.forward(images)); // [batch, c1, 24, 24]
        let x = self.s2.forward(x); // [batch, c1, 12, 12]
        let x = sigmoid(self.c3.forward(x)); // [batch, c3, 8, 8]
        let x = self.s4.forward(x); // [batch, c3, 4, 4]
        let x = x.flatten::<2>(1, 3); // [batch, c3 * 16]
        sigmoid(self.fc.forward(x)) // [batch, 10]
    }

    /// The weights that weight decay applies to (conv kernels and the FC matrix, no biases),
    /// each flattened to one dimension.
    pub fn decayed_weights(&self) -> Vec<Tensor<1>> {
        vec![
            self.c1.weight.val().flatten(0, 3),
            self.c3.weight.val().flatten(0, 3),
            self.fc.weight.val().flatten(0, 1),
        ]
    }
}

/// A network in a line: `LeNet 6-12, 5x5 kernels, mean subsampling: 3898 parameters (...)`.
pub fn describe(config: &LeNetConfig, net: &LeNet) -> String {
    format!(
        "LeNet {}-{}, {k}x{k} kernels, {} subsampling: {} parameters (C1 {}, S2 {}, C3 {}, S4 {}, FC {})",
        config.c1,
        config.c3,
        config.subsampling.name(),
        net.num_params(),
        net.c1.num_params(),
        net.s2.num_params(),
        net.c3.num_params(),
        net.s4.num_params(),
        net.fc.num_params(),
        k = config.kernel_size,
    )
}
