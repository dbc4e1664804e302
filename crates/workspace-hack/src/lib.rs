//! No code: this crate only asks for features (see its `Cargo.toml`), so that `cargo run -p
//! trainer`, `cargo run --bin trainer` and `cargo build --workspace` compile burn once.
