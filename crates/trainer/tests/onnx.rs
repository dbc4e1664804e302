//! `trainer export --format onnx` checked by a runtime this project did not write: onnxruntime
//! (PyPI) runs the exported graphs on the 10 000 MNIST test images from their raw pixels through
//! `examples/onnx/mnist_onnxruntime.py`, the README's example, and must make exactly our
//! predictions (so the same mistakes and test error) with outputs within 1e-4 of ours: for the
//! shipped model (deskewed in the graph), a plain one, and one with the paper's subsampling and
//! other sizes. The same in a browser: the README's page (`examples/onnx/index.html`,
//! onnxruntime-web) in headless Chromium. System tier: needs Python with onnxruntime and onnx,
//! Chromium, Node.js and the two npm folders, which `.ci/run` installs (`LENET_PYTHON` names
//! the interpreter).

use std::path::{Path, PathBuf};
use std::process::Command;

use lenet::data::{DigitItem, MnistSplits, all_items};
use lenet::{Backend, TrainedModel};

#[path = "support/node.rs"]
mod node;
use node::run_script;
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

/// What the browser example computed with onnxruntime-web: every test image's digit, the
/// outputs of the first 100, and the mistakes.
struct Browser {
    predictions: Vec<usize>,
    outputs: Vec<Vec<f32>>,
    mistakes: usize,
}

/// Serves the browser example with the model `onnx` and the MNIST test files from a scratch
/// folder and reads what the page computed in Chromium.
fn browser(onnx: &Path, scratch: &Path) -> Browser {
    let example = repository().join("examples/onnx");
    assert!(
        example.join("node_modules/onnxruntime-web").is_dir(),
        "onnxruntime-web is not installed: run `npm ci --prefix {}` (.ci/run does)",
        example.display()
    );
    let site = scratch.join("site");
    let _ = std::fs::remove_dir_all(&site);
    std::fs::create_dir(&site).unwrap();
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, site.join(name));
    link(&example.join("index.html"), "index.html").unwrap();
    link(&example.join("node_modules"), "node_modules").unwrap();
    link(onnx, "lenet.onnx").unwrap();
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        link(&mnist_dir().join(name), name).unwrap();
    }
    let page = run_script("onnx.mjs", &[site.as_os_str()]);
    assert!(page["error"].is_null(), "the page failed: {page}");
    let numbers = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    Browser {
        predictions: numbers(&page["predictions"])
            .into_iter()
            .map(|d| d as usize)
            .collect(),
        outputs: page["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(numbers)
            .collect(),
        mistakes: page["mistakes"].as_u64().unwrap() as usize,
    }
}

/// Exports `model` (any form `--model` takes; `None`: the shipped one), runs it in onnxruntime
/// and compares it with our own predictions on the test images.
fn check(
    model: Option<&Path>,
    name: &str,
    scratch: &Path,
    expect_deskew: bool,
    test: &[DigitItem],
) {
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

    let web = browser(&onnx, scratch);
    assert_eq!(web.mistakes, mistakes, "{name}: onnxruntime-web's mistakes");
    let ours_digits: Vec<usize> = predictions.iter().map(|p| p.class).collect();
    assert!(
        web.predictions == ours_digits,
        "{name}: onnxruntime-web's predictions"
    );
    assert_eq!(web.outputs.len(), 100, "{name}");
    for (i, (theirs, ours)) in web.outputs.iter().zip(&predictions).enumerate() {
        for (a, b) in theirs.iter().zip(ours.outputs) {
            assert!(
                (a - b).abs() < 1e-4,
                "{name}: image {i} in the browser: {a} against {b}"
            );
        }
    }
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
    // The test images as our side reads them, once for the three models.
    let test = all_items(&MnistSplits::from_dir(&mnist).unwrap().test).unwrap();
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
    check(None, "shipped", scratch.path(), true, &test);
    let plain = train("plain", &[]);
    check(Some(&plain), "plain", scratch.path(), false, &test);
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
    check(Some(&paper), "paper", scratch.path(), true, &test);
}
