//! The one error type of the experiments library.

use std::path::{Path, PathBuf};

/// What can go wrong while running a study or writing its results.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A shard that cannot be used (`--shard`, or a scheduler's variables).
    #[error("shard: {reason}")]
    Shard {
        /// What is wrong.
        reason: String,
    },
    /// A study definition that cannot be used.
    #[error("{path}: {reason}")]
    Definition {
        /// The definition file.
        path: PathBuf,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing or reading a CSV file failed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// Drawing a figure failed.
    #[error("drawing {path}: {reason}")]
    Plot {
        /// The figure file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// A baseline classifier failed to train.
    #[error("{classifier}: {reason}")]
    Baseline {
        /// The classifier.
        classifier: String,
        /// The cause.
        reason: String,
    },
    /// The run was stopped (Ctrl-C); results of finished runs are kept.
    #[error("interrupted during {0}; the runs finished before it are kept")]
    Interrupted(String),
    /// Training or evaluating the network failed.
    #[error(transparent)]
    Lenet(#[from] lenet::LenetError),
}

impl ExperimentError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A CSV error on `path`.
    pub fn csv(path: &Path, source: csv::Error) -> Self {
        Self::Csv {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result of the experiments library.
pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;
