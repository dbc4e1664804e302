//! [`inspect`]: what a weight file holds and how it maps onto the network, in text (what
//! `trainer inspect` prints).

use std::fmt::Write as _;
use std::path::Path;

use burn::prelude::Device;

use super::{LoadOptions, Names, WeightFile, load_with};
use crate::error::Result;

/// The weight file at `path` described: its format, layout and metadata, every tensor with its
/// type and shape (and the network's name for it, where `names` renames it), then whether it
/// describes a network and fits it (loaded on `device`), or why not.
pub fn inspect(path: &Path, names: &Names, device: &Device) -> Result<String> {
    let file = WeightFile::read(path)?;
    let mut text = format!(
        "{}: {:?}, {} tensors, Linear weights in {} layout\n",
        file.path.display(),
        file.format,
        file.tensors.len(),
        file.layout().name()
    );
    for (key, value) in &file.metadata {
        let _ = writeln!(text, "  metadata {key} = {value}");
    }
    let mut tensors: Vec<_> = file.tensors.iter().collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    for tensor in tensors {
        let ours = names.rename(&tensor.name);
        let arrow = if ours == tensor.name {
            String::new()
        } else {
            format!(" -> {ours}")
        };
        let _ = writeln!(
            text,
            "  {} {:?} {:?}{arrow}",
            tensor.name,
            tensor.dtype,
            tensor.shape.as_slice()
        );
    }
    let _ = match file.renamed(names).infer_config() {
        Ok(config) => {
            let options = LoadOptions {
                names: names.clone(),
                only: None,
            };
            match load_with(config.init(device), path, &options) {
                Ok((net, _)) => writeln!(
                    text,
                    "fits the network {}",
                    crate::model::describe(&config, &net)
                ),
                Err(error) => writeln!(text, "does not fit: {error}"),
            }
        }
        Err(error) => writeln!(text, "does not describe the network: {error}"),
    };
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::{WeightFormat, save};

    #[test]
    fn a_file_of_ours_is_listed_and_fits_and_a_foreign_one_says_why_not() {
        let device = crate::Backend::default().device().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let net = crate::LeNetConfig::new().init(&device);
        save(&net, &path, WeightFormat::Safetensors).unwrap();
        let text = inspect(&path, &Names::default(), &device).unwrap();
        assert!(
            text.starts_with(&format!("{}: Safetensors, 6 tensors", path.display())),
            "{text}"
        );
        assert!(text.contains("  c1.weight F32 [6, 1, 5, 5]"), "{text}");
        assert!(
            text.contains("fits the network LeNet 6-12, 5x5 kernels"),
            "{text}"
        );

        // Renamed by a rule: the arrow shows the network's name, and it no longer fits.
        let names = Names::with_rules(&["^c1\\.=first.".to_string()]).unwrap();
        let text = inspect(&path, &names, &device).unwrap();
        assert!(
            text.contains("c1.weight F32 [6, 1, 5, 5] -> first.weight"),
            "{text}"
        );
        assert!(text.contains("does not describe the network"), "{text}");
    }
}
