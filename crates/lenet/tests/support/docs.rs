//! The project's documentation: the README and the pages of `docs/`, whose commands the tests
//! run as written.
#![allow(dead_code)] // each test file that includes this module uses part of it

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

/// `README.md`, then every `docs/*.md` by name: each file's path and text.
pub fn documentation() -> Vec<(PathBuf, String)> {
    let root = repository();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    std::iter::once(root.join("README.md"))
        .chain(pages)
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a documentation page");
            (path, text)
        })
        .collect()
}

/// The lines of `sh` blocks in `text` that start with `prefix`, without the prefix and without
/// a trailing `  # comment`.
pub fn shell_commands(text: &str, prefix: &str) -> Vec<String> {
    let mut in_shell = false;
    let mut commands = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_shell = line == "```sh";
            continue;
        }
        if let Some(command) = line.strip_prefix(prefix).filter(|_| in_shell) {
            let command = command.split("  #").next().unwrap_or(command);
            commands.push(command.trim().to_string());
        }
    }
    commands
}
