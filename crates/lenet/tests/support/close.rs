//! How far apart two lists of numbers are (included with `#[path]` by the tests that compare
//! outputs or gradients).

/// The largest absolute difference between `a` and `b`, which must be as long.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
