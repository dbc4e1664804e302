//! The improved LeNet-5 of the paper (Chinese, with an English abstract) on handwritten digit
//! recognition, built on burn: model, objective, MNIST data, training through burn-train's
//! `Learner`, and inference.

pub mod backend;
pub mod checkpoint;
pub mod data;
pub mod deskew;
pub mod digit_image;
pub mod error;
pub mod inference;
pub mod loss;
pub mod metric;
pub mod model;
pub mod renderer;
pub mod training;
pub mod weights;

pub use error::{LenetError, Result};
