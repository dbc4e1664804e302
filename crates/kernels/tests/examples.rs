//! The crate's example as a user pipes it: `cargo run --example kernel_speed | head -1`.

use std::process::{Command, Stdio};

#[test]
fn kernel_speed_ends_quietly_when_its_reader_is_gone() {
    // Examples are built by `cargo test` beside the test binaries' folder.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples/kernel_speed");
    assert!(
        example.is_file(),
        "example not built at {} (cargo test --all-targets builds it)",
        example.display()
    );
    // The reader gone before the first line: the first print meets a closed pipe.
    let mut child = Command::new(&example)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
