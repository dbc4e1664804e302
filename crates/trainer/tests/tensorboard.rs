//! The TensorBoard event files of `trainer` runs: off with `--no-tensorboard`; and, read by
//! TensorBoard itself (system tier: Python with `tensorboard`, which `.ci/run` installs), a run
//! resumed after a kill shows each epoch once, with the values its epoch lines printed.

use std::path::Path;
use std::process::Command;

#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;
#[path = "../../lenet/tests/support/tensorboard.rs"]
mod tensorboard;
use tensorboard::{curve, tensorboard_dump};

/// Trains into `dir` (1000 images at batch 10: 100 batches an epoch); returns stdout.
fn train(dir: &Path, extra: &[&str]) -> String {
    let mnist = mnist_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["--data-dir", mnist.to_str().unwrap()])
        .args([
            "--train-size",
            "1000",
            "--test-size",
            "200",
            "--batch-size",
            "10",
        ])
        .args(["--artifact-dir", dir.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn event_files(dir: &Path) -> usize {
    lenet::artifacts::RunFolder::new(dir).event_files().len()
}

#[test]
fn no_tensorboard_writes_no_event_file() {
    let root = tempfile::tempdir().unwrap();
    let (with, without) = (root.path().join("with"), root.path().join("without"));
    train(&with, &["--epochs", "1"]);
    train(&without, &["--epochs", "1", "--no-tensorboard"]);
    assert_eq!((event_files(&with), event_files(&without)), (1, 0));
}

/// (epoch, train loss, train error, test loss, test error) of each epoch line printed.
fn epoch_lines(stdout: &str) -> Vec<(i64, String, String, String, String)> {
    stdout
        .lines()
        .filter(|line| line.starts_with("epoch "))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let epoch = words[1].split('/').next().unwrap().parse().unwrap();
            // epoch N/M | train loss L error E% | test loss L error E% | S s
            let percent = |w: &str| w.trim_end_matches('%').to_string();
            (
                epoch,
                words[5].to_string(),
                percent(words[7]),
                words[11].to_string(),
                percent(words[13]),
            )
        })
        .collect()
}

#[test]
#[ignore = "system tier: needs Python with tensorboard; .ci/run installs it and runs it"]
fn a_resumed_run_reads_in_tensorboard_with_each_epoch_once() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let first = train(&dir, &["--epochs", "3"]);
    // As if killed before epoch 3's checkpoint was complete: its points are logged.
    for kind in ["model", "optim", "scheduler"] {
        std::fs::remove_file(dir.join(format!("checkpoint/{kind}-3.bpk"))).unwrap();
    }
    let resumed = train(&dir, &["--epochs", "4", "--resume"]);
    assert!(resumed.contains("resumed after epoch 2"), "{resumed}");
    let mut lines = epoch_lines(&first);
    lines.truncate(2);
    lines.extend(epoch_lines(&resumed));
    assert_eq!(lines.len(), 4);

    let dump = tensorboard_dump(std::slice::from_ref(&dir));
    let run = &dump[dir.to_str().unwrap()];
    let images = 1000;
    for (tag, decimals, column) in [
        ("loss/train", 5, 1),
        ("error/train", 2, 2),
        ("loss/test", 5, 3),
        ("error/test", 2, 4),
    ] {
        let found: Vec<(i64, String)> = curve(run, tag)
            .into_iter()
            .map(|(step, value)| (step, format!("{value:.decimals$}")))
            .collect();
        let printed: Vec<(i64, String)> = lines
            .iter()
            .map(|l| {
                let value = [&l.1, &l.2, &l.3, &l.4][column - 1].clone();
                (l.0 * images, value)
            })
            .collect();
        assert_eq!(found, printed, "{tag}");
    }
    // The batch losses: 4 an epoch (every 25th of 100 batches), each step once, in order.
    let batches = curve(run, "loss/train_batch");
    let steps: Vec<i64> = batches.iter().map(|p| p.0).collect();
    let expected: Vec<i64> = (0..4)
        .flat_map(|epoch| (1..=4).map(move |k| epoch * images + k * 250))
        .collect();
    assert_eq!(steps, expected);
    let end = &run["hparams"]["_hparams_/session_end_info"]["sessionEndInfo"];
    assert_eq!(end["status"], "STATUS_SUCCESS", "{end}");
}
