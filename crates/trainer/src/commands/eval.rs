//! `trainer eval`: a model on MNIST's test split.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use lenet::cli::{BackendArg, DataArg, ModelArg};

use super::{Outcome, note_source};

/// Options of `trainer eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    backend: BackendArg,
    /// Also write the confusion matrix as CSV to FILE (`-`: standard output, after the report).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// `trainer eval`: a model's test error, per class, and its confusion matrix.
pub fn run(args: &EvalArgs) -> Result<Outcome> {
    let model = args.model.load(&args.backend.device()?)?;
    note_source(&model);
    let result = model.evaluate(args.data.load()?)?;
    // With `--csv -` the report goes to stderr, so that stdout holds the CSV alone.
    let to_stdout = args.csv.as_deref() == Some(Path::new(lenet::files::STDOUT));
    let report = format!(
        "test error: {:.2}% ({}/{}), test MSE {:.5} ({}, on {})\n\n{}",
        result.error_rate(),
        result.errors,
        result.total,
        result.mse,
        model.describe(),
        args.backend.backend,
        result.report()
    );
    if to_stdout {
        eprintln!("{report}");
    } else {
        println!("{report}");
    }
    // Written only where asked: never beside the model (which may be the shipped one, or a
    // folder of assets/).
    if let Some(csv) = &args.csv {
        let written =
            lenet::files::write_output(csv, result.confusion_csv().as_bytes(), args.force)?;
        if !written.is_stdout() {
            println!("\nconfusion matrix written to {}", csv.display());
        }
    }
    Ok(Outcome::Finished)
}
