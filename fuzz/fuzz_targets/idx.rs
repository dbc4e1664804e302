//! Feeds arbitrary bytes to the IDX parsers: they must return a value or an error, never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-input");
    if let Ok(images) = idx::parse_images(data, path) {
        assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
    }
    if let Ok(labels) = idx::parse_labels(data, path) {
        assert_eq!(labels.len() + 8, data.len());
    }
});
