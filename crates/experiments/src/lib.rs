//! The paper's studies (Figures 4-7 and Table 1): definitions, a runner that trains the network
//! and the classical baselines (on one machine, or sharded over a cluster), figures, and the
//! generated report.

pub mod baselines;
pub mod error;
pub mod plot;
pub mod provenance;
pub mod report;
pub mod results;
pub mod runner;
pub mod shard;
pub mod slurm;
pub mod study;

pub use error::{ExperimentError, Result};
