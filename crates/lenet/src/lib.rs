//! The improved LeNet-5 of the paper (Chinese, with an English abstract) on handwritten digit
//! recognition, built on burn.
//!
//! - [`model`]: the network ([`LeNet`], built by [`LeNetConfig::init`]);
//! - [`loss`]: its objective, `E = 1/m Σ ½‖t − y‖² + λ/2 Σ W²`;
//! - [`data`]: MNIST files, subsets, deskewing, images of any size turned into MNIST form;
//! - [`config`]: everything a run depends on ([`TrainingConfig`], saved as `config.json`), each
//!   setting defined once ([`settings`](mod@settings) derives the flags and study tables,
//!   [`TrainingOverrides`], from that one list);
//! - [`train`](mod@train): the training loop (burn-train's `Learner`) and its progress;
//! - [`compute`]: how the network's passes are computed ([`Compute`]: burn's composed
//!   operations, or `fused`, the whole forward and backward pass on the host as direct
//!   convolutions per image, what makes the CPU backends fast), chosen once with the backend;
//! - [`eval`]: a trained model: loading, test error, predictions;
//! - [`artifacts`]: a run's folder ([`artifacts::RunFolder`]: configuration, checkpoints, model),
//!   written crash-safe ([`atomic`]);
//! - [`files`]: what the program reads and writes, checked first (regular files within a
//!   bound; outputs that replace only regular files, with `--force`);
//! - [`weights`]: weight files other programs read and write (burnpack, SafeTensors, PyTorch);
//! - [`tensorboard`]: a run's curves and settings as TensorBoard's event files;
//! - [`backend`]: the one place a backend is chosen ([`runtime_dir`]: what wgpu's drivers
//!   need from the environment); [`cli`]: flags the binaries share;
//!   [`machine`]: the machine a measurement was taken on.

pub mod artifacts;
pub mod atomic;
pub mod backend;
pub mod cli;
pub mod compute;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod files;
pub(crate) mod fused;
pub mod loss;
pub mod machine;
pub mod metric;
pub mod mnist;
pub mod model;
pub mod onnx;
pub mod runtime_dir;
pub mod settings;
pub mod tensorboard;
pub mod train;
pub mod weights;

pub use backend::Backend;
pub use compute::Compute;
pub use config::{Init, Schedule, TrainingConfig, TrainingOverrides};
pub use error::{LenetError, Result};
pub use eval::{ConfigSource, Evaluation, TrainedModel};
pub use model::{LeNet, LeNetConfig, LeNetOverrides, Subsampling};
pub use train::train;
