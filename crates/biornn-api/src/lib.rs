//! The one entry point to biornn. A config says what to build (`[network] kind`, `[rule] kind`);
//! [`Config`] resolves it once into the settings of one system, and [`train`], [`resume`] and
//! [`train_seeds`] build and run it. The CLI, the Python module and sweeps all go through here, so
//! a new system is added in one place.

pub mod config;
pub mod runs;

pub use config::{Config, Kind};
pub use runs::{resume, train, train_in, train_seeds, Finished, RunOptions};
