//! The `trainer` binary as users run it: bad input, signals, `kill -9`, resume.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

#[path = "support/images.rs"]
mod images;
use images::huge_png_header;

#[path = "support/trainer.rs"]
mod trainer;
use trainer::{run, trainer};
#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A failed run: non-zero exit, no panic, and one `error:` line naming `needle`.
fn assert_clean_error(output: &Output, needle: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "should fail: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{err}"
    );
}

#[test]
fn bad_data_and_settings_are_refused_before_any_work() {
    let mnist = mnist_dir();
    let mnist = mnist.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let artifacts = artifacts.to_str().unwrap();

    // A data folder with only some of the files, and one with a truncated file.
    let partial = dir.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::copy(Path::new(mnist).join(name), partial.join(name)).unwrap();
    }
    let out = run(&[
        "--data-dir",
        partial.to_str().unwrap(),
        "--artifact-dir",
        artifacts,
    ]);
    assert_clean_error(&out, "t10k-images-idx3-ubyte");
    let labels = partial.join("t10k-labels-idx1-ubyte");
    std::fs::write(&labels, [0, 0, 8, 1, 0, 0, 0, 9, 1, 2]).unwrap();
    std::fs::copy(
        Path::new(mnist).join("t10k-images-idx3-ubyte.gz"),
        partial.join("t10k-images-idx3-ubyte.gz"),
    )
    .unwrap();
    let out = run(&[
        "--data-dir",
        partial.to_str().unwrap(),
        "--artifact-dir",
        artifacts,
    ]);
    assert_clean_error(&out, "t10k-labels-idx1-ubyte: bad file length");
    // Something unreadable under a data file's name.
    std::fs::remove_file(&labels).unwrap();
    std::fs::create_dir(&labels).unwrap();
    let out = run(&[
        "--data-dir",
        partial.to_str().unwrap(),
        "--artifact-dir",
        artifacts,
    ]);
    assert_clean_error(&out, "t10k-labels-idx1-ubyte");

    // Hyper-parameters, each with its valid range.
    for (flags, needle) in [
        (vec!["--lr", "0"], "lr = 0: expected a finite number > 0"),
        (vec!["--lr", "-1"], "lr = -1"),
        (
            vec!["--batch-size", "0"],
            "batch-size = 0: expected at least 1",
        ),
        (
            vec!["--train-size", "100", "--batch-size", "101"],
            "batch-size = 101: expected 1..=100",
        ),
        (vec!["--c1", "0"], "c1 = 0"),
        (vec!["--c3", "0"], "c3 = 0"),
        (vec!["--c3", "100000"], "1..=256 feature maps"),
        (
            vec!["--kernel-size", "30"],
            "kernel-size = 30: expected 1..=9",
        ),
        (
            vec!["--train-size", "60001"],
            "train-size = 60001: expected 1..=60000",
        ),
        (vec!["--test-size", "0"], "test-size = 0"),
        (vec!["--lambda", "-0.5"], "lambda = -0.5"),
        (vec!["--epochs", "0"], "epochs = 0"),
    ] {
        let mut args = vec!["--data-dir", mnist, "--artifact-dir", artifacts];
        args.extend(flags);
        assert_clean_error(&run(&args), needle);
        assert!(
            !Path::new(artifacts).join("config.json").exists(),
            "no work for {needle}"
        );
    }
    let out = run(&["--backend", "cuda"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("possible values: ndarray, flex, wgpu"),
        "{}",
        stderr(&out)
    );
    // Nothing to resume.
    let out = run(&["--artifact-dir", artifacts, "--resume", "--lr", "0.5"]);
    assert_clean_error(&out, "holds no run to resume");
}

/// Starts a small training run with stdout captured.
fn start(artifacts: &Path, epochs: &str, train_size: &str, extra: &[&str]) -> Child {
    let mnist = mnist_dir();
    let mut args = vec![
        "--data-dir",
        mnist.to_str().unwrap(),
        "--train-size",
        train_size,
        "--test-size",
        "500",
        "--epochs",
        epochs,
        "--artifact-dir",
        artifacts.to_str().unwrap(),
    ];
    args.extend(extra);
    trainer(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trainer starts")
}

/// The lines the child prints on stdout, as they come.
fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for epoch 1's line and then its checkpoint: the run is then in epoch 2 or later
/// (of many).
fn wait_for_epoch_1(lines: &Receiver<String>, artifacts: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("epoch   1/")) {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Timeout) => panic!("no epoch line after 120 s: {seen:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the run ended early: {seen:?}"),
        }
    }
    while lenet::artifacts::RunFolder::new(artifacts)
        .last_checkpoint()
        .is_none()
    {
        assert!(Instant::now() < deadline, "no checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every checkpoint file present is complete and loads.
fn assert_only_complete_files(artifacts: &Path) {
    let last = lenet::artifacts::RunFolder::new(artifacts)
        .last_checkpoint()
        .expect("a complete checkpoint");
    let config = lenet::TrainingConfig::load_from(artifacts).unwrap();
    lenet::train::check_checkpoint(artifacts, last, &config, &burn::prelude::Device::flex())
        .unwrap();
    assert!(
        !artifacts.join("model.bpk").exists(),
        "an unfinished run wrote model.bpk"
    );
}

fn resume_to_the_end(artifacts: &Path, epochs: &str) -> String {
    let out = trainer(&[
        "--data-dir",
        mnist_dir().to_str().unwrap(),
        "--artifact-dir",
        artifacts.to_str().unwrap(),
        "--resume",
        "--epochs",
        epochs,
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "resume failed: {stdout}{}",
        stderr(&out)
    );
    assert!(artifacts.join("model.bpk").is_file());
    stdout
}

#[test]
fn ctrl_c_mid_epoch_keeps_the_last_checkpoint_and_resume_finishes() {
    stop_with_signal_and_resume("-INT");
}

#[test]
fn sigterm_mid_epoch_keeps_the_last_checkpoint_and_resume_finishes() {
    stop_with_signal_and_resume("-TERM");
}

/// Epochs of the runs the signal tests stop: far more than run before the signal arrives.
const LONG_RUN: &str = "60";

fn stop_with_signal_and_resume(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut child = start(&artifacts, LONG_RUN, "6000", &[]);
    let lines = stdout_lines(&mut child);
    wait_for_epoch_1(&lines, &artifacts);
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout: Vec<String> = lines.iter().collect();
    let stdout = stdout.join("\n");
    assert_eq!(
        output.status.code(),
        Some(130),
        "{stdout}{}",
        stderr(&output)
    );
    assert!(
        stdout.contains("interrupted") && stdout.contains("--resume"),
        "{stdout}"
    );
    assert_only_complete_files(&artifacts);

    // Resume with fewer epochs in all, so that the test does not wait for 60.
    let stopped_after = lenet::artifacts::RunFolder::new(&artifacts)
        .last_checkpoint()
        .unwrap();
    // The epoch it was in, not the last one planned.
    let stopped_in = format!("interrupted in epoch {} of {LONG_RUN}", stopped_after + 1);
    assert!(
        stdout.contains(&stopped_in),
        "{stopped_in:?} not in {stdout}"
    );
    let total = (stopped_after + 2).to_string();
    let resumed = resume_to_the_end(&artifacts, &total);
    assert!(
        resumed.contains(&format!("resumed after epoch {stopped_after}"))
            && resumed.contains(&format!("epoch {total:>3}/{total}")),
        "{resumed}"
    );
}

#[test]
fn kill_9_mid_epoch_leaves_no_half_written_file_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut child = start(&artifacts, LONG_RUN, "6000", &[]);
    let lines = stdout_lines(&mut child);
    wait_for_epoch_1(&lines, &artifacts);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let printed: Vec<String> = lines.iter().collect();
    assert!(
        !printed
            .iter()
            .any(|l| l.contains(&format!("epoch  {LONG_RUN}/"))),
        "killed too late: {printed:?}"
    );
    assert_only_complete_files(&artifacts);

    let stopped_after = lenet::artifacts::RunFolder::new(&artifacts)
        .last_checkpoint()
        .unwrap();
    let resumed = resume_to_the_end(&artifacts, &(stopped_after + 1).to_string());
    assert!(resumed.contains("resumed after epoch"), "{resumed}");
    let leftovers: Vec<_> = std::fs::read_dir(artifacts.join("checkpoint"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Trains one epoch on 200 images into `dir/run` and returns that folder.
fn train_tiny(dir: &Path) -> PathBuf {
    let artifacts = dir.join("run");
    let trained = start(&artifacts, "1", "200", &[])
        .wait_with_output()
        .unwrap();
    assert!(trained.status.success(), "{}", stderr(&trained));
    artifacts
}

#[test]
fn resume_accepts_the_values_the_run_already_has_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = train_tiny(dir.path());
    // The whole command line again, with a new total of epochs.
    let again = start(&artifacts, "2", "200", &["--resume"])
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}{}", stderr(&again));
    assert!(stdout.contains("resumed after epoch 1"), "{stdout}");
    // A value the run does not have is refused, naming it.
    let changed = start(&artifacts, "3", "300", &["--resume"])
        .wait_with_output()
        .unwrap();
    assert_clean_error(&changed, "not --train-size");
    let changed = start(&artifacts, "3", "200", &["--resume", "--lr", "0.5"])
        .wait_with_output()
        .unwrap();
    assert_clean_error(&changed, "not --lr");
}

#[test]
fn a_resumed_run_leaves_no_stale_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let first = start(&artifacts, "3", "200", &[])
        .wait_with_output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let resumed = start(&artifacts, "6", "200", &["--resume"])
        .wait_with_output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let mut epochs: Vec<usize> = std::fs::read_dir(artifacts.join("checkpoint"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort();
    // The last two (5, 6), maybe the best since the resume (4); nothing from before it.
    assert!(
        epochs.ends_with(&[5, 6]) && epochs.iter().all(|&e| e >= 4),
        "{epochs:?}"
    );
}

#[test]
fn a_corrupted_weight_file_is_refused_naming_the_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = train_tiny(dir.path());
    let model = artifacts.join("model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    // The tensors' data is at the end of a burnpack file.
    let last = bytes.len() - 8;
    bytes[last] ^= 0x55;
    std::fs::write(&model, &bytes).unwrap();
    let digit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/digits/7.png");
    let out = run(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        digit.to_str().unwrap(),
    ]);
    assert_clean_error(&out, "model.bpk: corrupted: the tensors' checksum");
    let err = stderr(&out);
    let sums: Vec<&str> = err
        .split_whitespace()
        .filter(|w| {
            w.trim_end_matches(',').len() == 8
                && w.chars().all(|c| c.is_ascii_hexdigit() || c == ',')
        })
        .collect();
    assert_eq!(sums.len(), 2, "expected and found checksums: {err}");
    assert_ne!(sums[0].trim_end_matches(','), sums[1].trim_end_matches(','));

    // A checkpoint carries its checksum beside it; a corrupted one is refused on --resume.
    let checkpoint = artifacts.join("checkpoint/model-1.bpk");
    assert!(artifacts.join("checkpoint/model-1.bpk.crc32").is_file());
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let last = bytes.len() - 8;
    bytes[last] ^= 0x55;
    std::fs::write(&checkpoint, &bytes).unwrap();
    let resumed = start(&artifacts, "2", "200", &["--resume"])
        .wait_with_output()
        .unwrap();
    assert!(!resumed.status.success());
    assert!(
        stderr(&resumed).contains("model-1.bpk: corrupted"),
        "{}",
        stderr(&resumed)
    );
}

#[test]
fn a_previous_run_is_not_overwritten_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = train_tiny(dir.path());
    let model = std::fs::read(artifacts.join("model.bpk")).unwrap();
    let again = start(&artifacts, "1", "200", &[])
        .wait_with_output()
        .unwrap();
    assert_clean_error(&again, "--overwrite");
    assert_eq!(std::fs::read(artifacts.join("model.bpk")).unwrap(), model);
    let replaced = start(&artifacts, "1", "200", &["--overwrite", "--seed", "7"])
        .wait_with_output()
        .unwrap();
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert_ne!(std::fs::read(artifacts.join("model.bpk")).unwrap(), model);
}

#[test]
fn predict_reports_bad_images_and_still_classifies_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = train_tiny(dir.path());

    // A real digit as a dark-on-light 84x84 scan, and three bad files.
    let data = lenet::data::MnistSplits::from_dir(&mnist_dir()).unwrap();
    let item = burn::data::dataset::Dataset::get(&*data.test, 0).unwrap();
    let digit =
        image::GrayImage::from_raw(28, 28, item.pixels.iter().map(|p| 255 - p).collect()).unwrap();
    let scan = image::imageops::resize(&digit, 84, 84, image::imageops::FilterType::Triangle);
    let good = dir.path().join("seven.png");
    scan.save(&good).unwrap();
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 this is not a jpeg").unwrap();
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, huge_png_header()).unwrap();
    let folder = dir.path().join("folder.png");
    std::fs::create_dir(&folder).unwrap();
    let missing = dir.path().join("missing.png");
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(100, 100, image::Luma([250]))
        .save(&blank)
        .unwrap();

    let model = artifacts.join("model.bpk");
    let paths = [&empty, &good, &corrupt, &huge, &folder, &missing, &blank];
    let mut args = vec!["predict", "--model", model.to_str().unwrap()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let started = Instant::now();
    let out = run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the huge image was decoded?"
    );
    assert!(!err.contains("panicked"), "{err}");
    let good_line = stdout
        .lines()
        .find(|l| l.contains("seven.png"))
        .expect("the good image is classified");
    let activations = good_line
        .split('[')
        .nth(1)
        .unwrap()
        .trim_end_matches(']')
        .split(", ")
        .count();
    assert_eq!(activations, 10, "{good_line}");
    for (name, needle) in [
        ("empty.png", "image"),
        ("corrupt.jpg", "image"),
        ("huge.png", "20000x20000"),
        // The reason, not the path alone.
        ("folder.png", "a folder, not a regular file"),
        ("missing.png", "No such file"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no error for {name}: {err}"));
        assert!(
            line.starts_with("error: ") && line.contains(needle),
            "{line}"
        );
    }
    assert!(err.contains("5 of 7 images could not be read"), "{err}");
    assert!(
        stdout.contains("blank.png: no digit"),
        "a blank image holds no digit: {stdout}"
    );
}

#[test]
fn eval_prints_the_confusion_matrix_and_writes_it_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = train_tiny(dir.path());
    let csv = dir.path().join("confusion.csv");
    let out = run(&[
        "eval",
        "--model",
        artifacts.to_str().unwrap(),
        "--data-dir",
        mnist_dir().to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    assert!(
        stdout.contains("test error:") && stdout.contains("/10000)"),
        "{stdout}"
    );
    assert!(
        !artifacts.join("confusion.csv").exists(),
        "nothing is written beside the model"
    );
    let csv = std::fs::read_to_string(csv).unwrap();
    let rows: Vec<Vec<usize>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(1).map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 10);
    // Row sums are the test split's class sizes (980 zeros, 1135 ones, ... in MNIST).
    let sums: Vec<usize> = rows.iter().map(|r| r.iter().sum()).collect();
    assert_eq!(sums.iter().sum::<usize>(), 10_000);
    assert_eq!(sums[0], 980);
    assert_eq!(sums[1], 1135);
}

#[test]
fn the_shipped_model_classifies_every_sample_digit() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets");
    let model = assets.join("model/model.bpk");
    let digits: Vec<PathBuf> = (0..10)
        .map(|d| assets.join(format!("digits/{d}.png")))
        .collect();
    let mut args = vec!["predict", "--model", model.to_str().unwrap()];
    args.extend(digits.iter().map(|p| p.to_str().unwrap()));
    let out = run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    for digit in 0..10 {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("digits/{digit}.png:")))
            .unwrap_or_else(|| panic!("no prediction for {digit}: {stdout}"));
        assert!(line.contains(&format!(".png: {digit}  [")), "{line}");
    }
}

#[test]
fn export_writes_safetensors_that_load_back_through_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = train_tiny(dir.path());
    let exported = dir.path().join("lenet.safetensors");
    let out = run(&[
        "export",
        "--model",
        artifacts.to_str().unwrap(),
        "--format",
        "safetensors",
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A file named for one format is not written in another; an ONNX model is not weights.
    let onnx = dir.path().join("lenet.onnx");
    let model = artifacts.to_str().unwrap();
    let out = run(&[
        "export",
        "--model",
        model,
        "--format",
        "bpk",
        "--out",
        onnx.to_str().unwrap(),
    ]);
    assert_clean_error(&out, "is named for --format onnx, not bpk");
    assert!(!onnx.exists(), "nothing written");
    let out = run(&[
        "export",
        "--model",
        model,
        "--format",
        "onnx",
        "--out",
        onnx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["predict", "--model", onnx.to_str().unwrap(), "x.png"]);
    assert_clean_error(&out, "lenet.onnx: an ONNX graph");
    let out = run(&["inspect", onnx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Gemm(") && text.contains("metadata training_config = {"),
        "{text}"
    );
    let digit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/digits/7.png");
    let from_bpk = run(&[
        "predict",
        "--model",
        artifacts.join("model.bpk").to_str().unwrap(),
        digit.to_str().unwrap(),
    ]);
    let from_safetensors = run(&[
        "predict",
        "--model",
        exported.to_str().unwrap(),
        digit.to_str().unwrap(),
    ]);
    assert!(
        from_safetensors.status.success(),
        "{}",
        stderr(&from_safetensors)
    );
    let tail = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .split(": ")
            .nth(1)
            .map(str::to_string)
    };
    assert_eq!(tail(&from_bpk), tail(&from_safetensors));

    // Training can start from the exported weights (with a learning rate too small to move
    // them, the run's model is the exported one); a file of the wrong shape is refused.
    let resumed = dir.path().join("from-export");
    let out = start(
        &resumed,
        "1",
        "200",
        &["--init-from", exported.to_str().unwrap(), "--lr", "1e-12"],
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let device = burn::prelude::Device::flex();
    let weights = |path: &Path| {
        let net = lenet::TrainedModel::load(path, &device).unwrap().net;
        let values = |data: burn::tensor::TensorData| data.try_to_vec::<f32>().unwrap();
        let bias = |b: &Option<burn::module::Param<burn::tensor::Tensor<1>>>| {
            b.as_ref()
                .map_or(Vec::new(), |b| values(b.val().into_data()))
        };
        [
            values(net.c1.weight.val().into_data()),
            bias(&net.c1.bias),
            values(net.c3.weight.val().into_data()),
            bias(&net.c3.bias),
            values(net.fc.weight.val().into_data()),
            bias(&net.fc.bias),
        ]
        .concat()
    };
    let (a, b) = (weights(&exported), weights(&resumed.join("model.bpk")));
    assert_eq!(a.len(), 3898);
    assert_eq!(a.len(), b.len());
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(max_diff < 1e-6, "weights moved by {max_diff}");
    let wrong = dir.path().join("wrong");
    let out = start(
        &wrong,
        "1",
        "200",
        &["--init-from", exported.to_str().unwrap(), "--c1", "4"],
    )
    .wait_with_output()
    .unwrap();
    assert_clean_error(&out, "c1.weight");
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The class and activations `predict` prints for each image (the notes before them differ).
fn predictions(output: &Output) -> Vec<String> {
    stdout(output)
        .lines()
        .filter(|line| line.contains(".png: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn checkpoints_of_other_burn_apps_through_inspect_convert_predict_and_init_from() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lenet/tests/fixtures");
    let mpk = fixtures.join("burn-0.21/lenet.mpk");
    let digits: Vec<String> = ["0", "3", "7"]
        .iter()
        .map(|d| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../assets/digits/{d}.png"))
                .display()
                .to_string()
        })
        .collect();
    let predict = |model: &str, extra: &[&str]| {
        let mut args = vec!["predict", "--model", model];
        args.extend_from_slice(extra);
        args.extend(digits.iter().map(String::as_str));
        run(&args)
    };

    // inspect: the file's names, dtypes, shapes, how they map, and whether the network fits.
    let out = run(&[
        "inspect",
        fixtures.join("burn-0.22/lenet-f16.bpk").to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("conv1.weight F16 [6, 1, 5, 5] -> c1.weight")
            && text.contains("fc1.weight F16 [192, 10] -> fc.weight")
            && text.contains("fits the network"),
        "{text}"
    );

    // convert: a burn 0.21 checkpoint folder (latest epoch) to burnpack, same predictions.
    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("converted.bpk");
    let run_dir = fixtures.join("burn-0.21/run");
    let out = run(&[
        "convert",
        run_dir.to_str().unwrap(),
        converted.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let original = predict(run_dir.to_str().unwrap(), &[]);
    assert!(original.status.success(), "{}", stderr(&original));
    assert!(
        stderr(&original).contains("the network was read from its tensors' shapes"),
        "{}",
        stderr(&original)
    );
    assert_eq!(predictions(&original).len(), 3);
    assert_eq!(
        predictions(&original),
        predictions(&predict(converted.to_str().unwrap(), &[]))
    );

    // --remap reaches the loader: a rule that moves conv1 elsewhere leaves no c1.
    let out = predict(mpk.to_str().unwrap(), &["--remap", "^conv1\\.=first."]);
    assert_clean_error(&out, "it has no tensor c1.weight");
    assert!(stderr(&out).contains("first.weight"), "{}", stderr(&out));

    // --init-only: the convolutions come from the file, the run says which tensors did not.
    let out = start(
        &dir.path().join("partial"),
        "1",
        "200",
        &[
            "--init-from",
            mpk.to_str().unwrap(),
            "--init-only",
            "^(c1|c3)\\.",
        ],
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("kept their initial values (not taken from --init-from): fc.bias, fc.weight"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_image_size_limit_is_said_where_users_read_it() {
    let limit = format!(
        "a JPEG up to {} megapixels",
        lenet::data::image::MAX_JPEG_PIXELS >> 20
    );
    let help = run(&["predict", "--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout).contains(&limit),
        "predict --help does not say {limit:?}"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    assert!(readme.contains(&limit), "the README does not say {limit:?}");
    assert!(!readme.contains("any size"), "the README promises any size");
}
