//! `trainer export --format onnx` checked by a runtime this project did not write: onnxruntime
//! (PyPI) runs the exported graphs on the 10 000 MNIST test images from their raw pixels through
//! `examples/onnx/mnist_onnxruntime.py`, the README's example, and must make exactly our
//! predictions (so the same mistakes and test error) with outputs within 1e-4 of ours: for the
//! shipped model (deskewed in the graph), a plain one, and one with the paper's subsampling and
//! other sizes. System tier: needs Python with onnxruntime and onnx, which `.ci/run` installs
//! (`LENET_PYTHON` names its interpreter).

use std::path::{Path, PathBuf};
use std::process::Command;

use lenet::data::{MnistSplits, all_items};
use lenet::{Backend, TrainedModel};

#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn trainer(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "trainer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// onnxruntime's predicted digit and ten outputs for every test image, and the script's output.
fn onnxruntime(model: &Path, scratch: &Path) -> (Vec<(usize, Vec<f32>)>, String) {
    let python = std::env::var("LENET_PYTHON").unwrap_or_else(|_| "python3".into());
    let predictions = scratch.join("predictions.txt");
    let out = Command::new(&python)
        .arg(repository().join("examples/onnx/mnist_onnxruntime.py"))
        .arg(model)
        .arg(mnist_dir())
        .arg("--predictions")
        .arg(&predictions)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (run .ci/run, which installs onnxruntime)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{python} with onnxruntime failed (.ci/run installs it and sets LENET_PYTHON): {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let digit = words.next().unwrap().parse().unwrap();
            (digit, words.map(|w| w.parse().unwrap()).collect())
        })
        .collect();
    (rows, stdout)
}

/// Exports `model` (any form `--model` takes; `None`: the shipped one), runs it in onnxruntime
/// and compares it with our own predictions on the test images.
fn check(model: Option<&Path>, name: &str, scratch: &Path, expect_deskew: bool) {
    let onnx = scratch.join(format!("{name}.onnx"));
    let mut args = vec![
        "export",
        "--format",
        "onnx",
        "--out",
        onnx.to_str().unwrap(),
    ];
    if let Some(model) = model {
        args.extend(["--model", model.to_str().unwrap()]);
    }
    trainer(&args);
    let (theirs, report) = onnxruntime(&onnx, scratch);
    assert!(
        report.contains("passes onnx.checker"),
        "{name}: ONNX's checker did not run: {report}"
    );

    let device = Backend::default().device().unwrap();
    let ours = match model {
        Some(path) => TrainedModel::load(path, &device).unwrap(),
        None => TrainedModel::shipped(&device).unwrap(),
    };
    assert_eq!(ours.config.deskew, expect_deskew, "{name}");
    let test = all_items(&MnistSplits::from_dir(&mnist_dir()).unwrap().test).unwrap();
    let predictions = ours.predict(test.iter().map(|item| item.pixels.clone()).collect());
    assert_eq!(theirs.len(), test.len(), "{name}: one line per test image");

    let mut mistakes = 0;
    let mut largest = 0f32;
    for (i, ((digit, outputs), ours)) in theirs.iter().zip(&predictions).enumerate() {
        assert_eq!(*digit, ours.class, "{name}: test image {i}");
        mistakes += usize::from(ours.class != usize::from(test[i].label));
        if i < 100 {
            for (a, b) in outputs.iter().zip(ours.outputs) {
                largest = largest.max((a - b).abs());
            }
        }
    }
    assert!(largest < 1e-4, "{name}: outputs differ by {largest}");
    let error = format!(
        "test error: {:.2} % ({mistakes} of",
        mistakes as f64 / 100.0
    );
    assert!(
        report.contains(&error),
        "{name}: expected {error}, got {report}"
    );
    if let Some(saved) = &ours.evaluation {
        assert_eq!(saved.test_error, mistakes as f64 / 100.0, "{name}");
    }
}

#[test]
#[ignore = "system tier: needs Python with onnxruntime and onnx; .ci/run installs them and runs it"]
fn onnxruntime_makes_our_predictions_from_raw_pixels() {
    let scratch = tempfile::tempdir().unwrap();
    let mnist = mnist_dir();
    let train = |name: &str, flags: &[&str]| {
        let folder = scratch.path().join(name);
        let mut args = vec![
            "--data-dir",
            mnist.to_str().unwrap(),
            "--artifact-dir",
            folder.to_str().unwrap(),
            "--epochs",
            "1",
            "--batch-size",
            "10",
            "--train-size",
            "20000",
        ];
        args.extend(flags);
        trainer(&args);
        folder
    };
    check(None, "shipped", scratch.path(), true);
    let plain = train("plain", &[]);
    check(Some(&plain), "plain", scratch.path(), false);
    let paper = train(
        "paper",
        &[
            "--deskew",
            "--subsampling",
            "paper",
            "--c1",
            "4",
            "--c3",
            "7",
            "--kernel-size",
            "4",
        ],
    );
    check(Some(&paper), "paper", scratch.path(), true);
}
