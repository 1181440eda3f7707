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

/// Run `f` on a worker of a thread pool of the usual size (`RAYON_NUM_THREADS`, else one thread
/// per core), as the command-line tool runs every command. The parallel loops inside then start
/// from a worker, which runs its share itself, instead of from a thread outside the pool, which
/// hands every loop over and sleeps until it ends: a CordsNet training step makes thousands of
/// small parallel loops, and those hand-overs (a wake-up and a sleep each) cost a fifth of it.
/// The pool's size is the same either way, so results are too (they never depend on it). One
/// pool serves the whole process, so that calls from several threads (Python's) share the cores
/// as they shared rayon's global pool; its threads have the main thread's 8 MiB of stack.
pub fn on_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .stack_size(8 << 20)
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn on_workers_runs_on_a_pool_worker_of_the_usual_size() {
        assert_eq!(rayon::current_thread_index(), None, "the test's own thread");
        let usual = rayon::current_num_threads();
        let (index, threads, sum) = super::on_workers(|| {
            use rayon::prelude::*;
            let sum: u64 = (0..1000u64).into_par_iter().sum();
            (
                rayon::current_thread_index(),
                rayon::current_num_threads(),
                sum,
            )
        });
        assert!(index.is_some(), "f ran outside the pool");
        assert_eq!(threads, usual);
        assert_eq!(sum, 499_500);
        // calls from several threads at once each run on a worker, none waiting on another
        let inside = |_| super::on_workers(|| rayon::current_thread_index().is_some());
        let all: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3).map(|i| s.spawn(move || inside(i))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(all, [true; 3]);
    }
}
