//! Random distortions of training images, drawn anew every epoch (the training loader seeds
//! them from the run's seed, the epoch and the image's place, so runs are repeatable):
//!
//! - affine: a rotation of up to ±12°, a scaling by 0.9-1.1 and a shift of up to ±2 pixels
//!   about the image centre, the kind of variation LeCun et al. (1998) generated to train
//!   LeNet-5;
//! - elastic: a smooth random displacement field, as Simard, Steinkraus and Platt (2003): here
//!   uniform random displacements on a coarse grid (every [`ELASTIC_GRID`] pixels), bilinearly
//!   interpolated, which is smooth like their Gaussian-filtered noise at a fraction of its
//!   cost, up to [`ELASTIC_AMPLITUDE`] pixels.
//!
//! Hand-written because the image crates offer affine warps of whole images but not per-pixel
//! displacement fields, and both are a few lines of bilinear sampling on 28x28 grey levels.

use std::ops::RangeInclusive;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::mnist::IMAGE_SIZE;

/// Largest rotation, radians (12°).
const ROTATION: f64 = 12.0 * std::f64::consts::PI / 180.0;
/// Largest relative change of size.
const SCALING: f64 = 0.1;
/// Largest shift, pixels.
const SHIFT: f64 = 2.0;
/// Spacing of the elastic field's random control points, pixels.
pub const ELASTIC_GRID: usize = 4;
/// Largest elastic displacement at a control point, pixels.
pub const ELASTIC_AMPLITUDE: f64 = 2.5;

/// Which distortions the training images get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// The images as they are (the paper's).
    #[default]
    None,
    /// Random rotation, scaling and shift.
    Affine,
    /// A random smooth displacement field.
    Elastic,
    /// Affine, then elastic.
    Both,
}

impl Augment {
    /// `pixels` (28x28 grey levels) distorted with random numbers drawn from `seed`.
    pub fn distort(self, pixels: &[u8], seed: u64) -> Vec<u8> {
        if self == Augment::None {
            return pixels.to_vec();
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let affine =
            matches!(self, Augment::Affine | Augment::Both).then(|| Affine::random(&mut rng));
        let field =
            matches!(self, Augment::Elastic | Augment::Both).then(|| Field::random(&mut rng));
        let centre = (IMAGE_SIZE as f64 - 1.0) / 2.0;
        let source = Bordered::new(pixels);
        let mut out = vec![0u8; pixels.len()];
        if let (Some(affine), None) = (&affine, &field) {
            // The affine map is a column term plus a row term: each computed once per column or
            // row instead of once per pixel (the same values as `Affine::source`).
            let columns: Vec<_> = (0..IMAGE_SIZE)
                .map(|x| affine.column_term(x as f64 - centre))
                .collect();
            for (y, out) in out.chunks_exact_mut(IMAGE_SIZE).enumerate() {
                let (row_x, row_y) = affine.row_term(y as f64 - centre);
                for (out, &(x, y)) in out.iter_mut().zip(&columns) {
                    *out = to_grey(source.sample(x + row_x + centre, y + row_y + centre));
                }
            }
            return out;
        }
        for (i, out) in out.iter_mut().enumerate() {
            let (mut x, mut y) = ((i % IMAGE_SIZE) as f64, (i / IMAGE_SIZE) as f64);
            if let Some(field) = &field {
                let (dx, dy) = field.at(x, y);
                x += dx;
                y += dy;
            }
            if let Some(affine) = &affine {
                (x, y) = affine.source(x - centre, y - centre);
                x += centre;
                y += centre;
            }
            *out = to_grey(source.sample(x, y));
        }
        out
    }
}

/// The inverse of a random rotation-scaling-shift: where an output pixel reads from.
struct Affine {
    /// Rows of the inverse matrix.
    m: [[f64; 2]; 2],
    shift: (f64, f64),
}

impl Affine {
    fn random(rng: &mut StdRng) -> Self {
        let angle = rng.random_range(-ROTATION..ROTATION);
        let scale = 1.0 + rng.random_range(-SCALING..SCALING);
        let shift = (
            rng.random_range(-SHIFT..SHIFT),
            rng.random_range(-SHIFT..SHIFT),
        );
        // Output = R·s·input + shift, so input = R⁻¹·(output − shift)/s.
        let (sin, cos) = angle.sin_cos();
        Self {
            m: [[cos / scale, sin / scale], [-sin / scale, cos / scale]],
            shift,
        }
    }

    /// The source of a pixel at `(x, y)` from the centre.
    fn source(&self, x: f64, y: f64) -> (f64, f64) {
        let (column, row) = (self.column_term(x), self.row_term(y));
        (column.0 + row.0, column.1 + row.1)
    }

    /// The part of [`Affine::source`] that depends on `x` alone.
    fn column_term(&self, x: f64) -> (f64, f64) {
        let x = x - self.shift.0;
        (self.m[0][0] * x, self.m[1][0] * x)
    }

    /// The part of [`Affine::source`] that depends on `y` alone.
    fn row_term(&self, y: f64) -> (f64, f64) {
        let y = y - self.shift.1;
        (self.m[0][1] * y, self.m[1][1] * y)
    }
}

/// Random displacements on a coarse grid of control points.
struct Field {
    /// Control points per side.
    side: usize,
    /// `(dx, dy)` at each control point, row-major.
    points: Vec<(f64, f64)>,
}

impl Field {
    fn random(rng: &mut StdRng) -> Self {
        let side = (IMAGE_SIZE - 1).div_ceil(ELASTIC_GRID) + 1;
        let points = (0..side * side)
            .map(|_| {
                (
                    rng.random_range(-ELASTIC_AMPLITUDE..ELASTIC_AMPLITUDE),
                    rng.random_range(-ELASTIC_AMPLITUDE..ELASTIC_AMPLITUDE),
                )
            })
            .collect();
        Self { side, points }
    }

    /// The displacement at pixel `(x, y)`, interpolated between control points.
    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let (gx, gy) = (x / ELASTIC_GRID as f64, y / ELASTIC_GRID as f64);
        let (x0, y0) = (gx as usize, gy as usize);
        let (x0, y0) = (x0.min(self.side - 2), y0.min(self.side - 2));
        let (fx, fy) = (gx - x0 as f64, gy - y0 as f64);
        let p = |x: usize, y: usize| self.points[y * self.side + x];
        let lerp =
            |a: (f64, f64), b: (f64, f64), t: f64| (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        let top = lerp(p(x0, y0), p(x0 + 1, y0), fx);
        let bottom = lerp(p(x0, y0 + 1), p(x0 + 1, y0 + 1), fx);
        lerp(top, bottom, fy)
    }
}

/// Side of [`Bordered`]'s copy: the image with a row or column of zeros on each side.
const BORDERED: usize = IMAGE_SIZE + 2;

/// An image's grey levels as `f64`, inside a border of zeros, so that bilinear sampling near
/// the edges needs no test per neighbour, with the box that holds the image's ink, so that
/// sampling outside it (most of a digit's image) is one test.
struct Bordered {
    values: [f64; BORDERED * BORDERED],
    /// The whole columns `x0` (rows `y0`) whose neighbourhood `x0..=x0 + 1` can hold ink.
    columns: RangeInclusive<i32>,
    rows: RangeInclusive<i32>,
}

impl Bordered {
    fn new(pixels: &[u8]) -> Self {
        let mut values = [0.0; BORDERED * BORDERED];
        for (row, source) in values
            .chunks_exact_mut(BORDERED)
            .skip(1)
            .zip(pixels.chunks_exact(IMAGE_SIZE))
        {
            for (value, &p) in row[1..].iter_mut().zip(source) {
                *value = f64::from(p);
            }
        }
        // Which rows and which columns hold ink (a column's flag is the OR of its pixels over
        // the rows, a whole row at a time), then the range of neighbourhoods that reach them.
        let mut inked_columns = [0u8; IMAGE_SIZE];
        let mut inked_rows = [0u8; IMAGE_SIZE];
        for (row, flag) in pixels.chunks_exact(IMAGE_SIZE).zip(&mut inked_rows) {
            for (column, &p) in inked_columns.iter_mut().zip(row) {
                *column |= p;
            }
            *flag = row.iter().fold(0, |any, &p| any | p);
        }
        let reach = |flags: &[u8; IMAGE_SIZE]| {
            match (
                flags.iter().position(|&f| f != 0),
                flags.iter().rposition(|&f| f != 0),
            ) {
                // A neighbourhood starting one line before the first inked one reaches it.
                (Some(first), Some(last)) => first as i32 - 1..=last as i32,
                _ => RangeInclusive::new(0, -1),
            }
        };
        Self {
            values,
            columns: reach(&inked_columns),
            rows: reach(&inked_rows),
        }
    }

    /// Whether bilinear sampling at `(x, y)` can give anything but 0: whether the neighbourhood
    /// that [`Bordered::sample`] reads is in `columns` and `rows` (`floor(x) >= first` is
    /// `x >= first`, and `floor(x) <= last` is `x < last + 1`). Most of a digit's image reads
    /// its blank margin and is settled by these four comparisons.
    fn reaches_ink(&self, x: f64, y: f64) -> bool {
        let within = |v: f64, range: &RangeInclusive<i32>| {
            v >= f64::from(*range.start()) && v < f64::from(*range.end()) + 1.0
        };
        within(x, &self.columns) && within(y, &self.rows)
    }

    /// The grey level at `(x, y)` by bilinear interpolation; 0 outside the image.
    ///
    /// Written with integer truncation instead of `f64::floor` (a libm call without SSE4.1 in
    /// the build's target features): sampling is a quarter of a distorted epoch's time
    /// otherwise.
    fn sample(&self, x: f64, y: f64) -> f64 {
        // All four neighbours without ink (outside the image or in its blank margins).
        if !self.reaches_ink(x, y) {
            return 0.0;
        }
        let (x0, y0) = (floor(x), floor(y));
        let (fx, fy) = (x - f64::from(x0), y - f64::from(y0));
        let at = ((y0 + 1) as usize) * BORDERED + (x0 + 1) as usize;
        let (top, bottom) = (
            &self.values[at..at + 2],
            &self.values[at + BORDERED..at + BORDERED + 2],
        );
        let top = top[0] * (1.0 - fx) + top[1] * fx;
        let bottom = bottom[0] * (1.0 - fx) + bottom[1] * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// `x.floor()` for coordinates near the image (|x| far below `i32::MAX`).
pub(super) fn floor(x: f64) -> i32 {
    let truncated = x as i32;
    // Truncation rounds negative fractions up; step down for them.
    if f64::from(truncated) > x {
        truncated - 1
    } else {
        truncated
    }
}

/// A grey level in 0..=255 rounded to the nearest integer (halves away from zero, as
/// `f64::round`, without its libm call).
pub(super) fn to_grey(value: f64) -> u8 {
    (value.clamp(0.0, 255.0) + 0.5) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::PIXELS;

    /// A filled square in the middle of the image.
    fn square() -> Vec<u8> {
        (0..PIXELS)
            .map(|i| {
                let (x, y) = (i % IMAGE_SIZE, i / IMAGE_SIZE);
                if (9..19).contains(&x) && (9..19).contains(&y) {
                    200
                } else {
                    0
                }
            })
            .collect()
    }

    fn mass(pixels: &[u8]) -> f64 {
        pixels.iter().map(|&p| f64::from(p)).sum()
    }

    #[test]
    fn none_leaves_the_image_as_it_is() {
        assert_eq!(Augment::None.distort(&square(), 1), square());
    }

    #[test]
    fn distortions_move_ink_a_little_repeatably_and_differently_per_seed() {
        let image = square();
        for augment in [Augment::Affine, Augment::Elastic, Augment::Both] {
            let a = augment.distort(&image, 7);
            assert_eq!(
                a,
                augment.distort(&image, 7),
                "{augment:?}: the seed decides"
            );
            assert_ne!(
                a,
                augment.distort(&image, 8),
                "{augment:?}: a new seed, a new image"
            );
            assert_ne!(a, image, "{augment:?} changed nothing");
            // The digit stays a digit: most of its ink is kept and stays near the middle.
            let ratio = mass(&a) / mass(&image);
            assert!((0.7..1.3).contains(&ratio), "{augment:?}: ink ×{ratio}");
            let corners = [0, IMAGE_SIZE - 1, PIXELS - IMAGE_SIZE, PIXELS - 1];
            assert!(corners.iter().all(|&c| a[c] == 0), "{augment:?}");
        }
    }

    /// Bilinear sampling as plainly as it can be written: libm's `floor`, a test per neighbour.
    fn plain_sample(pixels: &[u8], x: f64, y: f64) -> f64 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let at = |x: f64, y: f64| {
            if (0.0..IMAGE_SIZE as f64).contains(&x) && (0.0..IMAGE_SIZE as f64).contains(&y) {
                f64::from(pixels[y as usize * IMAGE_SIZE + x as usize])
            } else {
                0.0
            }
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
        let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    #[test]
    fn bordered_sampling_equals_the_plain_one_inside_at_the_edges_and_outside() {
        // An image with ink up to its edges, so that the border matters.
        let pixels: Vec<u8> = (0..PIXELS).map(|i| (i * 37 % 256) as u8).collect();
        let bordered = Bordered::new(&pixels);
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..200_000 {
            let (x, y) = (rng.random_range(-3.0..31.0), rng.random_range(-3.0..31.0));
            assert_eq!(
                bordered.sample(x, y),
                plain_sample(&pixels, x, y),
                "at ({x}, {y})"
            );
        }
        for x in [-2.0, -1.5, -1.0, -0.5, 0.0, 26.5, 27.0, 27.5, 28.0, 28.5] {
            for y in [-1.0, -0.25, 0.0, 13.5, 27.0, 27.75, 28.0] {
                assert_eq!(
                    bordered.sample(x, y),
                    plain_sample(&pixels, x, y),
                    "at ({x}, {y})"
                );
            }
        }
    }

    /// Distortion as plainly as it can be written: every pixel through the field and the
    /// inverse matrix, sampled by [`plain_sample`].
    fn plain_distort(augment: Augment, pixels: &[u8], seed: u64) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(seed);
        let affine =
            matches!(augment, Augment::Affine | Augment::Both).then(|| Affine::random(&mut rng));
        let field =
            matches!(augment, Augment::Elastic | Augment::Both).then(|| Field::random(&mut rng));
        let centre = 13.5;
        (0..PIXELS)
            .map(|i| {
                let (mut x, mut y) = ((i % IMAGE_SIZE) as f64, (i / IMAGE_SIZE) as f64);
                if let Some(field) = &field {
                    let (dx, dy) = field.at(x, y);
                    (x, y) = (x + dx, y + dy);
                }
                if let Some(Affine { m, shift }) = &affine {
                    let (u, v) = (x - centre - shift.0, y - centre - shift.1);
                    (x, y) = (m[0][0] * u + m[0][1] * v, m[1][0] * u + m[1][1] * v);
                    (x, y) = (x + centre, y + centre);
                }
                to_grey(plain_sample(pixels, x, y))
            })
            .collect()
    }

    #[test]
    fn distortions_equal_the_plain_per_pixel_formula() {
        // A blank image, a small square, ink up to the edges, one line, and a one-pixel dot.
        let line: Vec<u8> = (0..PIXELS)
            .map(|i| if i % IMAGE_SIZE == 20 { 255 } else { 0 })
            .collect();
        let mut dot = vec![0; PIXELS];
        dot[3 * IMAGE_SIZE + 25] = 90;
        let edges: Vec<u8> = (0..PIXELS).map(|i| (i * 37 % 256) as u8).collect();
        for image in [vec![0; PIXELS], square(), edges, line, dot] {
            for augment in [Augment::Affine, Augment::Elastic, Augment::Both] {
                for seed in 0..300 {
                    assert_eq!(
                        augment.distort(&image, seed),
                        plain_distort(augment, &image, seed),
                        "{augment:?}, seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_libm_free_helpers_equal_floor_and_round() {
        for i in -4000..4000 {
            let x = f64::from(i) / 97.0;
            assert_eq!(f64::from(floor(x)), x.floor(), "floor({x})");
            let v = f64::from(i) / 13.0;
            assert_eq!(
                f64::from(to_grey(v)),
                v.round().clamp(0.0, 255.0),
                "round({v})"
            );
        }
        for x in [-1.0, -0.5, 0.0, 0.5, 27.0, 27.5, 28.0] {
            assert_eq!(f64::from(floor(x)), x.floor());
        }
    }

    #[test]
    fn the_elastic_field_is_smooth() {
        let mut rng = StdRng::seed_from_u64(3);
        let field = Field::random(&mut rng);
        for y in 0..IMAGE_SIZE - 1 {
            for x in 0..IMAGE_SIZE - 1 {
                let (a, b) = (
                    field.at(x as f64, y as f64),
                    field.at(x as f64 + 1.0, y as f64),
                );
                // Neighbouring pixels move together: at most 2·amplitude/grid apart.
                let limit = 2.0 * ELASTIC_AMPLITUDE / ELASTIC_GRID as f64 + 1e-9;
                assert!((a.0 - b.0).abs() <= limit && (a.1 - b.1).abs() <= limit);
            }
        }
    }
}
