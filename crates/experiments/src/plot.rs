//! Figures with plotters: one mean line per variant with its min-max band over seeds, written
//! as SVG and as PNG (plotters draws into a pixel buffer; the image crate encodes it).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{ExperimentError, Result};
use crate::results::Band;

/// Pixel size of the figures.
pub const SIZE: (u32, u32) = (900, 600);

/// A line to draw: its label and its points.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Points in x order.
    pub points: &'a [Band],
}

/// Axis titles and figure title.
pub struct Labels<'a> {
    /// Above the plot.
    pub title: &'a str,
    /// Under the x axis.
    pub x: &'a str,
    /// Beside the y axis.
    pub y: &'a str,
}

/// plotters' pure-Rust text rendering needs a registered font; DejaVu Sans is embedded in the
/// binary, so figures look the same on every machine and need no system fonts.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded font is valid TrueType; a failure here is a build problem.
        if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_err()
        {
            panic!("the embedded DejaVu Sans font is not a valid TrueType font");
        }
    });
}

/// Draws `series` into `<stem>.svg` and `<stem>.png`.
pub fn draw(stem: &Path, labels: &Labels, series: &[Series]) -> Result<()> {
    register_font();
    let svg = stem.with_extension("svg");
    let fail = |path: &Path, e: String| ExperimentError::Plot {
        path: path.to_path_buf(),
        reason: e,
    };
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw_on(&root, labels, series).map_err(|e| fail(&svg, e))?;
        root.present().map_err(|e| fail(&svg, e.to_string()))?;
    }
    let png = stem.with_extension("png");
    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw_on(&root, labels, series).map_err(|e| fail(&png, e))?;
        root.present().map_err(|e| fail(&png, e.to_string()))?;
    }
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, pixels)
        .ok_or_else(|| fail(&png, "pixel buffer of the wrong size".into()))?;
    image.save(&png).map_err(|e| fail(&png, e.to_string()))
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    labels: &Labels,
    series: &[Series],
) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x_min = all().map(|p| p.x).fold(f64::INFINITY, f64::min);
    let x_max = all().map(|p| p.x).fold(f64::NEG_INFINITY, f64::max);
    let y_max = all().map(|p| p.max).fold(0.0, f64::max);
    if !(x_min.is_finite() && x_max.is_finite() && y_max.is_finite()) {
        return Err("nothing to plot".into());
    }
    let x_range = if x_max > x_min {
        x_min..x_max
    } else {
        x_min..x_min + 1.0
    };
    let mut chart = ChartBuilder::on(root)
        .caption(labels.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x_range, 0.0..(y_max * 1.05).max(1e-9))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (i, line) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        // The band: the max curve forward, the min curve back.
        let outline: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|p| (p.x, p.max))
            .chain(line.points.iter().rev().map(|p| (p.x, p.min)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                colour.mix(0.18).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().map(|p| (p.x, p.mean)),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_and_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        let points = [
            Band {
                x: 1.0,
                mean: 50.0,
                min: 40.0,
                max: 60.0,
            },
            Band {
                x: 2.0,
                mean: 20.0,
                min: 15.0,
                max: 30.0,
            },
        ];
        let labels = Labels {
            title: "t",
            x: "epoch",
            y: "test error (%)",
        };
        draw(
            &dir.path().join("fig"),
            &labels,
            &[Series {
                label: "a",
                points: &points,
            }],
        )
        .unwrap();
        let png = image::open(dir.path().join("fig.png")).unwrap();
        assert_eq!((png.width(), png.height()), SIZE);
        // Not a blank canvas: some pixels are dark (axes, text, the line).
        assert!(png.to_luma8().pixels().any(|p| p.0[0] < 100));
        let svg = std::fs::read_to_string(dir.path().join("fig.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("test error (%)") && svg.contains("epoch"));
    }
}
