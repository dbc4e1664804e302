//! Every `trainer` command the README and the pages of `docs/` show, run as written (the real
//! binary in place of `cargo run --bin trainer --`, through bash so globs and pipes
//! work), from a scratch folder laid out like the checkout: `assets/` and `crates/` of the
//! repository, an empty `examples/onnx/`, `../shared/data/mnist`.
//! Long trainings are cut to one epoch and servers to their start and a SIGTERM; nothing else
//! is changed, so a command that fails for a user fails here.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;
#[path = "../../lenet/tests/support/docs.rs"]
mod docs;
use docs::repository;

const PREFIX: &str = "cargo run --bin trainer -- ";

/// The `trainer` commands of the README and of `docs/`, in order, each with its page.
fn documented_commands() -> Vec<(String, String)> {
    docs::documentation()
        .into_iter()
        .flat_map(|(path, text)| {
            let page = path.file_name().unwrap().to_string_lossy().into_owned();
            docs::shell_commands(&text, PREFIX)
                .into_iter()
                .map(move |command| (page.clone(), command))
        })
        .collect()
}

/// The command's arguments with trainings cut to one epoch and servers on a free port.
fn shortened(arguments: &str) -> String {
    let mut words: Vec<String> = arguments.split_whitespace().map(String::from).collect();
    let trains = words
        .first()
        .is_none_or(|w| w.starts_with("--") || w == "train");
    if let Some(i) = words.iter().position(|w| w == "--epochs") {
        words[i + 1] = "1".into();
    } else if trains {
        words.extend(["--epochs".into(), "1".into()]);
    }
    if words.first().is_some_and(|w| w == "serve") {
        match words.iter().position(|w| w == "--addr") {
            Some(i) => words[i + 1] = "127.0.0.1:0".into(),
            None => words.extend(["--addr".into(), "127.0.0.1:0".into()]),
        }
    }
    words.join(" ")
}

#[test]
fn every_command_of_the_documentation_runs_as_written() {
    let commands = documented_commands();
    assert!(
        commands.len() >= 20,
        "the documentation's commands were not found: {commands:?}"
    );
    for page in [
        "README.md",
        "training.md",
        "models.md",
        "web.md",
        "speed.md",
    ] {
        assert!(
            commands.iter().any(|(p, _)| p == page),
            "no trainer command found in {page}"
        );
    }
    // A scratch checkout: the repository's assets and fixtures, MNIST at ../shared/data/mnist.
    let scratch = tempfile::tempdir().unwrap();
    let checkout = scratch.path().join("lenet-burn");
    std::fs::create_dir_all(checkout.join("crates/lenet/tests")).unwrap();
    std::fs::create_dir_all(scratch.path().join("shared/data")).unwrap();
    let link = |target: &Path, at: &Path| std::os::unix::fs::symlink(target, at).unwrap();
    link(&repository().join("assets"), &checkout.join("assets"));
    link(
        &repository().join("crates/lenet/tests/fixtures"),
        &checkout.join("crates/lenet/tests/fixtures"),
    );
    link(&mnist_dir(), &scratch.path().join("shared/data/mnist"));
    // The folder the ONNX example writes into (its files, not a link: nothing is written into
    // the repository).
    std::fs::create_dir_all(checkout.join("examples/onnx")).unwrap();
    let binary = env!("CARGO_BIN_EXE_trainer");

    for (page, command) in &commands {
        let arguments = shortened(command);
        let line = format!("'{binary}' {arguments}");
        // pipefail: a trainer that fails before a pipe's end (`| head`) fails the command.
        let mut child = Command::new("bash")
            .args(["-o", "pipefail", "-c", &format!("exec {line}")])
            .current_dir(&checkout)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if arguments.starts_with("serve") {
            // Up and serving, then stopped the way a user stops it.
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let serving = lines
                .by_ref()
                .map_while(|l| l.ok())
                .any(|l| l.starts_with("serving http://"));
            // Keep reading, so that its last lines do not meet a closed pipe.
            let reader = std::thread::spawn(move || lines.for_each(drop));
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let output = child.wait_with_output().unwrap();
            reader.join().unwrap();
            assert!(
                serving && output.status.success(),
                "{command}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            continue;
        }
        let output = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert!(
            output.status.success(),
            "{page}: command failed: {command}\nran: {arguments}\n{stdout}{stderr}"
        );
    }
    // Nothing was written into assets/ (the scratch checkout's assets are the repository's).
    let written: Vec<_> = std::fs::read_dir(repository().join("assets/model"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| {
            !["README.md", "config.json", "evaluation.json", "model.bpk"].contains(&name.as_str())
        })
        .collect();
    assert!(written.is_empty(), "written into assets/model: {written:?}");
}

#[test]
fn the_shipped_model_is_the_default_from_any_folder() {
    let elsewhere = tempfile::tempdir().unwrap();
    let digit = repository().join("assets/digits/7.png");
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("predict")
        .arg(&digit)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("7.png: 7 "), "{stdout}");
}
