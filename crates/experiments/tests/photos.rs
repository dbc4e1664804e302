//! `experiments photos` as docs/models.md and experiments/beyond_mnist/ run it: the real binary
//! writes MNIST's digits as labelled photos (JPEG) or optdigits-style cells (8x8 PNG),
//! reproducibly, other photos for the validation split than for the test split.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../lenet/tests/support/docs.rs"]
mod docs;
#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

fn experiments(dir: &Path, args: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_experiments"))
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("experiments runs");
    assert!(
        output.status.success(),
        "experiments {args}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn the_documented_photos_command_runs_as_written() {
    // The documentation's `experiments photos` lines, from a scratch folder with MNIST at
    // ../shared/data/mnist as in the checkout.
    let prefix = "cargo run --bin experiments -- ";
    let commands: Vec<String> = docs::documentation()
        .iter()
        .flat_map(|(_, text)| docs::shell_commands(text, prefix))
        .collect();
    assert!(
        commands.iter().any(|c| c.starts_with("photos")),
        "{commands:?}"
    );
    let scratch = tempfile::tempdir().unwrap();
    let checkout = scratch.path().join("lenet-burn");
    std::fs::create_dir_all(&checkout).unwrap();
    std::fs::create_dir_all(scratch.path().join("shared/data")).unwrap();
    std::os::unix::fs::symlink(mnist_dir(), scratch.path().join("shared/data/mnist")).unwrap();
    for command in commands.iter().filter(|c| c.starts_with("photos")) {
        experiments(&checkout, command);
    }
    let written = files(&checkout.join("runs/photos"));
    assert_eq!(written.len(), 200);
    assert!(written[0].ends_with("00000_7.jpg"), "{written:?}");
}

#[test]
fn photos_are_labelled_repeatable_and_differ_between_splits() {
    let data = mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &str| {
        let out = dir.path().join(name);
        experiments(
            dir.path(),
            &format!(
                "photos --data-dir {} --count 12 --out {} {extra}",
                data.display(),
                out.display()
            ),
        );
        files(&out)
    };
    let test = run("test", "");
    let again = run("again", "--split test");
    let validation = run("validation", "--split validation");
    let cells = run("cells", "--split validation --kind cells");
    // MNIST's first test labels: 7 2 1 0 4 1 4 9 5 9 0 6.
    let labels: Vec<String> = test
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        labels[..4],
        ["00000_7.jpg", "00001_2.jpg", "00002_1.jpg", "00003_0.jpg"]
    );
    for (a, b) in test.iter().zip(&again) {
        assert_eq!(
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            "{a:?}"
        );
    }
    for (a, b) in test.iter().zip(&validation) {
        assert_ne!(
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            "{a:?}"
        );
    }
    for (photo, cell) in validation.iter().zip(&cells) {
        assert_eq!(
            photo.file_stem(),
            cell.file_stem(),
            "the same digits, the same labels"
        );
        let decoded = image::open(cell).unwrap().into_luma8();
        assert_eq!(decoded.dimensions(), (8, 8));
        let decoded = image::open(photo).unwrap().into_luma8();
        assert!(decoded.width().min(decoded.height()) >= 20);
    }
}

#[test]
fn a_closed_output_pipe_ends_the_program_quietly() {
    // `experiments ... | head -0`: the reader gone before the first line.
    let out = tempfile::tempdir().unwrap();
    let mnist = mnist_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_experiments"))
        .args([
            "photos",
            "--data-dir",
            mnist.to_str().unwrap(),
            "--count",
            "3",
        ])
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        files(out.path()).len(),
        3,
        "the photos are written all the same"
    );
}
