//! The library's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the `lenet` library.
///
/// Each variant names the file (or setting) at fault, what was expected and what was found, so
/// the command-line tools can print it as a single line.
#[derive(Debug, thiserror::Error)]
pub enum LenetError {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A data file could not be read or does not follow the IDX format.
    #[error(transparent)]
    Idx(#[from] idx::IdxError),

    /// A data file disagrees with what the model needs (image size, label range).
    #[error("{path}: bad {field}: expected {expected}, found {found}")]
    DataFormat {
        /// The data file.
        path: PathBuf,
        /// The part of the file that is wrong (magic number, item count, length, ...).
        field: &'static str,
        /// What that part should hold.
        expected: String,
        /// What it holds.
        found: String,
    },

    /// A folder given as `--data-dir` lacks one of the four MNIST files.
    #[error("{dir}: missing {name} (or {name}.gz); expected the four MNIST IDX files there")]
    MissingDataFile {
        /// The data folder.
        dir: PathBuf,
        /// The file name that was looked for.
        name: &'static str,
    },

    /// An image file and its label file hold different numbers of items.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// Images declared.
        image_count: usize,
        /// Labels declared.
        label_count: usize,
    },

    /// MNIST could not be downloaded (no `--data-dir` was given).
    #[error(
        "could not download MNIST ({reason}); put the four IDX files \
         (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
         t10k-labels-idx1-ubyte, raw or .gz) in a folder and pass --data-dir FOLDER"
    )]
    Download {
        /// Why the download failed.
        reason: String,
    },

    /// A hyper-parameter or setting is outside its valid range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidSetting {
        /// The setting's name, as on the command line.
        name: &'static str,
        /// The value given.
        value: String,
        /// The valid range.
        expected: String,
    },

    /// A backend name that does not exist.
    #[error("unknown backend '{0}': valid backends are ndarray, flex, wgpu")]
    UnknownBackend(String),

    /// A saved model, checkpoint or configuration could not be loaded.
    #[error("{path}: {reason}")]
    Artifact {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The training loss became NaN or infinite.
    #[error(
        "training diverged: the loss became {loss} at epoch {epoch}, batch {batch} \
         (try a smaller --lr); {kept}"
    )]
    Diverged {
        /// Epoch, from 1.
        epoch: usize,
        /// Batch within the epoch, from 1.
        batch: usize,
        /// The non-finite loss.
        loss: f64,
        /// What is left on disk.
        kept: String,
    },

    /// Training stopped on an error reported by burn's learner.
    #[error("training failed: {0}")]
    Training(String),
}

/// Shorthand for results of this library.
pub type Result<T> = std::result::Result<T, LenetError>;

impl LenetError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
