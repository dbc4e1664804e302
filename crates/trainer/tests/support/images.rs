//! Image bytes the trainer's tests send (included with `#[path]` by `cli.rs` and `serve.rs`).

/// A PNG whose header claims 20000x20000 pixels (a few hundred bytes on disk).
pub fn huge_png_header() -> Vec<u8> {
    let mut bytes = Vec::new();
    image::GrayImage::new(1, 1)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    // IHDR: length (8..12), "IHDR" (12..16), width (16..20), height (20..24), ..., CRC (29..33).
    bytes[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    bytes
}
