//! Weight files other programs read and write, through burn-store.
//!
//! Read: burnpack (`.bpk`, burn 0.19 and later), SafeTensors (`.safetensors`, in burn's or
//! PyTorch's layout), PyTorch state dicts (`.pt`, `.pth`), and the named MessagePack records
//! of burn 0.13-0.21 (`.mpk`, `.mpk.gz`; see [`record`]). Every format goes the same way: the
//! file's tensors ([`WeightFile`]) are renamed (a built-in table plus the user's `--remap`
//! rules, [`Names`]), put in burn's layout and cast to `f32` by burn-store's adapters, and
//! applied to the network, which must take every one of them unless a partial load was asked
//! for ([`LoadOptions::only`]).
//!
//! Written: burnpack, and SafeTensors in PyTorch's layout (Linear weights transposed, what
//! `torch.load_state_dict` takes) or burn's (what another burn app reads with burn-store's
//! defaults), in `f32`, `f16` or `bf16`.
//!
//! The network's tensors:
//!
//! | name | shape in burn (PyTorch) |
//! | --- | --- |
//! | `c1.weight`, `c1.bias` | `[c1, 1, k, k]`, `[c1]` |
//! | `c3.weight`, `c3.bias` | `[c3, c1, k, k]`, `[c3]` |
//! | `fc.weight`, `fc.bias` | `[c3·s4·s4, 10]` (`[10, c3·s4·s4]`), `[10]` |
//! | `s2.bias`, `s4.bias` | `[c1]`, `[c3]`, `paper` subsampling only |

mod inspect;
pub mod names;
pub mod record;
mod shapes;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, BurnpackStore, ChainAdapter, FloatCastAdapter,
    IdentityAdapter, ModuleSnapshot, ModuleStore, PathFilter, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};
use burn::tensor::DType as PackDType;
use serde::{Deserialize, Serialize};

use crate::error::{LenetError, Result};
use crate::model::{LeNet, LeNetConfig};
pub use inspect::inspect;
pub use names::Names;

/// A weight file format, chosen from the file name's extension (or `--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightFormat {
    /// burn's burnpack (`.bpk`), what `trainer` writes.
    #[value(name = "bpk")]
    Burnpack,
    /// SafeTensors (`.safetensors`).
    Safetensors,
    /// A PyTorch state dict saved with `torch.save` (`.pt`, `.pth`); read only.
    #[value(skip)]
    Pytorch,
    /// A named MessagePack record of burn 0.13-0.21 (`.mpk`, `.mpk.gz`); read only.
    #[value(skip)]
    Mpk,
    /// An ONNX graph of the whole model, its preprocessing included (`.onnx`, see
    /// [`crate::onnx`]); written by `export` and described by `inspect`, not read as weights.
    Onnx,
}

impl WeightFormat {
    /// The format of `path`, from its name.
    pub fn of(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let unknown = |reason: &str| LenetError::Artifact {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("bpk") => Ok(Self::Burnpack),
            Some("safetensors") => Ok(Self::Safetensors),
            Some("pt" | "pth") => Ok(Self::Pytorch),
            Some("mpk") => Ok(Self::Mpk),
            Some("onnx") => Ok(Self::Onnx),
            Some("gz") if name.ends_with(".mpk.gz") => Ok(Self::Mpk),
            Some("bin") | Some("gz") if name.ends_with(".bin") || name.ends_with(".bin.gz") => {
                Err(unknown(
                    "a bincode record of burn ≤ 0.21 cannot be read without the program that \
                     wrote it (bincode does not name the fields); load it in that program and \
                     save it again with NamedMpkFileRecorder (.mpk), or as burnpack with burn \
                     0.19 or later",
                ))
            }
            _ => Err(unknown(
                "unknown weight format: expected a .bpk, .safetensors, .pt, .pth, .mpk or \
                 .mpk.gz file (or .onnx to export)",
            )),
        }
    }
}

/// How a file stores `fc.weight`: `[inputs, outputs]` (burn) or `[outputs, inputs]` (PyTorch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// burn's: Linear weights `[inputs, outputs]`.
    Burn,
    /// PyTorch's: Linear weights `[outputs, inputs]`.
    Pytorch,
}

impl Layout {
    /// Its name in a file's metadata (`layout`).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Burn => "burn",
            Layout::Pytorch => "pytorch",
        }
    }
}

/// The float type of written tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit floats, as trained.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    Bf16,
}

impl Precision {
    fn dtype(self) -> PackDType {
        match self {
            Precision::F32 => PackDType::F32,
            Precision::F16 => PackDType::F16,
            Precision::Bf16 => PackDType::BF16,
        }
    }
}

/// A weight file's tensors (under the names it stores) and metadata.
#[derive(Clone)]
pub struct WeightFile {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: WeightFormat,
    /// Its tensors.
    pub tensors: Vec<PackTensor>,
    /// Its metadata (burnpack and SafeTensors headers; an old record's `BurnMetadata`).
    pub metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for WeightFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightFile")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("tensors", &self.tensors.len())
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl WeightFile {
    /// Reads every tensor of `path` (without applying them to anything).
    pub fn read(path: &Path) -> Result<Self> {
        crate::files::check_input(path, crate::files::WEIGHTS)?;
        let format = WeightFormat::of(path)?;
        let (tensors, metadata) = match format {
            WeightFormat::Burnpack => {
                burnpack_contents(path, burn::store::burn_pack::Reader::from_file(path))?
            }
            WeightFormat::Safetensors => {
                let tensors = tensors_of(SafetensorsStore::from_file(path), |source| {
                    LenetError::Safetensors {
                        path: path.to_path_buf(),
                        source,
                    }
                })?;
                (tensors, safetensors_metadata(path)?)
            }
            WeightFormat::Pytorch => {
                let tensors = tensors_of(PytorchStore::from_file(path), |source| {
                    LenetError::Pytorch {
                        path: path.to_path_buf(),
                        source,
                    }
                })?;
                (tensors, BTreeMap::new())
            }
            WeightFormat::Mpk => record::read(path)?,
            WeightFormat::Onnx => {
                return Err(LenetError::Artifact {
                    path: path.to_path_buf(),
                    reason: "an ONNX graph: this program writes ONNX (`trainer export --format \
                             onnx`) and describes it (`trainer inspect`), but reads weights from \
                             .bpk, .safetensors, .pt, .pth or .mpk files"
                        .into(),
                });
            }
        };
        let file = Self {
            path: path.to_path_buf(),
            format,
            tensors,
            metadata,
        };
        file.verify()?;
        Ok(file)
    }

    /// A burnpack file's contents already in memory (`path` names it in errors).
    pub fn from_burnpack_bytes(path: &Path, bytes: &'static [u8]) -> Result<Self> {
        let reader = burn::store::burn_pack::Reader::from_bytes(
            burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()),
        );
        let (tensors, metadata) = burnpack_contents(path, reader)?;
        let file = Self {
            path: path.to_path_buf(),
            format: WeightFormat::Burnpack,
            tensors,
            metadata,
        };
        file.verify()?;
        Ok(file)
    }

    /// Checks the checksum this program writes into its files' metadata ([`CHECKSUM_KEY`]);
    /// files of other programs, which have none, pass.
    fn verify(&self) -> Result<()> {
        let Some(expected) = self.metadata.get(CHECKSUM_KEY) else {
            return Ok(());
        };
        let found = checksum(&self.tensors, &self.path)?;
        if *expected != found {
            return Err(LenetError::Artifact {
                path: self.path.clone(),
                reason: format!(
                    "corrupted: the tensors' checksum ({CHECKSUM_KEY} in its metadata) is \
                     {expected}, the data read gives {found}"
                ),
            });
        }
        Ok(())
    }

    /// How the file stores Linear weights: PyTorch's for state dicts, for SafeTensors unless
    /// its metadata says burn's (`layout = burn`, or burn-store's `producer = burn` without a
    /// layout); burn's for burnpack and old burn records.
    pub fn layout(&self) -> Layout {
        match self.format {
            WeightFormat::Pytorch => Layout::Pytorch,
            // ONNX's Gemm takes the weight as burn stores it, [in, out].
            WeightFormat::Burnpack | WeightFormat::Mpk | WeightFormat::Onnx => Layout::Burn,
            WeightFormat::Safetensors => match self.metadata.get("layout").map(String::as_str) {
                Some("burn") => Layout::Burn,
                Some(_) => Layout::Pytorch,
                None if self.metadata.get("producer").map(String::as_str) == Some("burn") => {
                    Layout::Burn
                }
                None => Layout::Pytorch,
            },
        }
    }

    /// The tensors under the network's names.
    pub fn renamed(mut self, names: &Names) -> Self {
        self.tensors = names.apply(self.tensors);
        self
    }

    /// The network these tensors (under the network's names) describe: maps, kernel size and
    /// subsampling, read from their shapes.
    pub fn infer_config(&self) -> Result<LeNetConfig> {
        shapes::infer(&self.tensors, self.layout()).map_err(|reason| LenetError::Artifact {
            path: self.path.clone(),
            reason,
        })
    }
}

/// The metadata key of the checksum this program writes into its weight files.
pub const CHECKSUM_KEY: &str = "lenet_crc32";

/// A burnpack reader's tensors and metadata (`path` names the file in errors).
fn burnpack_contents(
    path: &Path,
    reader: std::result::Result<burn::store::burn_pack::Reader, burn::store::burn_pack::Error>,
) -> Result<(Vec<PackTensor>, BTreeMap<String, String>)> {
    let burnpack = |source| LenetError::Burnpack {
        path: path.to_path_buf(),
        source,
    };
    let reader = reader.map_err(burnpack)?;
    let metadata = reader.metadata().clone();
    Ok((reader.into_tensors().map_err(burnpack)?, metadata))
}

/// CRC-32 (crc32fast, as gzip uses) of every tensor's name, type, shape and stored bytes, in
/// name order, as 8 hex digits. Detects a corrupted file, not a forged one. `path` names the
/// file in errors.
pub fn checksum(tensors: &[PackTensor], path: &Path) -> Result<String> {
    let mut sorted: Vec<&PackTensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hasher = crc32fast::Hasher::new();
    for tensor in sorted {
        hasher.update(tensor.name.as_bytes());
        hasher.update(format!("{:?}", tensor.dtype).as_bytes());
        for dim in tensor.shape.as_slice() {
            hasher.update(&(*dim as u64).to_le_bytes());
        }
        let bytes = tensor.to_bytes().map_err(|e| LenetError::Artifact {
            path: path.to_path_buf(),
            reason: format!("tensor {}: cannot read its data: {e}", tensor.name),
        })?;
        hasher.update(&bytes);
    }
    Ok(format!("{:08x}", hasher.finalize()))
}

/// Every tensor a burn-store store holds, its error wrapped by `error`.
fn tensors_of<S: ModuleStore>(
    mut store: S,
    error: impl FnOnce(S::Error) -> LenetError,
) -> Result<Vec<PackTensor>> {
    Ok(store
        .get_all_tensors()
        .map_err(error)?
        .values()
        .cloned()
        .collect())
}

/// Largest SafeTensors header read (the format's own reader refuses more than 100 MB).
const MAX_SAFETENSORS_HEADER: u64 = 100 << 20;

/// The metadata of a SafeTensors file's header, read alone (not the tensors after it): the
/// file's first 8 bytes give the header's length (little-endian), then the header (JSON).
fn safetensors_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let bad = |reason: String| LenetError::Artifact {
        path: path.to_path_buf(),
        reason: format!("not a readable SafeTensors file: {reason}"),
    };
    let mut file = crate::files::open_input(path, crate::files::WEIGHTS)?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|e| bad(format!("its header's length: {e}")))?;
    let length = u64::from_le_bytes(length);
    if length > MAX_SAFETENSORS_HEADER {
        return Err(bad(format!("a header of {length} bytes")));
    }
    let mut header = Vec::new();
    file.take(length)
        .read_to_end(&mut header)
        .map_err(|e| bad(format!("its header: {e}")))?;
    let header: safetensors::tensor::Metadata =
        serde_json::from_slice(&header).map_err(|e| bad(format!("its header: {e}")))?;
    Ok(header
        .metadata()
        .clone()
        .map(|m| m.into_iter().collect())
        .unwrap_or_default())
}

/// How to load a weight file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Renamings on top of the built-in table.
    pub names: Names,
    /// Load only the network's tensors whose names match (the others keep their initial
    /// values); `None`: every tensor, all or nothing.
    pub only: Option<regex::Regex>,
}

/// What a load did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The network's tensors that took the file's values.
    pub loaded: Vec<String>,
    /// The network's tensors that kept their initial values (a partial load).
    pub kept: Vec<String>,
}

/// Loads the weights in `path` into `model` (built from the matching configuration). Every
/// parameter must be found with its shape: nothing is left at its initial value.
pub fn load(model: LeNet, path: &Path) -> Result<LeNet> {
    load_with(model, path, &LoadOptions::default()).map(|(model, _)| model)
}

/// [`load`] with renaming rules and, optionally, a partial load.
pub fn load_with(model: LeNet, path: &Path, options: &LoadOptions) -> Result<(LeNet, LoadReport)> {
    load_file(model, WeightFile::read(path)?, options)
}

/// [`load_with`] for a file already read.
pub fn load_file(
    mut model: LeNet,
    file: WeightFile,
    options: &LoadOptions,
) -> Result<(LeNet, LoadReport)> {
    let file = file.renamed(&options.names);
    let result = apply(&mut model, &file, options.only.as_ref());
    check(&result, &file, options.only.is_some())?;
    Ok((
        model,
        LoadReport {
            loaded: result.applied.clone(),
            kept: result.skipped.clone(),
        },
    ))
}

/// Applies a file's (renamed) tensors to `model`, in burn's layout and `f32`.
fn apply(model: &mut LeNet, file: &WeightFile, only: Option<&regex::Regex>) -> ApplyResult {
    let cast = FloatCastAdapter::to(PackDType::F32);
    let adapter = match file.layout() {
        Layout::Burn => ChainAdapter::new(IdentityAdapter, cast),
        Layout::Pytorch => ChainAdapter::new(PyTorchToBurnAdapter, cast),
    };
    let filter = only.map(|pattern| PathFilter::new().with_regex(pattern.as_str()));
    model.apply(file.tensors.clone(), filter, Some(Box::new(adapter)), false)
}

/// Turns shape mismatches, missing and unused tensors into one error naming each: which of the
/// network's tensors are missing, which of the file's went unused, which shapes differ.
fn check(result: &ApplyResult, file: &WeightFile, partial: bool) -> Result<()> {
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    if !result.missing.is_empty() {
        let missing: Vec<&str> = result.missing.iter().map(|(n, _)| n.as_str()).collect();
        problems.push(format!("missing tensors: {}", missing.join(", ")));
    }
    if !partial && !result.unused.is_empty() {
        problems.push(format!(
            "the file's tensors that fit nothing: {} (rename them with --remap FROM=TO)",
            result.unused.join(", ")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut available: Vec<String> = file
        .tensors
        .iter()
        .map(|t| format!("{} {:?}", t.name, t.shape.as_slice()))
        .collect();
    available.sort();
    Err(LenetError::Artifact {
        path: file.path.clone(),
        reason: format!(
            "does not fit the configured network: {} (the file holds {})",
            problems.join("; "),
            available.join(", ")
        ),
    })
}

/// What to write.
#[derive(Debug, Clone, Copy)]
pub struct SaveOptions {
    /// The file format.
    pub format: WeightFormat,
    /// The float type.
    pub precision: Precision,
    /// SafeTensors only: the layout of Linear weights (recorded in the metadata).
    pub layout: Layout,
}

impl Default for SaveOptions {
    /// Burnpack in `f32`.
    fn default() -> Self {
        Self {
            format: WeightFormat::Burnpack,
            precision: Precision::F32,
            layout: Layout::Pytorch,
        }
    }
}

/// Writes `model`'s weights to `path` in `format` (PyTorch conventions for SafeTensors).
pub fn save(model: &LeNet, path: &Path, format: WeightFormat) -> Result<()> {
    save_with(
        model,
        path,
        &SaveOptions {
            format,
            ..SaveOptions::default()
        },
    )
}

/// Writes `model`'s weights as `options` say ([`encode`]) to `path`, crash-safe, replacing a
/// file there.
pub fn save_with(model: &LeNet, path: &Path, options: &SaveOptions) -> Result<()> {
    let bytes = encode(model, path, options)?;
    crate::atomic::write_bytes_atomically(path, &bytes).map_err(|source| LenetError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `model`'s weights as `options` say, with their checksum in the metadata ([`CHECKSUM_KEY`]),
/// as the bytes of a file (`path` names it in errors): the tensors are first written without
/// the checksum and read back, so the checksum is of exactly the bytes the file stores.
pub fn encode(model: &LeNet, path: &Path, options: &SaveOptions) -> Result<Vec<u8>> {
    let cast = FloatCastAdapter::to(options.precision.dtype());
    let network = "improved LeNet-5 (lenet-burn)";
    match options.format {
        WeightFormat::Burnpack => {
            let burnpack = |source| LenetError::Burnpack {
                path: path.to_path_buf(),
                source,
            };
            let cannot_write = |e: burn::store::burn_pack::Error| LenetError::Artifact {
                path: path.to_path_buf(),
                reason: format!("cannot encode the burnpack: {e}"),
            };
            let mut memory = BurnpackStore::from_bytes(None).with_to_adapter(cast.clone());
            model.save_into(&mut memory).map_err(burnpack)?;
            let bytes = memory.get_bytes().map_err(cannot_write)?;
            let tensors = burn::store::burn_pack::Reader::from_bytes(bytes)
                .and_then(|reader| reader.into_tensors())
                .map_err(|e| LenetError::Artifact {
                    path: path.to_path_buf(),
                    reason: format!("cannot read back the burnpack written: {e}"),
                })?;
            let sum = checksum(&tensors, path)?;
            let mut store = BurnpackStore::from_bytes(None)
                .with_to_adapter(cast)
                .metadata("network", network)
                .metadata(CHECKSUM_KEY, sum);
            model.save_into(&mut store).map_err(burnpack)?;
            Ok(store.get_bytes().map_err(cannot_write)?.to_vec())
        }
        WeightFormat::Safetensors => {
            let adapter = match options.layout {
                Layout::Burn => ChainAdapter::new(IdentityAdapter, cast),
                Layout::Pytorch => ChainAdapter::new(BurnToPyTorchAdapter, cast),
            };
            let safetensors = |source| LenetError::Safetensors {
                path: path.to_path_buf(),
                source,
            };
            let mut memory = SafetensorsStore::from_bytes(None).with_to_adapter(adapter.clone());
            model.save_into(&mut memory).map_err(safetensors)?;
            let bytes = memory.get_bytes().map_err(safetensors)?;
            let tensors = tensors_of(SafetensorsStore::from_bytes(Some(bytes)), safetensors)?;
            let sum = checksum(&tensors, path)?;
            let mut store = SafetensorsStore::from_bytes(None)
                .with_to_adapter(adapter)
                .metadata("network", network)
                .metadata("layout", options.layout.name())
                .metadata(CHECKSUM_KEY, sum);
            model.save_into(&mut store).map_err(safetensors)?;
            store.get_bytes().map_err(safetensors)
        }
        WeightFormat::Pytorch | WeightFormat::Mpk => Err(LenetError::Artifact {
            path: path.to_path_buf(),
            reason: "this format is read only; write .bpk or .safetensors (PyTorch loads those)"
                .into(),
        }),
        WeightFormat::Onnx => Err(LenetError::Artifact {
            path: path.to_path_buf(),
            reason: "an ONNX graph holds the model's preprocessing beside its weights: write it \
                     from a trained model with lenet::onnx::export (`trainer export --format \
                     onnx`)"
                .into(),
        }),
    }
}
