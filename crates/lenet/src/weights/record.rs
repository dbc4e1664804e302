//! The records burn 0.13-0.21 wrote with its `Recorder`s and burn 0.22 can no longer read:
//! named MessagePack (`NamedMpkFileRecorder`, `.mpk`, the default, and
//! `NamedMpkGzFileRecorder`, `.mpk.gz`, which `CompactRecorder` is with half precision; also
//! what burn-train's checkpointer wrote as `checkpoint/model-N.mpk`).
//!
//! Such a file is `BurnRecord { metadata, item }`, the item being the module's record as named
//! fields: every parameter a `ParamSerde { id, param }` whose `param` is the tensor's data,
//! `{ bytes, shape, dtype }` from burn 0.14 on, `{ value, shape }` in 0.13. The file is
//! decoded with rmpv (MessagePack values, no schema) and walked: every parameter becomes a
//! tensor named by its path (`conv1.weight`), in its stored precision (f16 records stay f16
//! until burn-store's cast adapter makes them f32). Hand-written is only the walk: the types
//! that wrote the file are not known here, so a typed `Deserialize` is not possible.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use burn::store::burn_pack::Tensor as PackTensor;
use burn::tensor::{Bytes, DType};
use rmpv::Value;

use crate::error::{LenetError, Result};

/// Largest record accepted (decompressed), bytes: far above this network's few kilobytes.
const MAX_RECORD: u64 = 256 << 20;

/// The tensors and metadata of an `.mpk` or `.mpk.gz` record.
pub fn read(path: &Path) -> Result<(Vec<PackTensor>, BTreeMap<String, String>)> {
    let bad = |reason: String| LenetError::Artifact {
        path: path.to_path_buf(),
        reason,
    };
    let file = crate::files::open_input(path, crate::files::WEIGHTS)?;
    let mut bytes = Vec::new();
    let gzipped = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    let read = if gzipped {
        flate2::read::GzDecoder::new(file)
            .take(MAX_RECORD + 1)
            .read_to_end(&mut bytes)
    } else {
        file.take(MAX_RECORD + 1).read_to_end(&mut bytes)
    };
    read.map_err(|e| bad(format!("cannot read the record: {e}")))?;
    if bytes.len() as u64 > MAX_RECORD {
        return Err(bad(format!(
            "larger than {MAX_RECORD} bytes: not a LeNet record"
        )));
    }
    let value = rmpv::decode::read_value(&mut bytes.as_slice()).map_err(|e| {
        bad(format!(
            "not a MessagePack record of burn ({e}); .mpk files are written by burn 0.13-0.21's \
             NamedMpkFileRecorder"
        ))
    })?;
    let (metadata, item) = match (field(&value, "metadata"), field(&value, "item")) {
        (Some(metadata), Some(item)) => (metadata, item),
        _ => {
            return Err(bad(
                "not a burn record: expected a MessagePack map with `metadata` and `item`, as \
                 burn 0.13-0.21's NamedMpkFileRecorder writes"
                    .into(),
            ));
        }
    };
    let metadata = flat_strings(metadata);
    let mut tensors = Vec::new();
    walk(item, &mut Vec::new(), &mut tensors).map_err(bad)?;
    if tensors.is_empty() {
        return Err(bad("the record holds no parameters".into()));
    }
    Ok((tensors, metadata))
}

/// The value under `key` of a map.
fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// The string and number fields of the record's metadata (burn version, precision, ...).
fn flat_strings(metadata: &Value) -> BTreeMap<String, String> {
    metadata
        .as_map()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.as_str()?.to_string(),
                Value::Integer(i) => i.to_string(),
                other => other.to_string(),
            };
            Some((k.as_str()?.to_string(), value))
        })
        .collect()
}

/// Collects every parameter under `value`, named by its path.
fn walk(
    value: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<PackTensor>,
) -> std::result::Result<(), String> {
    match value {
        Value::Map(entries) => {
            if let (Some(_), Some(param)) = (field(value, "id"), field(value, "param")) {
                out.push(tensor(param, path.join("."))?);
                return Ok(());
            }
            for (key, child) in entries {
                let Some(key) = key.as_str() else { continue };
                path.push(key.to_string());
                walk(child, path, out)?;
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(i.to_string());
                walk(child, path, out)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// One parameter's data.
fn tensor(param: &Value, name: String) -> std::result::Result<PackTensor, String> {
    let shape: Vec<usize> = field(param, "shape")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name}: no shape"))?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{name}: the shape is not a list of sizes"))?;
    let count: usize = shape.iter().product();
    let (dtype, bytes) = if let Some(bytes) = field(param, "bytes") {
        // burn 0.14-0.21: raw little-endian bytes and the element type.
        let dtype = match field(param, "dtype") {
            Some(Value::String(s)) => s.as_str().unwrap_or_default().to_string(),
            Some(other) => other.to_string(),
            None => return Err(format!("{name}: no dtype")),
        };
        let dtype = match dtype.trim_matches('"') {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "F64" => DType::F64,
            other => return Err(format!("{name}: a {other} parameter, expected a float")),
        };
        let raw = match bytes {
            Value::Binary(raw) => raw.clone(),
            Value::Array(items) => items
                .iter()
                .map(|b| b.as_u64().map(|b| b as u8))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("{name}: the bytes are not bytes"))?,
            _ => return Err(format!("{name}: the bytes are not bytes")),
        };
        (dtype, raw)
    } else if let Some(values) = field(param, "value").and_then(Value::as_array) {
        // burn 0.13: the values themselves.
        let values: Vec<f32> = values
            .iter()
            .map(|v| v.as_f64().map(|v| v as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{name}: the values are not numbers"))?;
        (
            DType::F32,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    } else {
        return Err(format!(
            "{name}: neither `bytes` (burn ≥ 0.14) nor `value` (0.13)"
        ));
    };
    let size = match dtype {
        DType::F64 => 8,
        DType::F16 | DType::BF16 => 2,
        _ => 4,
    };
    if bytes.len() != count * size {
        return Err(format!(
            "{name}: {} bytes for a {shape:?} {dtype:?} tensor, expected {}",
            bytes.len(),
            count * size
        ));
    }
    Ok(PackTensor::new(
        name,
        dtype,
        shape,
        None,
        Bytes::from_bytes_vec(bytes),
    ))
}
