//! The brief's own command, typed as it is written: `cargo run -p trainer -- --backend wgpu`,
//! without `--release`, with data flags for a short run, from the repository's root, after the
//! build that the README's first command (and `.ci/run`) made. It must compile nothing
//! (cargo's default profile, `dev`, is the one tuned build: `Cargo.toml`), finish, and print
//! its epoch line; where `XDG_RUNTIME_DIR` is unset, wgpu's drivers print no false "error".

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

/// `cargo run -p trainer -- [--backend BACKEND] <a one-epoch run of 600 images>`, run from the
/// repository's root with `edit` applied to the command.
fn brief_command(backend: Option<&str>, edit: impl FnOnce(&mut Command)) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let artifacts = tempfile::tempdir().unwrap();
    let mnist = mnist_dir();
    let mut command = Command::new(cargo);
    // A user's shell: without the variables `cargo test` sets for this test (build scripts
    // such as ring's rerun when CARGO_MANIFEST_DIR or CARGO_PKG_NAME differ from their build).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_test = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&&*key);
        if set_by_cargo_test {
            command.env_remove(&*key);
        }
    }
    command
        .current_dir(root)
        .args(["run", "-p", "trainer", "--"])
        .args(backend.map(|b| ["--backend", b]).into_iter().flatten())
        .arg("--data-dir")
        .arg(&mnist)
        .args(["--train-size", "600", "--test-size", "100", "--epochs", "1"])
        .arg("--artifact-dir")
        .arg(artifacts.path().join("run"));
    edit(&mut command);
    command.output().expect("cargo runs")
}

/// A run of the command that compiled nothing and printed its epoch line.
fn assert_ran_without_compiling(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        !stderr.contains("Compiling"),
        "the brief's command compiled again after the README's build:\n{stderr}"
    );
    assert!(stdout.contains("epoch   1/1 |"), "no epoch line: {stdout}");
}

#[test]
fn the_briefs_command_as_written_compiles_nothing_and_trains() {
    assert_ran_without_compiling(&brief_command(None, |_| {}));
}

#[test]
#[ignore = "system tier: needs a Vulkan driver (Mesa's lavapipe); .ci/run installs it and runs it"]
fn the_briefs_wgpu_command_compiles_nothing_and_no_false_error_is_printed() {
    // As in an ssh session, a container or CI: no XDG_RUNTIME_DIR.
    let output = brief_command(Some("wgpu"), |command| {
        command.env_remove("XDG_RUNTIME_DIR");
    });
    assert_ran_without_compiling(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("XDG_RUNTIME_DIR") && !stderr.contains("error"),
        "{stderr}"
    );
}
