//! Weight files other programs can read and write: burnpack (`.bpk`, burn's own), SafeTensors
//! in PyTorch's conventions (`.safetensors`), and PyTorch state dicts (`.pt`, `.pth`), through
//! burn-store.
//!
//! Tensor names, PyTorch layout (`nn.Conv2d` and `nn.Linear` weights as PyTorch stores them):
//!
//! | name | shape |
//! | --- | --- |
//! | `c1.weight`, `c1.bias` | `[c1, 1, k, k]`, `[c1]` |
//! | `c3.weight`, `c3.bias` | `[c3, c1, k, k]`, `[c3]` |
//! | `fc.weight`, `fc.bias` | `[10, c3·s4·s4]` (burn keeps the transpose), `[10]` |
//! | `s2.bias`, `s4.bias` | `[c1]`, `[c3]`, `paper` subsampling only |

use std::path::Path;

use burn::prelude::*;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, BurnpackStore, ModuleSnapshot, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};

use crate::error::{LenetError, Result};
use crate::model::LeNet;

/// A weight file format, chosen from the file name's extension (or `--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightFormat {
    /// burn's burnpack (`.bpk`), what `trainer` writes.
    #[value(name = "bpk")]
    Burnpack,
    /// SafeTensors with PyTorch's names and layout (`.safetensors`).
    Safetensors,
    /// A PyTorch state dict saved with `torch.save` (`.pt`, `.pth`); read only.
    #[value(skip)]
    Pytorch,
}

impl WeightFormat {
    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("bpk") => Ok(Self::Burnpack),
            Some("safetensors") => Ok(Self::Safetensors),
            Some("pt" | "pth") => Ok(Self::Pytorch),
            _ => Err(LenetError::Artifact {
                path: path.to_path_buf(),
                reason: "unknown weight format: expected a .bpk, .safetensors, .pt or .pth file"
                    .into(),
            }),
        }
    }
}

/// Renamings applied when reading any weight file: the names a PyTorch port of this network
/// commonly uses (`conv1`/`conv2`/`fc1`, `nn.DataParallel`'s `module.` prefix), and the `net.`
/// prefix of this project's own per-epoch checkpoints (which hold the learner's
/// [`TrainingModel`](crate::train::TrainingModel)).
const KNOWN_NAMES: [(&str, &str); 5] = [
    (r"^module\.", ""),
    (r"^net\.", ""),
    (r"^conv1\.", "c1."),
    (r"^conv2\.", "c3."),
    (r"^(fc1|linear|out)\.", "fc."),
];

/// Writes `model`'s weights to `path` in `format` (PyTorch conventions for SafeTensors).
pub fn save(model: &LeNet, path: &Path, format: WeightFormat) -> Result<()> {
    match format {
        WeightFormat::Burnpack => {
            model
                .clone()
                .into_record()
                .save(path)
                .map_err(|source| LenetError::Record {
                    path: path.to_path_buf(),
                    what: "cannot write the model",
                    source,
                })
        }
        WeightFormat::Safetensors => {
            let mut store = SafetensorsStore::from_file(path)
                .with_to_adapter(BurnToPyTorchAdapter)
                .metadata("network", "improved LeNet-5 (lenet-burn)");
            model
                .save_into(&mut store)
                .map_err(|source| LenetError::Safetensors {
                    path: path.to_path_buf(),
                    source,
                })
        }
        WeightFormat::Pytorch => Err(LenetError::Artifact {
            path: path.to_path_buf(),
            reason: "writing PyTorch pickles is not supported; export .safetensors, which \
                     PyTorch loads"
                .into(),
        }),
    }
}

/// Loads the weights in `path` into `model` (built from the matching configuration). Every
/// parameter must be found with its shape: nothing is left at its initial value.
pub fn load(model: LeNet, path: &Path) -> Result<LeNet> {
    if !path.is_file() {
        return Err(LenetError::Artifact {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let mut model = model;
    let result = match WeightFormat::of(path)? {
        WeightFormat::Burnpack => {
            let mut store = BurnpackStore::from_file(path)
                .auto_extension(false)
                .validate(false)
                .allow_partial(true);
            for (from, to) in KNOWN_NAMES {
                store = store.with_remap_pattern(from, to);
            }
            model
                .load_from(&mut store)
                .map_err(|source| LenetError::Burnpack {
                    path: path.to_path_buf(),
                    source,
                })?
        }
        WeightFormat::Safetensors => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .validate(false)
                .allow_partial(true);
            for (from, to) in KNOWN_NAMES {
                store = store.with_key_remapping(from, to);
            }
            model
                .load_from(&mut store)
                .map_err(|source| LenetError::Safetensors {
                    path: path.to_path_buf(),
                    source,
                })?
        }
        WeightFormat::Pytorch => {
            let mut store = PytorchStore::from_file(path)
                .validate(false)
                .allow_partial(true);
            for (from, to) in KNOWN_NAMES {
                store = store.with_key_remapping(from, to);
            }
            model
                .load_from(&mut store)
                .map_err(|source| LenetError::Pytorch {
                    path: path.to_path_buf(),
                    source,
                })?
        }
    };
    check_complete(&result, path)?;
    Ok(model)
}

/// Turns shape mismatches, missing and unknown tensors into one error naming each.
fn check_complete(result: &ApplyResult, path: &Path) -> Result<()> {
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    problems.extend(
        result
            .missing
            .iter()
            .map(|(name, _)| format!("tensor '{name}' is missing")),
    );
    problems.extend(
        result
            .unused
            .iter()
            .map(|name| format!("tensor '{name}' is not part of the network")),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LenetError::Artifact {
            path: path.to_path_buf(),
            reason: format!(
                "does not fit the configured network: {}",
                problems.join("; ")
            ),
        })
    }
}
