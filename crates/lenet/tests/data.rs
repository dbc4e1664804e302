//! The IDX loader on files the tests write: a good set, and every way a file can be bad.

use std::io::Write;
use std::path::Path;

use burn::data::dataset::Dataset;
use flate2::Compression;
use flate2::write::GzEncoder;
use lenet::data::{MnistSplits, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};

fn images_bytes(count: u32, rows: u32, cols: u32, seed: u8) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for d in [count, rows, cols] {
        bytes.extend(d.to_be_bytes());
    }
    let n = (count * rows * cols) as usize;
    bytes.extend((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend((labels.len() as u32).to_be_bytes());
    bytes.extend(labels);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A complete, valid data folder: 12 training and 5 test images; the training images gzipped.
fn good_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let train_labels: Vec<u8> = (0..12).map(|i| i % 10).collect();
    write(
        dir.path(),
        &format!("{TRAIN_IMAGES}.gz"),
        &gzip(&images_bytes(12, 28, 28, 1)),
    );
    write(dir.path(), TRAIN_LABELS, &labels_bytes(&train_labels));
    write(dir.path(), TEST_IMAGES, &images_bytes(5, 28, 28, 2));
    write(
        dir.path(),
        &format!("{TEST_LABELS}.gz"),
        &gzip(&labels_bytes(&[9, 8, 7, 6, 5])),
    );
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Loads `dir` and returns the error message, which must name `file`.
fn error_naming(dir: &Path, file: &str) -> String {
    let message = match MnistSplits::from_dir(dir) {
        Ok(_) => panic!("loading should fail because of {file}"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains(file),
        "message does not name {file}: {message}"
    );
    message
}

#[test]
fn a_good_folder_loads_raw_and_gzipped_files() {
    let dir = good_dir();
    let data = MnistSplits::from_dir(dir.path()).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (12, 5));
    let first = data.train.get(0).unwrap();
    assert_eq!(first.pixels.len(), 784);
    assert_eq!(first.pixels[..3], [1, 32, 63]);
    assert_eq!(data.train.get(11).unwrap().label, 1);
    let test_labels: Vec<u8> = (0..5).map(|i| data.test.get(i).unwrap().label).collect();
    assert_eq!(test_labels, [9, 8, 7, 6, 5]);
}

#[test]
fn subsets_are_random_seeded_and_checked() {
    let dir = good_dir();
    let data = MnistSplits::from_dir(dir.path()).unwrap();
    let labels = |seed| {
        let sub = data.clone().subset(Some(6), Some(2), seed).unwrap();
        assert_eq!((sub.train.len(), sub.test.len()), (6, 2));
        (0..6)
            .map(|i| sub.train.get(i).unwrap().label)
            .collect::<Vec<_>>()
    };
    assert_eq!(labels(1), labels(1));
    assert_ne!(labels(1), labels(2));
    let err = data
        .clone()
        .subset(Some(13), None, 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train-size = 13") && err.contains("1..=12"),
        "{err}"
    );
}

#[test]
fn wrong_magic_number() {
    let dir = good_dir();
    let mut bytes = images_bytes(5, 28, 28, 2);
    bytes[3] = 1;
    write(dir.path(), TEST_IMAGES, &bytes);
    let message = error_naming(dir.path(), TEST_IMAGES);
    assert!(
        message.contains("magic number") && message.contains("0x00000803"),
        "{message}"
    );
}

#[test]
fn truncated_and_empty_files() {
    let dir = good_dir();
    let bytes = images_bytes(5, 28, 28, 2);
    write(dir.path(), TEST_IMAGES, &bytes[..bytes.len() - 100]);
    let message = error_naming(dir.path(), TEST_IMAGES);
    assert!(
        message.contains("truncated") && message.contains("3936 bytes"),
        "{message}"
    );

    write(dir.path(), TEST_IMAGES, &[]);
    let message = error_naming(dir.path(), TEST_IMAGES);
    assert!(message.contains("only 0 bytes"), "{message}");
}

#[test]
fn a_truncated_gzip_stream() {
    let dir = good_dir();
    let gz = gzip(&images_bytes(12, 28, 28, 1));
    write(
        dir.path(),
        &format!("{TRAIN_IMAGES}.gz"),
        &gz[..gz.len() / 2],
    );
    let message = error_naming(dir.path(), TRAIN_IMAGES);
    assert!(message.contains("gzip stream"), "{message}");
}

#[test]
fn a_file_gzipped_twice() {
    let dir = good_dir();
    let twice = gzip(&gzip(&images_bytes(12, 28, 28, 1)));
    write(dir.path(), &format!("{TRAIN_IMAGES}.gz"), &twice);
    let message = error_naming(dir.path(), TRAIN_IMAGES);
    assert!(
        message.contains("decompress the file once more"),
        "{message}"
    );
}

#[test]
fn image_and_label_counts_differ() {
    let dir = good_dir();
    write(dir.path(), TEST_LABELS, &labels_bytes(&[1, 2, 3]));
    std::fs::remove_file(dir.path().join(format!("{TEST_LABELS}.gz"))).unwrap();
    let message = error_naming(dir.path(), TEST_LABELS);
    assert!(
        message.contains("5 images") && message.contains("3 labels"),
        "{message}"
    );
}

#[test]
fn a_label_out_of_range() {
    let dir = good_dir();
    write(
        dir.path(),
        TRAIN_LABELS,
        &labels_bytes(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 0]),
    );
    let message = error_naming(dir.path(), TRAIN_LABELS);
    assert!(
        message.contains("item 10") && message.contains("found 12"),
        "{message}"
    );
}

#[test]
fn images_of_the_wrong_size() {
    let dir = good_dir();
    write(dir.path(), TEST_IMAGES, &images_bytes(5, 32, 32, 2));
    let message = error_naming(dir.path(), TEST_IMAGES);
    assert!(
        message.contains("28x28") && message.contains("32x32"),
        "{message}"
    );
}

#[test]
fn a_missing_file() {
    let dir = good_dir();
    std::fs::remove_file(dir.path().join(TRAIN_LABELS)).unwrap();
    let message = error_naming(dir.path(), TRAIN_LABELS);
    assert!(message.contains("missing"), "{message}");
}

#[test]
fn a_training_config_selects_its_subsets_deskewed_when_asked() {
    use lenet::TrainingConfig;
    let dir = good_dir();
    let data = MnistSplits::from_dir(dir.path()).unwrap();
    let config = TrainingConfig::new()
        .with_train_size(Some(6))
        .with_test_size(Some(3))
        .with_seed(5);
    let plain = config.select_data(data.clone()).unwrap();
    let plain = plain.splits();
    let deskewed = config.clone().with_deskew(true).select_data(data).unwrap();
    let deskewed = deskewed.splits();
    assert_eq!((deskewed.train.len(), deskewed.test.len()), (6, 3));
    let mut changed = 0;
    for (a, b) in [
        (&plain.train, &deskewed.train),
        (&plain.test, &deskewed.test),
    ] {
        for i in 0..a.len() {
            let (a, b) = (a.get(i).unwrap(), b.get(i).unwrap());
            // The same images, in the same order, each deskewed.
            assert_eq!(lenet::data::deskew::deskew(&a.pixels), b.pixels);
            assert_eq!(a.label, b.label);
            changed += usize::from(a != b);
        }
    }
    assert!(changed > 0, "these synthetic images are slanted");
}

#[test]
fn a_config_saved_before_deskew_existed_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    // The config.json the first shipped model came with, before `deskew` existed.
    let text = r#"{
  "model": { "c1": 6, "c3": 12, "kernel_size": 5, "subsampling": "Mean" },
  "train_size": null,
  "test_size": null,
  "init_from": null,
  "epochs": 10,
  "batch_size": 50,
  "learning_rate": 1.0,
  "lambda": 0.0,
  "seed": 42
}"#;
    std::fs::write(&path, text).unwrap();
    let config = lenet::TrainingConfig::load_from(dir.path()).unwrap();
    assert!(!config.deskew);
    assert_eq!(config, lenet::TrainingConfig::default().with_seed(42));
    // The form of the settings added later while they were optional: `null` for "not set".
    let later = text.replace(
        r#""seed": 42"#,
        r#""seed": 7, "deskew": null, "momentum": null, "schedule": null, "augment": "affine",
  "init": "logistic", "holdout": null, "remap": null, "init_only": null"#,
    );
    std::fs::write(&path, later).unwrap();
    let config = lenet::TrainingConfig::load_from(dir.path()).unwrap();
    assert_eq!((config.momentum, config.seed), (0.0, 7));
    assert_eq!(config.augment, lenet::data::augment::Augment::Affine);
    assert_eq!(config.init, lenet::Init::Logistic);
    assert!(config.remap.is_empty() && config.holdout.is_none());
}
