//! `trainer export` and `trainer convert`: a model written as another format, where the
//! output policy allows ([`lenet::files::write_output`]).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use lenet::TrainedModel;
use lenet::cli::ModelArg;
use lenet::weights::{self, Layout, Precision, SaveOptions, WeightFormat};

use super::{Outcome, note_source};

/// Options of `trainer export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Output format: bpk (burnpack) or safetensors (the weights), or onnx (the whole model as
    /// an ONNX graph, its deskewing included).
    #[arg(long, value_enum)]
    format: WeightFormat,
    /// The file to write (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

/// Options of `trainer convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The model to read (any form --model takes).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The file to write: .bpk or .safetensors (`-`: standard output, as --format says).
    #[arg(value_name = "OUT")]
    out: PathBuf,
    /// OUT's format when OUT is `-` (else taken from its extension).
    #[arg(long, value_enum)]
    format: Option<WeightFormat>,
    /// Rename the input's tensors (FROM=TO, repeatable).
    #[arg(long, value_name = "FROM=TO")]
    remap: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// How written weights are stored, and whether they may replace a file.
#[derive(Args, Debug)]
pub struct OutputArgs {
    /// Replace the output if it exists (a regular file only: a folder or a symbolic link is
    /// never replaced; a device such as /dev/null is written into). Without it, an existing
    /// file is refused.
    #[arg(long)]
    force: bool,
    /// Float type of the written tensors.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Precision,
    /// SafeTensors only: Linear weights as PyTorch stores them ([out, in], what
    /// load_state_dict takes) or as burn does ([in, out], what burn-store reads by default);
    /// recorded in the file's metadata, which this program reads back.
    #[arg(long, value_enum, default_value = "pytorch")]
    layout: Layout,
}

impl OutputArgs {
    fn options(&self, format: WeightFormat) -> SaveOptions {
        SaveOptions {
            format,
            precision: self.dtype,
            layout: self.layout,
        }
    }
}

/// `trainer export`: a model written as burnpack, SafeTensors or ONNX.
pub fn export(args: &ExportArgs) -> Result<Outcome> {
    // A file named for one format holding another would load as neither.
    if let Ok(named) = WeightFormat::of(&args.out)
        && named != args.format
    {
        let name = |format: WeightFormat| {
            clap::ValueEnum::to_possible_value(&format)
                .map_or_else(|| format!("{format:?}"), |v| v.get_name().to_string())
        };
        anyhow::bail!(
            "--out {} is named for --format {}, not {}: give the file the format's extension \
             (.bpk, .safetensors, .onnx) or change --format",
            args.out.display(),
            name(named),
            name(args.format)
        );
    }
    // Refused before the model is read: a clear error first, and no work wasted.
    lenet::files::destination(&args.out, args.output.force)?;
    let device = lenet::Backend::default().device()?;
    let model = args.model.load(&device)?;
    note_source(&model);
    let written = write_model(&model, &args.out, &args.output, args.format)?;
    say(&written, format!("wrote {}", args.out.display()));
    Ok(Outcome::Finished)
}

/// `trainer convert`: any model file this program reads, written in the format OUT names.
pub fn convert(args: &ConvertArgs) -> Result<Outcome> {
    let format = match (args.format, args.out.as_os_str() == lenet::files::STDOUT) {
        (Some(format), _) => format,
        (None, true) => anyhow::bail!("OUT is - (standard output): say its --format"),
        (None, false) => WeightFormat::of(&args.out)?,
    };
    lenet::files::destination(&args.out, args.output.force)?;
    let model = ModelArg {
        model: Some(args.input.clone()),
        remap: args.remap.clone(),
    }
    .load(&lenet::Backend::default().device()?)?;
    note_source(&model);
    let written = write_model(&model, &args.out, &args.output, format)?;
    say(
        &written,
        format!(
            "wrote {} ({}, {} parameters)",
            args.out.display(),
            model.describe(),
            burn::module::Module::num_params(&model.net)
        ),
    );
    Ok(Outcome::Finished)
}

/// Writes `model` as `format` says (its weights, or the whole model as ONNX) where `out` and
/// `--force` allow ([`lenet::files::write_output`]).
fn write_model(
    model: &TrainedModel,
    out: &Path,
    output: &OutputArgs,
    format: WeightFormat,
) -> Result<lenet::files::Destination> {
    let bytes = match format {
        WeightFormat::Onnx => lenet::onnx::encode(model),
        _ => weights::encode(&model.net, out, &output.options(format))?,
    };
    Ok(lenet::files::write_output(out, &bytes, output.force)?)
}

/// Prints what was written: on stdout, unless stdout is where the output went.
fn say(written: &lenet::files::Destination, message: String) {
    if written.is_stdout() {
        eprintln!("{message}");
    } else {
        println!("{message}");
    }
}
