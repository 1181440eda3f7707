//! The one entry point to biornn. A config says what to build (`[network] kind`, `[rule] kind`);
//! [`Config`] resolves it once into the settings of one system, and [`train`], [`resume`] and
//! [`train_seeds`] build and run it. The CLI, the Python module and sweeps all go through here, so
//! a new system is added in one place.

pub mod bench;
pub mod config;
pub mod inspect;
pub mod protocols;
pub mod runs;
pub mod sweep;

pub use biornn_analysis::Analysis;
pub use biornn_model::{Ctrnn, DascDerivative, Trajectory};
pub use biornn_numerics::{Error, Result};
pub use biornn_report::summaries::{longterm_summary, reversal_summary, CurvesOptions};
pub use biornn_run::progress::{
    set_interrupt, set_sink as set_progress_sink, Interrupt, Sink as ProgressSink,
};
pub use biornn_run::tensorboard::enable as enable_tensorboard;
pub use biornn_train::longterm::{BlockScope, LongTermConfig, LongTermResult, Method};
pub use biornn_train::reversal::{ReversalConfig, ReversalResult};
pub use biornn_vision::noise::Noise as NoiseSetting;
pub use config::{Config, Kind};
pub use runs::{
    continue_in, fresh_run_dir, longterm, resume, resume_to, reversal, standing, train, train_in,
    train_seeds, Continued, Finished, RunOptions, Standing,
};

/// [`biornn_report::summaries::curves_summary`] with each run's recurrent density read from its
/// config (the table's density column and the plot against density), where the runs' configs
/// build CTRNNs.
pub fn curves_summary(
    dir: &std::path::Path,
    opt: &CurvesOptions,
) -> Result<(String, Option<std::path::PathBuf>)> {
    let density = |run: &std::path::Path| {
        let text = biornn_run::RunDir::open(run).ok()?.read_config()?;
        Config::from_toml(&text)
            .and_then(|c| c.recurrent_density())
            .ok()
            .flatten()
    };
    let opt = CurvesOptions {
        density: Some(opt.density.unwrap_or(&density)),
        ..*opt
    };
    biornn_report::summaries::curves_summary(dir, &opt)
}
