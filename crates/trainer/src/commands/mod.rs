//! The commands of `trainer`, a module each: what it takes (its clap `Args`) and what it does.

pub mod bench;
pub mod eval;
pub mod export;
pub mod inspect;
pub mod predict;
pub mod serve;
pub mod train;

use lenet::TrainedModel;

/// How a command ended, when it did not fail.
pub enum Outcome {
    Finished,
    /// Stopped early on request; exits with 130 like a shell's Ctrl-C.
    Interrupted,
}

/// Says where a loaded model's network came from when it is not a run of ours.
pub(crate) fn note_source(model: &TrainedModel) {
    if let lenet::ConfigSource::Inferred(reason) = &model.source {
        eprintln!(
            "note: {} ({reason}): the network was read from its tensors' shapes: {}",
            model.path.display(),
            model.describe()
        );
    }
}
