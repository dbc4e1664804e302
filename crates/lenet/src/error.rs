//! The library's one error type.

use std::path::PathBuf;
use std::sync::Arc;

/// What a failed write's error kind asks of the user.
fn advice(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::StorageFull => ": the disk is full",
        std::io::ErrorKind::QuotaExceeded => ": the disk quota is used up",
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            ": the folder cannot be written"
        }
        _ => "",
    }
}

/// Everything that can go wrong in the `lenet` library.
///
/// Each variant names the file (or setting) at fault, what was expected and what was found.
/// Errors from the OS, burn and other crates are kept as the
/// [`source`](std::error::Error::source), not repeated in the message: print the chain (as
/// `anyhow`'s `{:#}` does) for the whole story in one line.
#[derive(Debug, thiserror::Error)]
pub enum LenetError {
    /// A file could not be opened, read or written.
    #[error("{path}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// An input that is not a regular file, or too large for what it should be.
    #[error("{path}: {reason}; expected {expected}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What it is ("a FIFO (named pipe), not a regular file").
        reason: String,
        /// What was expected ("an image of at most 64 MiB").
        expected: String,
    },

    /// An output path the program will not write (a folder, a symbolic link, an existing file
    /// without `--force`).
    #[error("{path}: {reason}")]
    Output {
        /// The path.
        path: PathBuf,
        /// Why not.
        reason: String,
    },

    /// An output could not be written (no space, no permission, ...: the source says).
    #[error("{path}: cannot write")]
    Write {
        /// The output.
        path: PathBuf,
        /// The OS's error.
        source: std::io::Error,
    },

    /// A run was given data selected for another configuration.
    #[error(
        "the data were selected as {data}, the configuration selects {config}: select them \
         with TrainingConfig::select_data"
    )]
    Selection {
        /// How the data were selected.
        data: String,
        /// How the configuration selects them.
        config: String,
    },

    /// Another process holds the run folder's lock.
    #[error(
        "{dir} is in use by another run ({holder}); wait for it to end, or choose another \
         --artifact-dir"
    )]
    Busy {
        /// The run folder.
        dir: PathBuf,
        /// Who holds it, as it wrote into the lock file ("pid 123 on host a, since ...").
        holder: String,
    },

    /// A data file could not be read or does not follow the IDX format.
    #[error(transparent)]
    Idx(#[from] idx::IdxError),

    /// A data file disagrees with what the model needs (image size, label range), or an image
    /// cannot be decoded.
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
        "could not download MNIST ({what}); put the four IDX files \
         (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
         t10k-labels-idx1-ubyte, raw or .gz) in a folder and pass --data-dir FOLDER"
    )]
    Download {
        /// What failed (the address, or the missing cache folder).
        what: String,
        /// The HTTP client's error, when it was the client.
        #[source]
        source: Option<reqwest::Error>,
    },

    /// A hyper-parameter or setting is outside its valid range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidSetting {
        /// The setting's name, as on the command line.
        name: String,
        /// The value given.
        value: String,
        /// The valid range.
        expected: String,
    },

    /// A backend this build does not contain.
    #[error(
        "the {0} backend is not compiled into this program; build it with the feature \
         (e.g. `cargo build --features {0}`) or choose another --backend"
    )]
    BackendNotCompiled(&'static str),

    /// The wgpu backend found no adapter (no GPU driver, no software renderer).
    #[error(
        "--backend wgpu: no GPU adapter ({0}); install a Vulkan driver (without a GPU, Mesa's \
         software one: apt-get install mesa-vulkan-drivers) or choose --backend flex"
    )]
    NoAdapter(String),

    /// A burnpack record (model, checkpoint, optimizer state) that cannot be read or applied.
    #[error("{path}: {what}")]
    Record {
        /// The file.
        path: PathBuf,
        /// What went wrong, in the file's terms ("not a readable checkpoint", ...).
        what: &'static str,
        /// burn's error.
        source: burn::store::RecordError,
    },

    /// A `config.json` that cannot be read.
    #[error("{path}: cannot read the training configuration")]
    Config {
        /// The file.
        path: PathBuf,
        /// burn's error.
        source: burn::config::ConfigError,
    },

    /// A burnpack file that cannot be read.
    #[error("{path}: not a readable burnpack file")]
    Burnpack {
        /// The file.
        path: PathBuf,
        /// burn-pack's error.
        source: burn::store::burn_pack::Error,
    },

    /// A SafeTensors file that cannot be read or written.
    #[error("{path}: not a readable SafeTensors file")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// burn-store's error.
        source: burn::store::SafetensorsStoreError,
    },

    /// A PyTorch file that cannot be read.
    #[error("{path}: not a readable PyTorch file")]
    Pytorch {
        /// The file.
        path: PathBuf,
        /// burn-store's error.
        source: burn::store::PytorchStoreError,
    },

    /// A file that is not an ONNX model (its protobuf does not decode as `ModelProto`).
    #[error("{path}: not an ONNX model")]
    Onnx {
        /// The file.
        path: PathBuf,
        /// prost's decoding error.
        source: prost::DecodeError,
    },

    /// A saved model, checkpoint or artifact folder that cannot be used.
    #[error("{path}: {reason}")]
    Artifact {
        /// The file or folder involved.
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

    /// A checkpoint could not be written (a full disk, say). The files that epoch had written
    /// are removed, so every checkpoint left is complete.
    #[error(
        "saving the checkpoint of epoch {epoch} failed{}; {kept}",
        advice(source)
    )]
    Checkpoint {
        /// The epoch whose checkpoint failed.
        epoch: usize,
        /// What failed: the file and the OS's error.
        source: std::io::Error,
        /// What is left on disk ("the checkpoint of epoch 2 is kept").
        kept: String,
    },

    /// burn-train's learner stopped on an error.
    #[error("training failed")]
    Training(#[source] Arc<burn::train::TrainingError>),

    /// A dataset item could not be read.
    #[error("reading the dataset")]
    Dataset(#[source] burn::data::dataset::DatasetError),
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

    /// A setting outside its range.
    pub fn invalid(
        name: impl Into<String>,
        value: impl ToString,
        expected: impl Into<String>,
    ) -> Self {
        Self::InvalidSetting {
            name: name.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
