//! `trainer inspect`: a weight file's tensors and metadata and how they map onto the network
//! ([`lenet::weights::inspect`]), or an ONNX model's graph.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use lenet::cli::ModelArg;
use lenet::weights::WeightFormat;

use super::Outcome;

/// Options of `trainer inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The weight file, or an ONNX model (.onnx: its graph is printed).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Rename its tensors (FROM=TO, repeatable) before matching them to the network.
    #[arg(long, value_name = "FROM=TO")]
    remap: Vec<String>,
}

/// `trainer inspect`.
pub fn run(args: &InspectArgs) -> Result<Outcome> {
    if WeightFormat::of(&args.file).ok() == Some(WeightFormat::Onnx) {
        let model = lenet::onnx::read(&args.file)?;
        print!("{}: {}", args.file.display(), lenet::onnx::describe(&model));
        return Ok(Outcome::Finished);
    }
    let names = ModelArg {
        model: Some(args.file.clone()),
        remap: args.remap.clone(),
    }
    .load_options()?
    .names;
    let device = lenet::Backend::default().device()?;
    print!("{}", lenet::weights::inspect(&args.file, &names, &device)?);
    Ok(Outcome::Finished)
}
