//! Training the network with burn-train's `Learner`, as configured by a
//! [`TrainingConfig`](crate::TrainingConfig).
//!
//! - [`run`]: [`train`], the loop: artifact folder, network, `Learner`, outcome;
//! - [`ending`]: how a run ended (complete, interrupted, stopped early) and which epoch is the
//!   model;
//! - [`step`]: what the `Learner` trains ([`TrainingModel`]) and one training/validation step;
//! - [`loader`]: the training loader, reshuffled per epoch from `(seed, epoch)`;
//! - [`recorder`]: what a run records (epochs, batches, divergence), as a metric logger;
//! - [`progress`]: the dashboard, epoch lines or a hook;
//! - [`tensorboard`](mod@tensorboard): the run's curves and settings as TensorBoard event files.

pub mod ending;
pub mod loader;
pub mod progress;
pub mod recorder;
pub mod run;
pub mod step;
pub mod tensorboard;

pub use ending::Ending;
pub use progress::Progress;
pub use recorder::{BatchLoss, EpochStats, EpochTimes};
pub use run::{RunOptions, TrainingOutcome, check_checkpoint, train, training_loader};
pub use step::{Objective, TrainingModel};
