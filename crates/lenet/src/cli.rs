//! Flags the command-line programs share (flattened into their clap parsers: the backend, the
//! MNIST folder, a model file, TensorBoard's event files) and the defaults shown in their `--help`.

use std::path::PathBuf;

use burn::prelude::Device;

use crate::backend::Backend;
use crate::config::TrainingConfig;
use crate::data::MnistSplits;
use crate::error::{LenetError, Result};
use crate::eval::TrainedModel;
use crate::weights::{LoadOptions, Names};

/// `--backend`.
#[derive(clap::Args, Debug, Clone)]
pub struct BackendArg {
    /// Backend: ndarray or flex (CPU), or wgpu (GPU; Mesa's lavapipe without one).
    #[arg(long, value_enum, default_value_t = Backend::default())]
    pub backend: Backend,
}

impl BackendArg {
    /// The chosen backend's device; for wgpu, says on stderr which adapter it runs on.
    pub fn device(&self) -> Result<Device> {
        let device = self.backend.device()?;
        if self.backend == Backend::Wgpu
            && let Some(adapter) = crate::backend::wgpu_adapter()
        {
            eprintln!("wgpu adapter: {adapter}");
        }
        Ok(device)
    }
}

/// `--data-dir`.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArg {
    /// Folder with the four MNIST IDX files (raw or .gz). Without it, MNIST is downloaded.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataArg {
    /// MNIST from the folder, or downloaded.
    pub fn load(&self) -> Result<MnistSplits> {
        MnistSplits::load(self.data_dir.as_deref())
    }
}

/// `--no-tensorboard`.
#[derive(clap::Args, Debug, Clone)]
pub struct TensorBoardArg {
    /// Write no TensorBoard event files into the run folders (by default every run writes its
    /// curves and settings there, for `tensorboard --logdir`).
    #[arg(long)]
    pub no_tensorboard: bool,
}

impl TensorBoardArg {
    /// Whether runs write event files.
    pub fn enabled(&self) -> bool {
        !self.no_tensorboard
    }
}

/// `--model`, and how its tensors are named.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArg {
    /// A model: a file (.bpk, .safetensors, .pt/.pth, burn ≤ 0.21's .mpk/.mpk.gz), a run's
    /// folder (its model.bpk, else its latest checkpoint/model-N.*), or FOLDER@N (epoch N's
    /// checkpoint). The network comes from the run's config.json, or from the tensors' shapes.
    /// [default: the shipped model of assets/model, built into the program]
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Rename the file's tensors: FROM is a regular expression, TO its replacement (repeatable;
    /// applied before the built-in table of other programs' names).
    #[arg(long, value_name = "FROM=TO")]
    pub remap: Vec<String>,
}

impl ModelArg {
    /// How to read the model's tensors.
    pub fn load_options(&self) -> Result<LoadOptions> {
        let names = Names::with_rules(&self.remap)
            .map_err(|reason| LenetError::invalid("remap", self.remap.join(" "), reason))?;
        Ok(LoadOptions { names, only: None })
    }

    /// The model on `device`: the one `--model` names, else the shipped one.
    pub fn load(&self, device: &Device) -> Result<TrainedModel> {
        match &self.model {
            Some(path) => TrainedModel::load_with(path, device, &self.load_options()?),
            None => TrainedModel::shipped(device),
        }
    }
}

/// `command` (and its subcommands) with `[default: …]` added to the help of every flag of
/// [`crate::TrainingOverrides`], taken from [`TrainingConfig::default`]: the defaults are
/// written once, in the configuration.
pub fn show_defaults(command: clap::Command) -> clap::Command {
    with_defaults(
        command,
        &crate::settings::by_name(&TrainingConfig::default()),
    )
}

fn with_defaults(
    command: clap::Command,
    defaults: &serde_json::Map<String, serde_json::Value>,
) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut command = command.mut_args(|arg| {
        let value = match defaults.get(arg.get_id().as_str()) {
            Some(serde_json::Value::String(s)) => s.to_lowercase(),
            Some(serde_json::Value::Null) | None => return arg,
            Some(serde_json::Value::Array(values)) if values.is_empty() => return arg,
            Some(other) => other.to_string(),
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        arg.help(format!("{help} [default: {value}]"))
    });
    for name in names {
        command = command.mut_subcommand(name, |sub| with_defaults(sub, defaults));
    }
    command
}
