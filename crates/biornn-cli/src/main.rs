//! The `biornn` command line. Each subcommand is a thin layer over the library crates.

use biornn_api::Config;
use biornn_numerics::npz::{write_npz, NpyArray};
use biornn_numerics::{Error, Result, Streams};
use biornn_tasks::yang::{YangRule, YangTask, N_INPUT, N_OUTPUT};
use biornn_tasks::{generate, BatchSpec, Task, Timing};
use biornn_train::engine::Engine;
use biornn_train::{checkpoint, eval};
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "biornn",
    version,
    about = "Train and analyse biologically plausible recurrent networks on cognitive tasks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network. Without CONFIG, the built-in default (6 go/anti tasks, 128 units).
    Train {
        /// a TOML config (see `biornn config`)
        config: Option<PathBuf>,
        /// directory that holds run directories
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// run name (default: the config's `name`)
        #[arg(long)]
        name: Option<String>,
        /// root seed (overrides the config)
        #[arg(long)]
        seed: Option<u64>,
        /// maximum number of updates (overrides train.max_steps)
        #[arg(long)]
        max_steps: Option<usize>,
        /// no per-evaluation lines
        #[arg(long, short)]
        quiet: bool,
        /// train this many independent networks (seeds seed, seed+1, ...) at once, in parallel
        #[arg(long, default_value_t = 1)]
        seeds: usize,
        /// continue the run in this directory from its newest good checkpoint
        #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "name", "seed", "max_steps", "seeds"])]
        resume: Option<PathBuf>,
    },
    /// Per-task performance of a trained run (a run directory or a checkpoint .npz).
    Eval {
        run: PathBuf,
        /// trials per task
        #[arg(long, default_value_t = 512)]
        trials: usize,
        /// print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// evaluate with recurrent noise on or off (default: as the run's config says)
        #[arg(long, value_parser = ["on", "off"])]
        recurrent_noise: Option<String>,
    },
    /// Take a trained run apart: fixed points, PCA, psychometric curves, task variance and clusters,
    /// lesions. Results (.npz, .csv) and figures (.png, .svg) go into RUN/analysis/.
    Analyze {
        run: PathBuf,
        #[command(flatten)]
        opts: AnalyzeArgs,
    },
    /// Write RUN/report.html: one self-contained page with training curves, example trials and
    /// every analysis figure (runs the analysis, and writes RUN/analysis/ as `analyze` does).
    Report {
        run: PathBuf,
        #[command(flatten)]
        opts: AnalyzeArgs,
    },
    /// Train networks on a task of the skip-connection paper's suite with skip connections through
    /// time (SCTT, DASC) or coarse discretisation (CD), evaluating the plain network after every
    /// round; prints rounds and seconds to the criterion and writes history.csv and summary.json.
    Longterm {
        #[command(flatten)]
        args: LongtermArgs,
    },
    /// Summarise `biornn longterm --out` directories (DIR/TASK/METHOD): a markdown table of updates
    /// to criterion per task and method, and a plot of the fraction of networks at criterion.
    LongtermSummary {
        dir: PathBuf,
        /// write the plot here (as .png and .svg)
        #[arg(long)]
        figure: Option<PathBuf>,
    },
    /// Train networks on the cross-trial rule-reversal task (the skip-connection paper's), with skip
    /// connections through time and optionally the trial-level skip, for a fixed budget; prints the
    /// accuracy reached and writes history.csv and summary.json.
    Reversal {
        #[command(flatten)]
        args: ReversalArgs,
    },
    /// Summarise `biornn reversal --out` directories (DIR/SETTING): a markdown table of the accuracy
    /// reached per setting and a plot of accuracy against updates.
    ReversalSummary {
        dir: PathBuf,
        /// write the plot here (as .png and .svg)
        #[arg(long)]
        figure: Option<PathBuf>,
    },
    /// Inspect tasks.
    Task {
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// Print the default config, commented.
    Config {
        /// which system: ctrnn (trained by BPTT) or reservoir (trained online by RLS)
        #[arg(long, default_value = "ctrnn", value_parser = ["ctrnn", "reservoir"])]
        kind: String,
    },
    /// Validate a config without running it.
    Check { config: PathBuf },
    /// Time training and evaluation (see docs/PERFORMANCE.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(clap::Args, Clone, Copy)]
struct BenchShape {
    /// recurrent units
    #[arg(long, default_value_t = 256)]
    n: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// time steps per trial
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// timed iterations (the median is reported)
    #[arg(long, default_value_t = 20)]
    iters: usize,
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// batch chunks run in parallel
    #[arg(long, default_value_t = 2)]
    chunks: usize,
    /// also time faer's matrix products alone on the same shapes
    #[arg(long)]
    ceiling: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Full training iterations: task batch, forward, backward, Adam.
    Train(BenchShape),
    /// Forward-only evaluation: task batch, forward, loss.
    Eval(BenchShape),
    /// Generating one batch of Yang trials.
    Tasks {
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 200)]
        iters: usize,
        /// leave out the input noise
        #[arg(long)]
        no_noise: bool,
    },
    /// K independent networks trained at once; prints networks per hour.
    Seeds {
        #[arg(long)]
        k: usize,
        #[arg(long, default_value_t = 50)]
        n: usize,
        #[arg(long, default_value_t = 20)]
        batch: usize,
        #[arg(long, default_value_t = 600)]
        steps: usize,
        /// updates timed per network
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// updates that make one trained network, for the per-hour figure
        #[arg(long, default_value_t = 1000)]
        updates_per_network: usize,
    },
}

#[derive(clap::Args)]
struct DumpArgs {
    task: String,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// leave out the input noise
    #[arg(long)]
    no_noise: bool,
    #[arg(long, default_value_t = 20.0)]
    dt: f64,
    /// draw epoch durations per trial instead of per batch
    #[arg(long)]
    per_trial_timing: bool,
    /// gyyang's easy_task
    #[arg(long)]
    easy: bool,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Every task with its inputs, outputs and epochs.
    List,
    /// Write a batch of trials to .npz: x [T,B,in], y [T,B,out], mask, y_loc [T,B], class, lengths,
    /// epoch boundaries and every latent trial parameter.
    Dump(DumpArgs),
}

fn main() -> ExitCode {
    // Behave like other command-line tools when the reader of our output goes away (`| head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Train {
            config,
            runs,
            name,
            seed,
            max_steps,
            quiet,
            seeds,
            resume,
        } => {
            let run_opts = biornn_api::RunOptions {
                progress: true,
                verbose: !quiet,
            };
            if let Some(dir) = resume {
                eprintln!("resuming {}", dir.display());
                println!("{}", biornn_api::resume(&dir, &run_opts)?);
                return Ok(());
            }
            let mut cfg = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            if let Some(n) = name {
                cfg.set_name(&n);
            }
            if let Some(s) = seed {
                cfg.set_seed(s);
            }
            if let Some(m) = max_steps {
                cfg.set_max_steps(m);
            }
            cfg.validate()?;
            if seeds == 0 || seeds > 10_000 {
                return Err(Error::invalid("--seeds", seeds, "allowed: 1 to 10000"));
            }
            if seeds > 1 {
                return train_seeds(&cfg, &runs, seeds);
            }
            eprintln!(
                "training {}, seed {}; run directory under {}",
                cfg.describe()?,
                cfg.seed(),
                runs.display()
            );
            println!("{}", biornn_api::train(&cfg, &runs, &run_opts)?);
            Ok(())
        }
        Command::Analyze { run, opts } => {
            let (analysis, figs) = run_analysis(&run, &opts)?;
            let _ = figs;
            print_timings(&analysis);
            Ok(())
        }
        Command::Report { run, opts } => {
            let (analysis, figs) = run_analysis(&run, &opts)?;
            let log = biornn_report::RunLog::read(&run);
            let path = biornn_report::write_report(&analysis, &log, &figs)?;
            print_timings(&analysis);
            println!("report: {}", path.display());
            Ok(())
        }
        Command::Longterm { args } => longterm(args),
        Command::LongtermSummary { dir, figure } => longterm_summary(&dir, figure.as_deref()),
        Command::Reversal { args } => reversal(args),
        Command::ReversalSummary { dir, figure } => reversal_summary(&dir, figure.as_deref()),
        Command::Eval {
            run,
            trials,
            json,
            recurrent_noise,
        } => {
            if trials == 0 {
                return Err(Error::invalid("--trials", 0, "allowed: a positive count"));
            }
            let path = checkpoint_path(&run)?;
            let mut loaded = checkpoint::load(&path)?;
            if let Some(n) = recurrent_noise {
                loaded.config.train.eval_recurrent_noise = n == "on";
            }
            let scores =
                eval::evaluate(&loaded.net, &loaded.config, trials, &mut Engine::default())?;
            let (min, mean) = eval::min_mean(&scores);
            if json {
                let v = serde_json::json!({
                    "checkpoint": path.display().to_string(),
                    "step": loaded.step,
                    "recurrent_noise": loaded.config.train.eval_recurrent_noise,
                    "tasks": scores,
                    "min_perf": min,
                    "mean_perf": mean,
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap());
            } else {
                println!(
                    "{} (step {}, recurrent noise {})",
                    path.display(),
                    loaded.step,
                    if loaded.config.train.eval_recurrent_noise {
                        "on"
                    } else {
                        "off"
                    }
                );
                println!(
                    "{:<16} {:>6} {:>10} {:>7}",
                    "task", "perf", "loss", "trials"
                );
                for s in &scores {
                    println!(
                        "{:<16} {:>6.3} {:>10.5} {:>7}",
                        s.task, s.perf, s.loss, s.trials
                    );
                }
                println!("{:<16} {:>6.3}\n{:<16} {:>6.3}", "min", min, "mean", mean);
            }
            Ok(())
        }
        Command::Task {
            command: TaskCommand::List,
        } => {
            println!("battery yang20 (Yang et al. 2019): {N_INPUT} inputs (0 fixation, 1-32 ring 1, 33-64 ring 2, 65-84 rule), {N_OUTPUT} outputs (0 fixation, 1-32 ring)");
            println!("{:<3} {:<16} {:<38} description", "#", "task", "epochs");
            for r in YangRule::ALL {
                println!(
                    "{:<3} {:<16} {:<38} {}",
                    r.index(),
                    r.name(),
                    r.epoch_names().join(" "),
                    r.description()
                );
            }
            Ok(())
        }
        Command::Task {
            command: TaskCommand::Dump(args),
        } => dump(&args),
        Command::Bench { command } => bench(command),
        Command::Config { kind } => {
            let kind = match kind.as_str() {
                "reservoir" => biornn_api::Kind::ReservoirRls,
                _ => biornn_api::Kind::CtrnnBptt,
            };
            print!("{}", Config::default_toml(kind));
            Ok(())
        }
        Command::Check { config } => {
            let cfg = Config::load(&config)?;
            println!("{}: ok ({})", config.display(), cfg.describe()?);
            Ok(())
        }
    }
}

fn train_seeds(cfg: &Config, runs: &Path, k: usize) -> Result<()> {
    eprintln!(
        "training {k} networks (seeds {} to {}) under {}",
        cfg.seed(),
        cfg.seed() + k as u64 - 1,
        runs.display()
    );
    let (base, results) = biornn_api::train_seeds(cfg, runs, k)?;
    println!("{:<8} {:>7} {:>9}  scores", "seed", "steps", "wall_s");
    for (seed, f) in &results {
        let scores: Vec<String> = f.scores.iter().map(|(_, v)| format!("{v:8.3}")).collect();
        println!(
            "{seed:<8} {:>7} {:>9.1} {}",
            f.steps,
            f.wall_s,
            scores.join(" ")
        );
    }
    let reached = results.iter().filter(|(_, f)| f.reached).count();
    println!(
        "{reached} of {k} reached the target; run directories: {}/seed-<n>",
        base.display()
    );
    Ok(())
}

fn bench(command: BenchCommand) -> Result<()> {
    use biornn_train::bench;
    let check = |s: &BenchShape| -> Result<()> {
        for (f, v) in [
            ("--n", s.n),
            ("--batch", s.batch),
            ("--steps", s.steps),
            ("--iters", s.iters),
            ("--chunks", s.chunks),
        ] {
            if v == 0 {
                return Err(Error::invalid(f, v, "allowed: a positive count"));
            }
        }
        Ok(())
    };
    match command {
        BenchCommand::Train(s) | BenchCommand::Eval(s) => {
            check(&s)?;
            let train = matches!(command, BenchCommand::Train(_));
            let r = if train {
                bench::bench_train(s.n, s.batch, s.steps, s.chunks, s.iters, s.warmup)?
            } else {
                bench::bench_eval(s.n, s.batch, s.steps, s.chunks, s.iters, s.warmup)?
            };
            println!("ms_per_iter={:.4}", r.median_ms());
            println!("gflops={:.2}", r.gflops());
            if let Some(m) = bench::peak_rss_mib() {
                println!("peak_rss_mib={m:.1}");
            }
            if s.ceiling && train {
                let c = bench::bench_gemm_ceiling(s.n, s.batch, s.steps, s.chunks, s.iters);
                println!("faer_gemm_ms={:.4}", c.median_ms());
                println!("faer_gflops={:.2}", c.gflops());
                println!("fraction_of_faer={:.3}", r.gflops() / c.gflops());
            }
        }
        BenchCommand::Tasks {
            batch,
            iters,
            no_noise,
        } => {
            if batch == 0 || iters == 0 {
                return Err(Error::invalid(
                    "--batch/--iters",
                    0,
                    "allowed: positive counts",
                ));
            }
            println!(
                "us_per_batch={:.1}",
                bench::bench_tasks(batch, iters, !no_noise)
            );
        }
        BenchCommand::Seeds {
            k,
            n,
            batch,
            steps,
            iters,
            updates_per_network,
        } => {
            if k == 0
                || n == 0
                || batch == 0
                || steps == 0
                || iters == 0
                || updates_per_network == 0
            {
                return Err(Error::invalid(
                    "bench seeds",
                    0,
                    "all counts must be positive",
                ));
            }
            let wall = bench::bench_seeds(k, n, batch, steps, iters)?;
            let per_hour = k as f64 * 3600.0 / (wall * updates_per_network as f64 / iters as f64);
            println!("wall_s={wall:.3}");
            println!(
                "ms_per_update_per_network={:.3}",
                wall * 1e3 / iters as f64 / k as f64
            );
            println!("networks_per_hour={per_hour:.1}");
        }
    }
    Ok(())
}

/// A run directory's final weights, else its newest checkpoint; or the file itself.
fn checkpoint_path(run: &Path) -> Result<PathBuf> {
    if run.is_file() {
        return Ok(run.to_path_buf());
    }
    if !run.is_dir() {
        return Err(Error::new(format!(
            "{}: no such run directory or checkpoint file",
            run.display()
        )));
    }
    let model = run.join("model.npz");
    if model.is_file() {
        return Ok(model);
    }
    let mut cps: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    cps.sort();
    cps.pop().ok_or_else(|| {
        Error::new(format!(
            "{}: no model.npz and no checkpoints",
            run.display()
        ))
    })
}

fn dump(args: &DumpArgs) -> Result<()> {
    let &DumpArgs {
        ref task,
        batch,
        seed,
        no_noise,
        dt,
        per_trial_timing: per_trial,
        easy,
        ref out,
    } = args;
    let rule = biornn_tasks::config::parse_rule("task", task)?;
    if batch == 0 || batch > 1 << 16 {
        return Err(Error::invalid("--batch", batch, "allowed: 1 to 65536"));
    }
    if !(dt.is_finite() && dt > 0.0 && dt <= 100.0) {
        return Err(Error::invalid("--dt", dt, "allowed: a step in (0, 100] ms"));
    }
    let task = YangTask { rule, easy };
    let spec = BatchSpec {
        dt,
        batch_size: batch,
        timing: if per_trial {
            Timing::PerTrial
        } else {
            Timing::PerBatch
        },
        input_noise_std: if no_noise {
            0.0
        } else {
            biornn_tasks::TaskConfig {
                dt,
                ..Default::default()
            }
            .input_noise_std(100.0)
        },
    };
    let b = generate(&task, &spec, &Streams::new(seed), 0);
    let (t, n) = (b.steps, b.batch);
    let mut m: BTreeMap<String, NpyArray> = BTreeMap::new();
    m.insert("x".into(), NpyArray::f32(&[t, n, b.n_in], b.x.clone()));
    m.insert("y".into(), NpyArray::f32(&[t, n, b.n_out], b.y.clone()));
    m.insert(
        "mask".into(),
        NpyArray::f32(&[t, n, b.n_out], b.cost.clone()),
    );
    m.insert("y_loc".into(), NpyArray::f32(&[t, n], b.y_loc.clone()));
    m.insert("class".into(), NpyArray::i32(&[t, n], b.class.clone()));
    m.insert(
        "lengths".into(),
        NpyArray::i32(&[n], b.lengths.iter().map(|l| *l as i32).collect()),
    );
    for (name, on, off) in &b.epochs {
        m.insert(format!("epoch_{name}_on"), NpyArray::i32(&[n], on.clone()));
        m.insert(
            format!("epoch_{name}_off"),
            NpyArray::i32(&[n], off.clone()),
        );
    }
    for (name, v) in &b.latents {
        m.insert((*name).to_string(), NpyArray::new::<f64>(&[n], v.clone()));
    }
    m.insert("task".into(), NpyArray::string(task.name()));
    m.insert("dt".into(), NpyArray::f32(&[], vec![dt as f32]));
    write_npz(out, &m)?;
    println!(
        "wrote {} trials of {} ({} steps) to {}",
        n,
        task.name(),
        t,
        out.display()
    );
    Ok(())
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// which analyses, comma-separated: fixed-points, pca, psychometric, variance, lesion
    #[arg(long, default_value = "fixed-points,pca,psychometric,variance,lesion")]
    what: String,
    /// the task for trajectories, PCA and fixed points (default: the run's first task)
    #[arg(long)]
    task: Option<String>,
    /// initial states for the fixed-point search
    #[arg(long, default_value_t = 256)]
    inits: usize,
    /// seed of the analysis' own random streams (trials, initial states, k-means)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// also silence these units in the lesion analysis, e.g. 3,5,10-19 (repeat for several sets)
    #[arg(long, value_name = "UNITS")]
    lesion: Vec<String>,
}

/// Analyse a run and write RUN/analysis/: results and figures.
fn run_analysis(
    run: &Path,
    args: &AnalyzeArgs,
) -> Result<(biornn_analysis::Analysis, Vec<biornn_report::NamedFigure>)> {
    use biornn_analysis::{AnalysisOptions, Part};
    if !run.is_dir() {
        return Err(Error::invalid(
            "RUN",
            run.display(),
            "allowed: a run directory (from `biornn train`)",
        ));
    }
    let mut opts = AnalysisOptions {
        parts: Part::parse_list(&args.what)?,
        task: args.task.clone(),
        seed: args.seed,
        ..AnalysisOptions::default()
    };
    opts.fixed_points.n_inits = args.inits;
    for text in &args.lesion {
        let units = biornn_analysis::run::parse_units(text)?;
        // no commas in the name: it is a CSV field
        opts.lesion_sets
            .push((format!("units {}", text.replace(',', " ")), units));
    }
    opts.fixed_points.validate()?;
    let analysis = biornn_analysis::analyze(run, &opts)?;
    let log = biornn_report::RunLog::read(run);
    let dir = run.join("analysis");
    let mut written = biornn_analysis::write_results(&analysis, &dir)?;
    let figs = biornn_report::all_figures(&analysis, &log);
    written.extend(biornn_report::write_figures(&figs, &dir)?);
    println!("{} files in {}", written.len(), dir.display());
    Ok((analysis, figs))
}

fn print_timings(a: &biornn_analysis::Analysis) {
    let parts: Vec<String> = a
        .timings
        .iter()
        .map(|(p, s)| format!("{p} {s:.1} s"))
        .collect();
    println!("analysis time: {}", parts.join(", "));
    if let Some(fp) = &a.fixed_points {
        let stable = fp
            .result
            .points
            .iter()
            .filter(|p| p.lin.is_stable())
            .count();
        println!(
            "fixed points of {}: {} found ({} stable) from {} starts",
            fp.task,
            fp.result.points.len(),
            stable,
            fp.result.all_q.len()
        );
    }
}

#[derive(clap::Args)]
struct LongtermArgs {
    /// task: go, rtgo, dlygo, anti, rtanti, dlyanti, dm1, dm2, ctxdm1, ctxdm2, multsendm, dlydm1,
    /// dlydm2, ctxdlydm1, ctxdlydm2, multsendlydm, dms, dnms, dmc, dnmc
    task: String,
    /// base, sctt-tTHETA-sSTAGES-bBETA0, dasc-tTHETA-sSTAGES-bBETA0 (e.g. dasc-t20-s6-b0.5), cd-sSTAGES
    #[arg(long, default_value = "base")]
    method: String,
    /// networks trained at once (the reference trains 100)
    #[arg(long, default_value_t = 20)]
    networks: usize,
    #[arg(long, default_value_t = 4000)]
    max_rounds: usize,
    /// rounds for all method stages together (default: half of --max-rounds, the reference's
    /// 2000 of 4000, and at least one per stage)
    #[arg(long)]
    stage_rounds: Option<usize>,
    #[command(flatten)]
    common: SkipArgs,
    /// DNMS/DNMC as the reference builds them (identical to DMS/DMC but for the rule input)
    #[arg(long)]
    reference_nonmatch: bool,
}

/// Options shared by `biornn longterm` and `biornn reversal`.
#[derive(clap::Args)]
struct SkipArgs {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// DASC's derivative: block-start (the paper's equation) or stale (the reference code's)
    #[arg(long, default_value = "block-start", value_parser = ["block-start", "stale"])]
    derivative: String,
    /// skip blocks restart at every epoch (the reference) or run across the trial
    #[arg(long, default_value = "epoch", value_parser = ["epoch", "trial"])]
    scope: String,
    /// keep Adam's state across CD stages (the reference resets it)
    #[arg(long)]
    keep_optimizer: bool,
    /// the reference's Euler-discretised OU noise (default: the exact discretisation)
    #[arg(long)]
    euler_noise: bool,
    /// directory for history.csv and summary.json
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, short)]
    quiet: bool,
}

impl SkipArgs {
    fn derivative(&self) -> biornn_model::DascDerivative {
        if self.derivative == "stale" {
            biornn_model::DascDerivative::Stale
        } else {
            biornn_model::DascDerivative::BlockStart
        }
    }

    fn scope(&self) -> biornn_train::longterm::BlockScope {
        if self.scope == "trial" {
            biornn_train::longterm::BlockScope::Trial
        } else {
            biornn_train::longterm::BlockScope::Epoch
        }
    }
}

#[derive(clap::Args)]
struct ReversalArgs {
    /// base, sctt-tTHETA-sSTAGES-bBETA0, dasc-tTHETA-sSTAGES-bBETA0, cd-sSTAGES; the reference runs
    /// base, sctt-t40-s11-b0.8, dasc-t40-s2-b0.5 and cd-s2
    #[arg(long, default_value = "base")]
    method: String,
    /// also mix each task trial's end state with its start state at the stage's beta
    #[arg(long)]
    trial_skip: bool,
    /// networks trained at once (the reference trains 10)
    #[arg(long, default_value_t = 10)]
    networks: usize,
    /// rounds of 10 updates (the reference: 1000)
    #[arg(long, default_value_t = 1000)]
    rounds: usize,
    /// rounds for all method stages together (default: half of --rounds, the reference's 500 of
    /// 1000, and at least one per stage)
    #[arg(long)]
    stage_rounds: Option<usize>,
    /// sequences of each of the 8 rule patterns per batch (the reference: 5)
    #[arg(long, default_value_t = 5)]
    per_pattern: usize,
    #[command(flatten)]
    common: SkipArgs,
}

fn longterm(a: LongtermArgs) -> Result<()> {
    use biornn_tasks::temporalskip::TsRule;
    use biornn_train::longterm::{train_long_term, LongTermConfig, Method};
    let rule = TsRule::from_name(&a.task).ok_or_else(|| {
        let names: Vec<&str> = TsRule::ALL.iter().map(|r| r.name()).collect();
        Error::invalid("TASK", &a.task, &format!("allowed: {}", names.join(", ")))
    })?;
    let method = Method::parse(&a.method)?;
    let mut cfg = LongTermConfig::reference(rule, method, a.networks);
    cfg.max_rounds = a.max_rounds;
    // half the rounds, as the reference's 2000 of 4000, but at least one per stage
    cfg.stage_rounds = a
        .stage_rounds
        .unwrap_or((a.max_rounds / 2).max(method.stages().len()));
    cfg.seed = a.common.seed;
    cfg.derivative = a.common.derivative();
    cfg.scope = a.common.scope();
    cfg.keep_optimizer = a.common.keep_optimizer;
    cfg.reference_nonmatch = a.reference_nonmatch;
    cfg.euler_noise = a.common.euler_noise;
    let quiet = a.common.quiet;
    let r = train_long_term(&cfg, &mut |round, tm| {
        if !quiet && (round % 10 == 0 || tm >= 0.99) {
            eprintln!("round {round}: trimmed mean {tm:.4}");
        }
    })?;
    let per_net: Vec<Option<f64>> = r
        .network_rounds
        .iter()
        .map(|n| n.map(|v| (v * cfg.updates_per_round) as f64))
        .collect();
    let reached = per_net.iter().filter(|v| v.is_some()).count();
    let quantile =
        |q: f64| quantile_reached(&per_net, q).map_or("NA".into(), |v| format!("{v:.0}"));
    println!(
        "task={} method={} networks={} reached={} rounds={} updates={} train_s={:.1} networks_at_criterion={} updates_per_network_median={} q25={} q75={}",
        r.task,
        r.method,
        cfg.networks,
        r.reached,
        r.rounds,
        r.rounds * cfg.updates_per_round,
        r.train_seconds,
        reached,
        quantile(0.5),
        quantile(0.25),
        quantile(0.75)
    );
    if let Some(dir) = a.common.out {
        let rows: Vec<String> = r
            .history
            .iter()
            .map(|(stage, tm, at, secs)| {
                format!(
                    "{stage},{tm:.5},{at:.4},{secs:.3}",
                    stage = stage_name(*stage)
                )
            })
            .collect();
        let header = "stage,trimmed_mean,fraction_at_criterion,train_s";
        let summary = serde_json::json!({
            "task": r.task, "method": r.method, "networks": cfg.networks, "seed": cfg.seed,
            "reached": r.reached, "rounds": r.rounds, "updates": r.rounds * cfg.updates_per_round,
            "train_seconds": r.train_seconds,
            "network_updates_to_criterion": r.network_rounds.iter().map(|n| n.map(|v| v * cfg.updates_per_round)).collect::<Vec<_>>(),
            "final_perf": r.final_perf,
        });
        write_run_files(
            &dir,
            header,
            &rows,
            cfg.updates_per_round,
            &r.train_loss,
            &summary,
        )?;
    }
    Ok(())
}

fn stage_name(stage: Option<usize>) -> String {
    stage.map_or("plain".to_string(), |e| e.to_string())
}

/// DIR/history.csv (per round, `round,updates,` then the given columns, then `train_loss`) and
/// DIR/summary.json.
fn write_run_files(
    dir: &Path,
    header: &str,
    rows: &[String],
    updates_per_round: usize,
    train_loss: &[f64],
    summary: &serde_json::Value,
) -> Result<()> {
    use std::fmt::Write as _;
    std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    let mut csv = format!("round,updates,{header},train_loss\n");
    for (i, (row, loss)) in rows.iter().zip(train_loss).enumerate() {
        let _ = writeln!(
            csv,
            "{},{},{row},{loss:.6}",
            i + 1,
            (i + 1) * updates_per_round
        );
    }
    biornn_numerics::npz::write_atomic(&dir.join("history.csv"), csv.as_bytes())?;
    let json = serde_json::to_string_pretty(summary).unwrap_or_default();
    biornn_numerics::npz::write_atomic(&dir.join("summary.json"), json.as_bytes())
}

/// Quantile of per-network updates to criterion, networks that never got there counting as slower
/// than any that did; `None` when the quantile falls among those.
fn quantile_reached(values: &[Option<f64>], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return None;
    }
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let x = v[lo] + (v[hi] - v[lo]) * (pos - lo as f64);
    x.is_finite().then_some(x)
}

/// The directories in `p`, sorted.
fn subdirs(p: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| Error::new(format!("{}: {e}", p.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

/// Write `fig` as PATH.svg and PATH.png.
fn write_figure(fig: &biornn_report::plot::Figure, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::new(format!("{}: {e}", parent.display())))?;
    }
    biornn_numerics::npz::write_atomic(&path.with_extension("svg"), fig.to_svg().as_bytes())?;
    biornn_numerics::npz::write_atomic(&path.with_extension("png"), &fig.to_png(2.0))?;
    println!("\nfigure: {}", path.with_extension("png").display());
    Ok(())
}

/// A column of a CSV file against another, as numbers (rows that do not parse are skipped).
fn csv_columns(path: &Path, x: usize, y: usize) -> (Vec<f64>, Vec<f64>) {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Some((
                c.get(x)?.parse::<f64>().ok()?,
                c.get(y)?.parse::<f64>().ok()?,
            ))
        })
        .unzip()
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))
}

fn longterm_summary(dir: &Path, figure: Option<&Path>) -> Result<()> {
    use biornn_report::plot::{legend, palette, Axes, Figure};
    let read_dir = subdirs;
    let fmt = |x: Option<f64>| x.map_or("not reached".to_string(), |v| format!("{v:.0}"));
    println!("| task | method | networks | at 0.99 | updates to 0.99, median [IQR] | trimmed mean 0.99 after | training s |");
    println!("|---|---|---|---|---|---|---|");
    let tasks = read_dir(dir)?;
    let mut panels = vec![];
    for task_dir in &tasks {
        let task = task_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut curves = vec![];
        for m_dir in read_dir(task_dir)? {
            let Some(s) = read_json(&m_dir.join("summary.json"))? else {
                continue;
            };
            let per: Vec<Option<f64>> = s["network_updates_to_criterion"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_f64()).collect())
                .unwrap_or_default();
            let reached = per.iter().filter(|v| v.is_some()).count();
            let group = if s["reached"].as_bool() == Some(true) {
                format!("{} updates", s["updates"])
            } else {
                format!("not within {} updates", s["updates"])
            };
            println!(
                "| {task} | {} | {} | {reached} | {} [{}, {}] | {group} | {:.0} |",
                s["method"].as_str().unwrap_or("?"),
                per.len(),
                fmt(quantile_reached(&per, 0.5)),
                fmt(quantile_reached(&per, 0.25)),
                fmt(quantile_reached(&per, 0.75)),
                s["train_seconds"].as_f64().unwrap_or(f64::NAN)
            );
            let (xs, ys) = csv_columns(&m_dir.join("history.csv"), 1, 4);
            curves.push((s["method"].as_str().unwrap_or("?").to_string(), xs, ys));
        }
        panels.push((task, curves));
    }
    if let Some(path) = figure {
        // one colour per method across all panels, three panels to a row
        let mut methods: Vec<&str> = panels
            .iter()
            .flat_map(|(_, c)| c.iter().map(|c| c.0.as_str()))
            .collect();
        methods.sort_unstable();
        methods.dedup();
        let colour = |name: &str| palette(methods.iter().position(|m| *m == name).unwrap_or(0));
        const PER_ROW: usize = 3;
        let cols = panels.len().clamp(1, PER_ROW);
        let rows = panels.len().div_ceil(PER_ROW).max(1);
        let mut fig = Figure::new(40.0 + 330.0 * cols as f64, 320.0 * rows as f64);
        for (k, (task, curves)) in panels.iter().enumerate() {
            let xmax = curves
                .iter()
                .flat_map(|c| c.1.iter().copied())
                .fold(1.0f64, f64::max);
            let ax = Axes::new(
                (
                    60.0 + 330.0 * (k % PER_ROW) as f64,
                    30.0 + 320.0 * (k / PER_ROW) as f64,
                    250.0,
                    230.0,
                ),
                (0.0, xmax),
                (0.0, 1.0),
            );
            ax.frame(&mut fig, task, "updates", "fraction of networks at 0.99");
            let mut entries = vec![];
            for (name, xs, ys) in curves {
                ax.line(&mut fig, xs, ys, colour(name), 1.5);
                entries.push((name.clone(), colour(name)));
            }
            legend(&mut fig, ax.x + 6.0, ax.y + 14.0, &entries);
        }
        write_figure(&fig, path)?;
    }
    Ok(())
}

fn reversal(a: ReversalArgs) -> Result<()> {
    use biornn_train::longterm::Method;
    use biornn_train::reversal::{train_reversal, ReversalConfig};
    let method = Method::parse(&a.method)?;
    let mut cfg = ReversalConfig::reference(method, a.trial_skip, a.networks);
    cfg.rounds = a.rounds;
    cfg.stage_rounds = a
        .stage_rounds
        .unwrap_or((a.rounds / 2).max(method.stages().len()));
    cfg.per_pattern = a.per_pattern;
    cfg.seed = a.common.seed;
    cfg.derivative = a.common.derivative();
    cfg.scope = a.common.scope();
    cfg.keep_optimizer = a.common.keep_optimizer;
    cfg.euler_noise = a.common.euler_noise;
    let quiet = a.common.quiet;
    let r = train_reversal(&cfg, &mut |round, mean| {
        if !quiet && round % 10 == 0 {
            eprintln!("round {round}: mean accuracy {mean:.4}");
        }
    })?;
    let acc: Vec<Option<f64>> = r.final_perf.iter().map(|p| Some(*p)).collect();
    let q = |x: f64| quantile_reached(&acc, x).unwrap_or(f64::NAN);
    let mean = r.final_perf.iter().sum::<f64>() / r.final_perf.len() as f64;
    println!(
        "setting={} networks={} rounds={} updates={} train_s={:.1} accuracy_mean={mean:.4} median={:.4} q25={:.4} q75={:.4}",
        r.name,
        cfg.networks,
        r.rounds,
        r.rounds * cfg.updates_per_round,
        r.train_seconds,
        q(0.5),
        q(0.25),
        q(0.75)
    );
    if let Some(dir) = a.common.out {
        let rows: Vec<String> = r
            .history
            .iter()
            .map(|(stage, m, tm, secs)| {
                format!(
                    "{stage},{m:.5},{tm:.5},{secs:.3}",
                    stage = stage_name(*stage)
                )
            })
            .collect();
        let header = "stage,mean_accuracy,trimmed_mean,train_s";
        let summary = serde_json::json!({
            "setting": r.name, "method": method.name(), "trial_skip": cfg.trial_skip,
            "networks": cfg.networks, "seed": cfg.seed, "rounds": r.rounds,
            "updates": r.rounds * cfg.updates_per_round, "train_seconds": r.train_seconds,
            "final_perf": r.final_perf,
        });
        write_run_files(
            &dir,
            header,
            &rows,
            cfg.updates_per_round,
            &r.train_loss,
            &summary,
        )?;
    }
    Ok(())
}

fn reversal_summary(dir: &Path, figure: Option<&Path>) -> Result<()> {
    use biornn_report::plot::{legend, palette, Axes, Figure};
    println!("| setting | networks | updates | accuracy at the end, mean | median [IQR] | mean over the last 10% of rounds | training s |");
    println!("|---|---|---|---|---|---|---|");
    let mut curves = vec![];
    for d in subdirs(dir)? {
        let Some(s) = read_json(&d.join("summary.json"))? else {
            continue;
        };
        let acc: Vec<Option<f64>> = s["final_perf"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_f64()).collect())
            .unwrap_or_default();
        let vals: Vec<f64> = acc.iter().flatten().copied().collect();
        let q = |x: f64| quantile_reached(&acc, x).unwrap_or(f64::NAN);
        let name = s["setting"].as_str().unwrap_or("?").to_string();
        let (xs, ys) = csv_columns(&d.join("history.csv"), 1, 3);
        // single evaluations are noisy (40 sequences): the mean over the last tenth of the rounds
        let tail = &ys[ys.len() - ys.len().div_ceil(10)..];
        println!(
            "| {name} | {} | {} | {:.3} | {:.3} [{:.3}, {:.3}] | {:.3} | {:.0} |",
            vals.len(),
            s["updates"],
            vals.iter().sum::<f64>() / vals.len().max(1) as f64,
            q(0.5),
            q(0.25),
            q(0.75),
            tail.iter().sum::<f64>() / tail.len().max(1) as f64,
            s["train_seconds"].as_f64().unwrap_or(f64::NAN)
        );
        curves.push((name, xs, ys));
    }
    if let Some(path) = figure {
        let mut fig = Figure::new(420.0, 330.0);
        let xmax = curves
            .iter()
            .flat_map(|c| c.1.iter().copied())
            .fold(1.0f64, f64::max);
        let ax = Axes::new((60.0, 30.0, 330.0, 240.0), (0.0, xmax), (0.4, 1.0));
        ax.frame(
            &mut fig,
            "rule reversal",
            "updates",
            "mean accuracy (plain network)",
        );
        let mut entries = vec![];
        for (i, (name, xs, ys)) in curves.iter().enumerate() {
            ax.line(&mut fig, xs, ys, palette(i), 1.2);
            entries.push((name.clone(), palette(i)));
        }
        legend(&mut fig, ax.x + 6.0, ax.y + 14.0, &entries);
        write_figure(&fig, path)?;
    }
    Ok(())
}
