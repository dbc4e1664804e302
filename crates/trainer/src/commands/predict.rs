//! `trainer predict`: digit images (up to [`image::MAX_JPEG_PIXELS`] for a JPEG,
//! [`image::MAX_PIXELS`] for other formats) classified.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use lenet::cli::{BackendArg, ModelArg};
use lenet::data::image;

use super::{Outcome, note_source};

/// Options of `trainer predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    backend: BackendArg,
    /// Images to classify.
    #[arg(required = true, value_name = "IMG")]
    images: Vec<PathBuf>,
}

/// `trainer predict`: each image's digit and the ten outputs, or why it has none.
pub fn run(args: &PredictArgs) -> Result<Outcome> {
    let model = args.model.load(&args.backend.device()?)?;
    note_source(&model);
    let mut failed = 0;
    for path in &args.images {
        // One image at a time: a bad file is reported and the others are still classified.
        match image::load_digit(path) {
            Ok(pixels) if image::is_blank(&pixels) => {
                println!("{}: {}", path.display(), image::no_digit_reason());
            }
            Ok(pixels) => {
                for prediction in model.predict(vec![pixels]) {
                    let outputs: Vec<String> = prediction
                        .outputs
                        .iter()
                        .map(|v| format!("{v:.3}"))
                        .collect();
                    // "4 (unsure: 4 or 9)" when the top output leads the second by little.
                    let doubt = prediction
                        .unsure_between()
                        .map(|[a, b]| format!(" (unsure: {a} or {b})"))
                        .unwrap_or_default();
                    println!(
                        "{}: {}{doubt}  [{}]",
                        path.display(),
                        prediction.class,
                        outputs.join(", ")
                    );
                }
            }
            Err(error) => {
                // With its causes: "FILE: Is a directory", not the path alone.
                eprintln!(
                    "error: {}",
                    crate::exit::one_line(&anyhow::Error::new(error))
                );
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} images could not be read", args.images.len());
    }
    Ok(Outcome::Finished)
}
