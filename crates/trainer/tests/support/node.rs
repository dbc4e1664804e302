//! Runs one of the browser tests' Node.js scripts (`tests/browser/*.mjs`, puppeteer-core driving
//! Debian's Chromium) and reads the JSON it prints; shared by the tests that open pages.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of the Node.js scripts, with its `node_modules`.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `node tests/browser/<script> <args>`: fails the test with the script's output unless it
/// succeeds and prints one JSON value.
pub fn run_script(script: &str, args: &[&OsStr]) -> serde_json::Value {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/puppeteer-core").is_dir(),
        "puppeteer-core is not installed: run `npm ci --prefix {}` (.ci/run does)",
        dir.display()
    );
    let output = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .output()
        .expect("node runs (install Node.js and Debian's chromium; .ci/run does)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("the script's JSON")
}
