//! Checkpoints from other programs: files written by real programs (committed under
//! `tests/fixtures/`, with the programs that wrote them) load here and give the outputs those
//! programs computed; the errors name what does not fit.
//!
//! - `burn-0.22/`: `examples/foreign_burn_app.rs` (burn 0.22, names `conv1`/`conv2`/`fc1`),
//!   burnpack and SafeTensors, f32 and f16;
//! - `burn-0.21/`: `fixtures/writers/burn-0.21` (burn 0.21's recorders: `.mpk`, `.mpk.gz`,
//!   `CompactRecorder`'s half precision, burn-train's checkpoint folder);
//! - `pytorch/`: `fixtures/writers/pytorch/write.py` (a state dict, `conv1`/`conv2`/`fc1`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use lenet::data::MnistSplits;
use lenet::weights::{self, Layout, LoadOptions, Names, Precision, SaveOptions, WeightFormat};
use lenet::{ConfigSource, LeNetConfig, TrainedModel};

#[path = "support/mnist_dir.rs"]
mod support;
use support::mnist_dir;
#[path = "support/close.rs"]
mod close;
use close::max_diff;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn first_test_images(n: usize) -> &'static [Vec<u8>] {
    static IMAGES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let images = IMAGES.get_or_init(|| {
        let data = MnistSplits::from_dir(&mnist_dir()).expect("real MNIST loads");
        (0..20).map(|i| data.test.get(i).unwrap().pixels).collect()
    });
    &images[..n]
}

/// The outputs a fixture's writer recorded (`key` of its `outputs.json`).
fn recorded(dir: &str, key: &str) -> Vec<f32> {
    let text = std::fs::read_to_string(fixtures().join(dir).join("outputs.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json[key]
        .as_array()
        .unwrap_or_else(|| panic!("{dir}/outputs.json has no {key}"))
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect()
}

/// Our outputs with a loaded model, on the raw images (as the writers computed theirs).
fn outputs(model: &TrainedModel) -> Vec<f32> {
    model
        .predict_preprocessed(first_test_images(20))
        .iter()
        .flat_map(|p| p.outputs)
        .collect()
}

fn load(path: &Path) -> TrainedModel {
    TrainedModel::load(path, &Device::flex())
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

#[test]
fn files_of_other_programs_give_their_outputs() {
    let cases = [
        ("burn-0.22", "lenet.bpk", "outputs", 1e-5),
        ("burn-0.22", "lenet.safetensors", "outputs", 1e-5),
        ("burn-0.22", "lenet-f16.bpk", "outputs", 1e-3),
        ("burn-0.22", "lenet-f16.safetensors", "outputs", 1e-3),
        // burn 0.21's burnpack: the format version burn 0.22 reads.
        ("burn-0.21", "lenet.bpk", "outputs", 1e-5),
        ("burn-0.21", "lenet.mpk", "outputs", 1e-5),
        ("burn-0.21", "lenet.mpk.gz", "outputs", 1e-5),
        ("burn-0.21", "lenet-half.mpk", "outputs", 1e-3),
        // burn-train's checkpoint folder: the latest epoch, or the one asked for.
        ("burn-0.21", "run", "epoch_2_outputs", 1e-5),
        ("burn-0.21", "run@1", "outputs", 1e-5),
        ("pytorch", "lenet_conv_names.pt", "outputs", 1e-5),
    ];
    for (dir, file, key, tolerance) in cases {
        let model = load(&fixtures().join(dir).join(file));
        // No config.json of ours: the network was read from the shapes, and says so.
        assert!(
            matches!(model.source, ConfigSource::Inferred(_)),
            "{dir}/{file}: {:?}",
            model.source
        );
        assert_eq!(model.config.model, LeNetConfig::new(), "{dir}/{file}");
        let diff = max_diff(&outputs(&model), &recorded(dir, key));
        assert!(
            diff <= tolerance,
            "{dir}/{file}: outputs differ by {diff:e}"
        );
    }
}

#[test]
fn a_file_that_does_not_fit_says_what_is_missing_unused_and_of_another_shape() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&fixtures().join("burn-0.22/lenet.bpk"));
    // Names no table knows: the message lists our missing tensors and the file's unused ones.
    let odd = dir.path().join("odd.safetensors");
    weights::save(&model.net, &odd, WeightFormat::Safetensors).unwrap();
    let renamed = Names::with_rules(&["^c1\\.=features.0.".into()]).unwrap();
    let file = weights::WeightFile::read(&odd).unwrap().renamed(&renamed);
    assert!(file.tensors.iter().any(|t| t.name == "features.0.weight"));
    let mut store = SafetensorsStore::from_file(dir.path().join("odd-names.safetensors"))
        .with_key_remapping("^c1\\.", "features.0.");
    model.net.save_into(&mut store).unwrap();
    let error = weights::load(
        LeNetConfig::new().init(&Device::flex()),
        &dir.path().join("odd-names.safetensors"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("missing tensors: c1.bias, c1.weight")
            && error.contains("fit nothing: features.0.")
            && error.contains("--remap"),
        "{error}"
    );
    // With a rule, it loads.
    let options = LoadOptions {
        names: Names::with_rules(&["^features\\.0\\.=c1.".into()]).unwrap(),
        only: None,
    };
    let fixed = TrainedModel::load_with(
        &dir.path().join("odd-names.safetensors"),
        &Device::flex(),
        &options,
    )
    .unwrap();
    assert_eq!(outputs(&fixed), outputs(&model));
    // Another shape: the tensor and both shapes.
    let error = weights::load(
        LeNetConfig::new().with_c3(16).init(&Device::flex()),
        &fixtures().join("burn-0.21/lenet.mpk"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("c3.weight") && error.contains("16, 6, 5, 5"),
        "{error}"
    );
}

#[test]
fn records_burn_cannot_decode_and_foreign_configs_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("model.bin");
    std::fs::write(&bin, b"\x01\x02").unwrap();
    let error = format!(
        "{:#}",
        TrainedModel::load(&bin, &Device::flex()).unwrap_err()
    );
    assert!(
        error.contains("model.bin") && error.contains("bincode") && error.contains("NamedMpk"),
        "{error}"
    );
    let broken = dir.path().join("broken.mpk");
    std::fs::write(&broken, b"\xc1 not msgpack").unwrap();
    let error = format!(
        "{:#}",
        TrainedModel::load(&broken, &Device::flex()).unwrap_err()
    );
    assert!(
        error.contains("broken.mpk") && error.contains("MessagePack"),
        "{error}"
    );

    // Another app's config.json beside its model is not ours: the shapes decide.
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::copy(
        fixtures().join("burn-0.21/lenet.mpk"),
        app.join("model.mpk"),
    )
    .unwrap();
    std::fs::write(
        app.join("config.json"),
        r#"{"learning_rate": 0.1, "layers": [6, 12]}"#,
    )
    .unwrap();
    let model = load(&app.join("model.mpk"));
    assert!(
        matches!(&model.source, ConfigSource::Inferred(why) if why.contains("not lenet-burn's")),
        "{:?}",
        model.source
    );
}

#[test]
fn exports_load_in_burn_apps_and_in_this_program_in_every_layout_and_precision() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&fixtures().join("burn-0.22/lenet.bpk"));
    let expected = outputs(&model);
    for (layout, precision, tolerance) in [
        (Layout::Pytorch, Precision::F32, 0.0),
        (Layout::Burn, Precision::F32, 0.0),
        (Layout::Burn, Precision::F16, 1e-3),
        (Layout::Pytorch, Precision::Bf16, 1e-2),
    ] {
        let path = dir
            .path()
            .join(format!("{layout:?}-{precision:?}.safetensors"));
        let options = SaveOptions {
            format: WeightFormat::Safetensors,
            precision,
            layout,
        };
        weights::save_with(&model.net, &path, &options).unwrap();
        let back = load(&path);
        let diff = max_diff(&outputs(&back), &expected);
        assert!(diff <= tolerance, "{layout:?} {precision:?}: {diff:e}");
        // A burn app reading with burn-store's defaults takes burn's layout as it is.
        let mut plain = LeNetConfig::new().init(&Device::flex());
        let mut store = SafetensorsStore::from_file(&path);
        let result = plain.load_from(&mut store);
        let fits = result.map(|r| r.errors.is_empty()).unwrap_or(false);
        assert_eq!(
            fits,
            layout == Layout::Burn,
            "{layout:?}: burn-store's defaults"
        );
    }
    let bpk = dir.path().join("half.bpk");
    let options = SaveOptions {
        format: WeightFormat::Burnpack,
        precision: Precision::F16,
        layout: Layout::Burn,
    };
    weights::save_with(&model.net, &bpk, &options).unwrap();
    assert!(max_diff(&outputs(&load(&bpk)), &expected) <= 1e-3);
}

#[test]
fn a_partial_load_takes_the_convolutions_and_lists_what_kept_its_initial_values() {
    let device = Device::flex();
    let fresh = LeNetConfig::new().init_seeded(&device, 9);
    let options = LoadOptions {
        names: Names::default(),
        only: Some(regex::Regex::new("^(?:c1|c3)").unwrap()),
    };
    let (loaded, report) = weights::load_with(
        fresh.clone(),
        &fixtures().join("burn-0.21/lenet.mpk"),
        &options,
    )
    .unwrap();
    let mut kept = report.kept.clone();
    kept.sort();
    assert_eq!(kept, ["fc.bias", "fc.weight"]);
    assert_eq!(report.loaded.len(), 4);
    let values = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().unwrap();
    assert_eq!(
        values(loaded.fc.weight.val()),
        values(fresh.fc.weight.val())
    );
    let source = load(&fixtures().join("burn-0.21/lenet.mpk"));
    let flat = |t: Tensor<4>| t.into_data().try_into_vec_as::<f32>().unwrap();
    assert_eq!(
        flat(loaded.c1.weight.val()),
        flat(source.net.c1.weight.val())
    );
}
