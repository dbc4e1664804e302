//! The `trainer` binary as the tests start it.

use std::process::{Command, Output};

/// `trainer` with `args`, not started.
pub fn trainer(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command.args(args);
    command
}

/// `trainer` with `args`, run to its end.
pub fn run(args: &[&str]) -> Output {
    trainer(args).output().expect("trainer runs")
}
