//! The network a weight file describes, read from its tensors' shapes: for a file without a
//! `config.json` of ours beside it (another program's model), rather than assuming the
//! paper's network.

use burn::store::burn_pack::Tensor as PackTensor;

use super::Layout;
use crate::mnist::NUM_CLASSES;
use crate::model::{LeNetConfig, Subsampling};

/// The configuration whose parameters have the shapes of `tensors` (under the network's
/// names); an error says which tensor is missing or what does not add up.
pub fn infer(tensors: &[PackTensor], layout: Layout) -> Result<LeNetConfig, String> {
    let shape = |name: &str| {
        tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.shape.as_slice().to_vec())
    };
    let need = |name: &str| {
        shape(name).ok_or_else(|| {
            let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
            names.sort_unstable();
            let shown = names.len().min(12);
            let more = if names.len() > shown { ", ..." } else { "" };
            format!(
                "cannot tell the network from the file: it has no tensor {name}; its tensors \
                 (after the name table) are {}{more} (rename them with --remap FROM=TO)",
                names[..shown].join(", ")
            )
        })
    };
    let c1 = need("c1.weight")?;
    let c3 = need("c3.weight")?;
    let fc = need("fc.weight")?;
    let (maps1, k) = match c1.as_slice() {
        [maps, 1, k, k2] if k == k2 => (*maps, *k),
        other => {
            return Err(format!(
                "c1.weight: expected [maps, 1, k, k], found {other:?}"
            ));
        }
    };
    let maps3 = match c3.as_slice() {
        [maps, inputs, k3, k4] if *inputs == maps1 && *k3 == k && *k4 == k => *maps,
        other => {
            return Err(format!(
                "c3.weight: expected [maps, {maps1}, {k}, {k}] after c1.weight's {c1:?}, found {other:?}"
            ));
        }
    };
    let subsampling = if shape("s2.bias").is_some() || shape("s4.bias").is_some() {
        Subsampling::Paper
    } else {
        Subsampling::Mean
    };
    let config = LeNetConfig::new()
        .with_c1(maps1)
        .with_c3(maps3)
        .with_kernel_size(k)
        .with_subsampling(subsampling);
    let inputs = config.fc_inputs().map_err(|e| e.to_string())?;
    let expected = match layout {
        Layout::Burn => [inputs, NUM_CLASSES],
        Layout::Pytorch => [NUM_CLASSES, inputs],
    };
    if fc != expected {
        return Err(format!(
            "fc.weight: expected {expected:?} for {maps1}-{maps3} maps with {k}x{k} kernels, found {fc:?}"
        ));
    }
    Ok(config)
}
