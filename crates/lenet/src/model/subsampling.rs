//! The S2 and S4 layers: 2x2 subsampling, as a plain mean or as the paper's formula (3).

use burn::module::{Initializer, Param};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

/// How the S2/S4 layers subsample their input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Subsampling {
    /// Plain 2x2 average, no parameters (the reference MATLAB toolbox's `s` layer).
    #[serde(alias = "mean")]
    Mean,
    /// The paper's formula (3), `sigmoid(mean + b_j)` with one trainable bias per map, with the
    /// mean centred and scaled: `sigmoid(4·(mean − ½) + b_j)`.
    ///
    /// As printed, formula (3) does not train (≈ 90 % error after 30 epochs at lr 0.2-5): its
    /// input is a mean of sigmoid outputs, which sit near ½ (a blank patch gives exactly ½), so
    /// `sigmoid(mean + b)` maps the useful range onto ≈ [0.62 ± 0.06] — a constant offset
    /// plus a signal squeezed by `sigmoid'(½) ≈ ¼`. Two such layers on top of the three
    /// sigmoid layers shrink the gradient reaching C1 by another ≈ 16x and leave C3 and the
    /// output layer staring at near-constant inputs. Centring on ½ and multiplying by
    /// `1 / sigmoid'(0) = 4` makes the layer ≈ the identity at initialisation, while keeping the
    /// formula's squashing and its per-map bias; then it trains like [`Subsampling::Mean`].
    #[serde(alias = "paper")]
    Paper,
}

impl Subsampling {
    /// The variant's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Paper => "paper",
        }
    }
}

impl std::fmt::Display for Subsampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Centre of the paper variant's input (sigmoid outputs sit around ½).
pub(crate) const PAPER_CENTRE: f64 = 0.5;
/// Gain of the paper variant: `1 / sigmoid'(0)`, so the layer starts with slope 1.
pub(crate) const PAPER_GAIN: f64 = 4.0;

/// A 2x2, stride-2 subsampling layer: a plain mean, or the paper's `sigmoid(4·(mean − ½) + b_j)`.
#[derive(Module, Debug)]
pub struct SubsamplingLayer {
    /// The 2x2 average.
    pub pool: AvgPool2d,
    /// One bias per feature map (`[maps]`), present for [`Subsampling::Paper`] only.
    pub bias: Option<Param<Tensor<1>>>,
}

impl SubsamplingLayer {
    pub(super) fn new(kind: Subsampling, maps: usize, device: &Device) -> Self {
        Self {
            pool: AvgPool2dConfig::new([2, 2]).init(),
            bias: match kind {
                Subsampling::Mean => None,
                Subsampling::Paper => Some(Initializer::Zeros.init([maps], device)),
            },
        }
    }

    /// `[batch, maps, h, w]` → `[batch, maps, h/2, w/2]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.pool.forward(x);
        match &self.bias {
            None => x,
            Some(bias) => {
                let [maps] = bias.dims();
                let centred = x.sub_scalar(PAPER_CENTRE).mul_scalar(PAPER_GAIN);
                sigmoid(centred + bias.val().reshape([1, maps, 1, 1]))
            }
        }
    }
}
