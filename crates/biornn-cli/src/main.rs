//! The `biornn` command line: it parses arguments, calls `biornn-api` (the one crate it depends
//! on) and prints what comes back. It writes no file itself.

use biornn_api::inspect::{self, AnalyzeSpec, DumpSpec, TrialsSpec};
use biornn_api::{protocols, Config, Error, Result};
use clap::{Parser, Subcommand};
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
        /// maximum number of updates (overrides train.max_steps); with --resume, a new budget that
        /// continues a finished run
        #[arg(long)]
        max_steps: Option<usize>,
        /// no per-evaluation lines
        #[arg(long, short)]
        quiet: bool,
        /// train this many independent networks (seeds seed, seed+1, ...) at once, in parallel
        #[arg(long, default_value_t = 1)]
        seeds: usize,
        /// continue the run in this directory from its newest good checkpoint
        #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "name", "seed", "seeds"])]
        resume: Option<PathBuf>,
        /// the run directory itself, instead of a fresh one under --runs. When it holds this run
        /// already, the run goes on to the budget: resumed after a kill, or taken on from its end;
        /// a run of other settings there is refused, naming them
        #[arg(long, value_name = "DIR", conflicts_with_all = ["seeds", "resume"])]
        out: Option<PathBuf>,
        /// also write the metrics as TensorBoard event files, into DIR/<run name>/
        #[arg(long, value_name = "DIR")]
        tensorboard: Option<PathBuf>,
    },
    /// Per-task performance of a trained run (a run directory or a checkpoint .npz); for a
    /// long-term run, each network's score and its parts (fixation held, released, direction
    /// right) on fresh trials of its task; for a rule-reversal run, each network's score and its
    /// answers right after a reversal and after none; for a multi-area run, its accuracy on fresh
    /// test trials, by the right answer.
    Eval {
        run: PathBuf,
        /// trials per task (a long-term run: per network; a rule-reversal run: per network, in
        /// whole batches of sequences)
        #[arg(long, default_value_t = 512)]
        trials: usize,
        /// print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// evaluate with recurrent noise on or off (default: as the run's config says; on for a
        /// long-term or rule-reversal run, as its protocol evaluates; a multi-area run is scored
        /// without)
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
    /// Replay a trained ELiSe run from its final state, plain and with disruptions (each from the
    /// same state): the free cycles scored with the time-shift search, into RUN/analysis/replay.csv.
    Replay {
        run: PathBuf,
        /// replay cycles (the reference's 100)
        #[arg(long, default_value_t = 100)]
        cycles: usize,
        /// the first cycles nudged by the teacher (the reference's 3)
        #[arg(long, default_value_t = 3)]
        nudged: usize,
        /// variants: none (plain replay), full, full_offset, small, small_offset (disruptions in
        /// replay cycle 4), cued (silenced in cycle 4, the first 50 ms of cycle 5 taught)
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "none,full,full_offset,small,small_offset,cued"
        )]
        disruption: Vec<String>,
    },
    /// Score a trained CordsNet run's test images under Gaussian noise: on the image (in pixel
    /// standard deviations; once per image, or every step with --per-step; on movies, every
    /// frame) and in the dynamics (each rate kicked by alpha sigma N(0, 1) a step). Every pair of
    /// levels; RUN/analysis/noise.csv.
    Noise {
        run: PathBuf,
        /// image noise levels
        #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,1,2")]
        input: Vec<f64>,
        /// dynamics noise levels
        #[arg(long, value_delimiter = ',', default_value = "0")]
        dynamics: Vec<f64>,
        /// draw the image noise anew at every Euler step
        #[arg(long)]
        per_step: bool,
        /// the noise's seed (the same draws for every run scored with it)
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Record a trained CordsNet's activity over time (the reference's `record`): the first test
    /// images, from rest through the spontaneous and stimulus steps, the chosen areas' rates after
    /// every step, to RUN/analysis/record.npz (`area<l>` as [steps, images, c, h, w]).
    Record {
        run: PathBuf,
        /// areas to record (default: the last two)
        #[arg(long, value_delimiter = ',')]
        areas: Vec<usize>,
        /// how many test images
        #[arg(long, default_value_t = 16)]
        images: usize,
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
    /// Compare settings of runs laid out as DIR/SETTING/RUN: updates to a level of a metrics
    /// column and its value at budgets, as a markdown table (and a plot of it against updates).
    RunsSummary {
        dir: PathBuf,
        /// the metrics.csv column, e.g. mean_acc, min_perf, eval_r2
        #[arg(long, default_value = "min_perf")]
        value: String,
        /// the level counted as reached
        #[arg(long, default_value_t = 0.9)]
        level: f64,
        /// also report the value after these many updates, e.g. 1000,3000
        #[arg(long, value_delimiter = ',')]
        budgets: Vec<usize>,
        /// the plot's horizontal axis: updates, or trials seen (the metrics' trials column)
        #[arg(long, default_value = "updates", value_parser = ["updates", "trials"])]
        x: String,
        /// write the plot here (as .png and .svg); with budgets and CTRNN runs also
        /// PATH_density: the value at each budget against recurrent density
        #[arg(long)]
        figure: Option<PathBuf>,
    },
    /// Inspect tasks.
    Task {
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// Sweeps: `biornn sweep SWEEP.toml` lists the numbered runs a sweep file expands into;
    /// `--local [-j K]` runs them here, `--slurm [--submit]` writes (and submits) a Slurm job array
    /// of them; `run`, `status` and `collect` below.
    Sweep(SweepArgs),
    /// Print the default config, commented.
    Config {
        /// which system: ctrnn (trained by BPTT), reservoir (trained online by RLS), r2n2 (the
        /// reversible network, trained by BPTT during backward replay), rflo or esn (a leaky RNN
        /// trained by RFLO, or with its recurrent weights frozen), ctrnn_rflo (the CTRNN trained by
        /// RFLO), ctrnn_force (FORCE on the CTRNN), elise (two-compartment neurons learning a
        /// sequence by the Urbanczik-Senn rule), cordsnet (convolutional areas in continuous time,
        /// trained by BPTT on images), multiarea (a CordsNet front end feeding a CTRNN)
        #[arg(long, default_value = "ctrnn", value_parser = ["ctrnn", "reservoir", "r2n2", "rflo", "esn", "ctrnn_rflo", "ctrnn_force", "elise", "cordsnet", "multiarea"])]
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
    /// Training iterations on a local ring mask: the sparse kernels against dense masking.
    Sparse {
        #[command(flatten)]
        shape: BenchShape,
        /// the ring mask's radius: density (2 radius + 1) / n
        #[arg(long, default_value_t = 20.0)]
        radius: f64,
        /// a random mask of this density instead of the ring
        #[arg(long)]
        random: Option<f64>,
    },
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
    /// ELiSe training cycles (Für Elise, 13 visible neurons): one network on one core, then K
    /// at once on every thread.
    Elise {
        /// latent neurons
        #[arg(long, default_value_t = 50)]
        latent: usize,
        /// cycles timed
        #[arg(long, default_value_t = 200)]
        cycles: usize,
        /// networks at once (default: the number of threads)
        #[arg(long)]
        k: Option<usize>,
    },
    /// CordsNet: one Euler step of a batch of static images, and one training step (forward and
    /// backward through the stimulus steps), random weights and biases, from a spontaneous state.
    Cordsnet {
        /// areas: 2, 4, 6 or 8
        #[arg(long, default_value_t = 8)]
        depth: usize,
        /// image side, pixels
        #[arg(long, default_value_t = 224)]
        image: usize,
        #[arg(long, default_value_t = 3)]
        channels: usize,
        /// channels of the first area pair (the others double, as the reference's 64 .. 512)
        #[arg(long, default_value_t = 64)]
        width: usize,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// stimulus steps of the training step
        #[arg(long, default_value_t = 10)]
        stimulus: usize,
        #[arg(long, default_value_t = 5)]
        iters: usize,
        /// BPTT keeps every k-th state and recomputes the rest (0: every state)
        #[arg(long, default_value_t = 0)]
        segment: usize,
        /// also time this many Arnoldi steps on the whole step Jacobian (every unit), matrix-free
        #[arg(long, default_value_t = 0)]
        arnoldi: usize,
    },
    /// One step's recurrent products (W r and W^T d) through faer and through the packed panels on
    /// each instruction set this CPU has (BIORNN_ISA picks the one networks use)
    Products {
        #[arg(long, default_value_t = 50)]
        n: usize,
        #[arg(long, default_value_t = 20)]
        batch: usize,
        #[arg(long, default_value_t = 2000)]
        reps: usize,
        /// also K networks' forward products one by one against all K in the lanes of a vector
        #[arg(long)]
        k: Option<usize>,
    },
    /// The long-term protocol's round kernel by kernel (products at its shapes, noise draws), each
    /// timed alone on one thread: the least time a round of `biornn longterm TASK --networks K`
    /// can take with its arithmetic, spread over every thread
    Longterm {
        /// task of the skip-connection paper's suite
        #[arg(default_value = "dlygo")]
        task: String,
        #[arg(long, default_value_t = 20)]
        networks: usize,
        /// the round whose batches are counted
        #[arg(long, default_value_t = 1)]
        round: usize,
        /// timings of each kernel (their median counts)
        #[arg(long, default_value_t = 11)]
        reps: usize,
    },
    /// The machine's f32 peak: a large matrix product on every core (faer, fixed blocks).
    Peak {
        #[arg(long, default_value_t = 2048)]
        size: usize,
        #[arg(long, default_value_t = 5)]
        reps: usize,
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
    /// the battery the task comes from (`biornn task list` shows them)
    #[arg(long, default_value = "yang20")]
    battery: String,
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
    /// a `[task.modcog]` option, as NAME (set to true) or NAME=VALUE (battery modcog only; for
    /// example `--modcog faithful_go_delay --modcog ring_order=random`)
    #[arg(long, value_name = "NAME[=VALUE]")]
    modcog: Vec<String>,
    #[arg(long)]
    out: PathBuf,
}

impl DumpArgs {
    fn spec(&self) -> Result<DumpSpec> {
        Ok(DumpSpec {
            trials: TrialsSpec {
                battery: self.battery.clone(),
                task: self.task.clone(),
                batch: self.batch,
                seed: self.seed,
                index: 0,
                no_noise: self.no_noise,
                dt: self.dt,
                per_trial_timing: self.per_trial_timing,
                easy: self.easy,
                modcog: inspect::modcog_options(&self.modcog)?,
            },
            out: self.out.clone(),
        })
    }
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Every battery's tasks with their inputs, outputs and epochs.
    List {
        /// only this battery
        #[arg(long)]
        battery: Option<String>,
    },
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
    match biornn_api::on_workers(|| run(cli.command)) {
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
            out,
            tensorboard,
        } => {
            if let Some(dir) = &tensorboard {
                biornn_api::enable_tensorboard(Some(dir));
            }
            let run_opts = biornn_api::RunOptions {
                progress: true,
                verbose: !quiet,
            };
            if let Some(dir) = resume {
                eprintln!("resuming {}", dir.display());
                println!("{}", biornn_api::resume_to(&dir, max_steps, &run_opts)?);
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
                cfg.set_max_steps(m)?;
            }
            cfg.validate()?;
            if seeds == 0 || seeds > 10_000 {
                return Err(Error::invalid("--seeds", seeds, "allowed: 1 to 10000"));
            }
            if seeds > 1 {
                return train_seeds(&cfg, &runs, seeds);
            }
            if let Some(dir) = &out {
                if !went_on(&cfg, dir, "steps", &run_opts)? {
                    println!("{}", biornn_api::train_in(&cfg, dir, &run_opts)?);
                }
                return Ok(());
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
            let done = inspect::analyze_run(&run, &opts.spec())?;
            println!("{} files in {}", done.files.len(), done.dir.display());
            if let Some(analysis) = &done.analysis {
                print_timings(analysis);
            }
            Ok(())
        }
        Command::Replay {
            run,
            cycles,
            nudged,
            disruption,
        } => {
            let spec = inspect::ReplaySpec {
                cycles,
                nudged,
                variants: disruption,
            };
            let (variants, dir) = inspect::replay(&run, &spec)?;
            println!(
                "{:<14} {:>10} {:>10} {:>16} {:>18}",
                "variant", "first mse", "last mse", "mse in cycle 4", "recovered (cycle)"
            );
            for v in &variants {
                let mse_at = |c: usize| v.scores.iter().find(|s| s.cycle == c).map(|s| s.mse);
                let recovered = v
                    .scores
                    .iter()
                    .find(|s| s.cycle > 4 && s.mse < 0.01)
                    .map_or("-".to_string(), |s| s.cycle.to_string());
                let fmt = |x: Option<f64>| x.map_or("-".to_string(), |m| format!("{m:.4}"));
                println!(
                    "{:<14} {:>10} {:>10} {:>16} {:>18}",
                    v.name,
                    fmt(v.scores.first().map(|s| s.mse)),
                    fmt(v.scores.last().map(|s| s.mse)),
                    fmt(mse_at(4)),
                    recovered
                );
            }
            println!("scores in {}", dir.join("replay.csv").display());
            Ok(())
        }
        Command::Report { run, .. }
            if inspect::run_kind(&run)? == biornn_api::Kind::EliseUrbanczikSenn =>
        {
            println!("report: {}", inspect::elise_report(&run)?.display());
            Ok(())
        }
        Command::Record { run, areas, images } => {
            let path = inspect::cordsnet_record(&run, &areas, images)?;
            println!("activity in {}", path.display());
            Ok(())
        }
        Command::Noise {
            run,
            input,
            dynamics,
            per_step,
            seed,
        } => {
            let bad = input
                .iter()
                .chain(&dynamics)
                .find(|v| !(v.is_finite() && **v >= 0.0));
            if let Some(v) = bad {
                return Err(Error::invalid(
                    "--input/--dynamics",
                    v,
                    "allowed: noise levels of 0 or more",
                ));
            }
            let settings: Vec<biornn_api::NoiseSetting> = input
                .iter()
                .flat_map(|i| {
                    dynamics.iter().map(move |d| biornn_api::NoiseSetting {
                        input_std: *i,
                        per_step,
                        dynamics_std: *d,
                    })
                })
                .collect();
            println!(
                "{:>10} {:>9} {:>12} {:>10} {:>10}",
                "input", "per step", "dynamics", "accuracy", "loss"
            );
            for (n, acc, loss) in inspect::cordsnet_noise(&run, &settings, seed)? {
                println!(
                    "{:>10} {:>9} {:>12} {:>10.4} {:>10.4}",
                    n.input_std, n.per_step, n.dynamics_std, acc, loss
                );
            }
            println!("scores in {}", run.join("analysis/noise.csv").display());
            Ok(())
        }
        Command::Report { run, .. }
            if matches!(
                inspect::run_kind(&run)?,
                biornn_api::Kind::CordsNetBptt | biornn_api::Kind::CordsNetInverse
            ) =>
        {
            println!(
                "report: {}",
                inspect::cordsnet_analysis(&run, true)?.1.display()
            );
            Ok(())
        }
        Command::Report { run, opts } => {
            let (analysis, written, dir, page) = inspect::report(&run, &opts.spec())?;
            println!("{written} files in {}", dir.display());
            print_timings(&analysis);
            println!("report: {}", page.display());
            Ok(())
        }
        Command::Longterm { args } => longterm(args),
        Command::LongtermSummary { dir, figure } => {
            summary(biornn_api::longterm_summary(&dir, figure.as_deref())?)
        }
        Command::Reversal { args } => reversal(args),
        Command::ReversalSummary { dir, figure } => {
            summary(biornn_api::reversal_summary(&dir, figure.as_deref())?)
        }
        Command::Sweep(args) => sweep(args),
        Command::RunsSummary {
            dir,
            value,
            level,
            budgets,
            x,
            figure,
        } => summary(biornn_api::curves_summary(
            &dir,
            &biornn_api::CurvesOptions {
                value: &value,
                level,
                budgets: &budgets,
                against_trials: x == "trials",
                figure: figure.as_deref(),
                density: None,
            },
        )?),
        Command::Eval {
            run,
            trials,
            json,
            recurrent_noise,
        } => {
            let r = inspect::evaluate_run(&run, trials, recurrent_noise.map(|n| n == "on"))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| Error::new(e.to_string()))?
                );
            } else {
                let when = match r.updates {
                    Some(u) => format!("round {}, {u} updates", r.step),
                    None => format!("step {}", r.step),
                };
                println!(
                    "{} ({when}, recurrent noise {})",
                    r.checkpoint,
                    if r.recurrent_noise { "on" } else { "off" }
                );
                if r.networks.is_empty() {
                    println!(
                        "{:<16} {:>6} {:>10} {:>7}",
                        "task", "perf", "loss", "trials"
                    );
                    for s in &r.tasks {
                        println!(
                            "{:<16} {:>6.3} {:>10.5} {:>7}",
                            s.task, s.perf, s.loss, s.trials
                        );
                    }
                } else {
                    // the parts of the protocol's score (long-term: fixation held, released in
                    // the response window, direction right; rule reversal: right after a
                    // reversal and after none)
                    let parts: Vec<&String> = r.networks[0].parts.keys().collect();
                    let width = |name: &str| name.len().max(6);
                    let mut head = format!("{:<8} {:<8} {:>6}", "network", "task", "perf");
                    for p in &parts {
                        head += &format!(" {p:>w$}", w = width(p));
                    }
                    println!("{head} {:>7}", "trials");
                    for s in &r.networks {
                        let mut line = format!("{:<8} {:<8} {:>6.3}", s.network, s.task, s.perf);
                        for (p, v) in &s.parts {
                            line += &format!(" {v:>w$.3}", w = width(p));
                        }
                        println!("{line} {:>7}", s.trials);
                    }
                    // a multi-area run scores its one network on its task, with the loss
                    for s in &r.tasks {
                        println!("{:<16} {:>10.5}", "loss", s.loss);
                    }
                }
                println!(
                    "{:<16} {:>6.3}\n{:<16} {:>6.3}",
                    "min", r.min_perf, "mean", r.mean_perf
                );
                if let Some(t) = r.trimmed_mean {
                    println!("{:<16} {:>6.3}", "trimmed mean", t);
                }
            }
            Ok(())
        }
        Command::Task {
            command: TaskCommand::List { battery },
        } => {
            for (i, b) in inspect::batteries(battery.as_deref())?.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("battery {} ({})", b.name, b.description);
                let sets: Vec<String> = std::iter::once(format!("all ({})", b.tasks.len()))
                    .chain(b.sets.iter().map(|(n, k)| format!("{n} ({k})")))
                    .collect();
                println!("sets: {}", sets.join(", "));
                println!("{:<3} {:<16} {:<38} description", "#", "task", "epochs");
                for t in &b.tasks {
                    println!(
                        "{:<3} {:<16} {:<38} {}",
                        t.index,
                        t.name,
                        t.epochs.join(" "),
                        t.description
                    );
                }
            }
            Ok(())
        }
        Command::Task {
            command: TaskCommand::Dump(args),
        } => {
            let (n, task, steps) = inspect::dump_task(&args.spec()?)?;
            println!(
                "wrote {n} trials of {task} ({steps} steps) to {}",
                args.out.display()
            );
            Ok(())
        }
        Command::Bench { command } => bench(command),
        Command::Config { kind } => {
            let kind = biornn_api::Kind::by_name(&kind)?;
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
    use biornn_api::bench;
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
        BenchCommand::Sparse {
            shape: s,
            radius,
            random,
        } => {
            check(&s)?;
            let (density, sparse, dense) =
                bench::bench_sparse(s.n, s.batch, s.steps, s.chunks, s.iters, radius, random)?;
            println!("density={density:.4}");
            println!("sparse_ms_per_iter={:.4}", sparse.median_ms());
            println!("dense_ms_per_iter={:.4}", dense.median_ms());
            println!("speedup={:.2}", dense.median_ms() / sparse.median_ms());
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
        BenchCommand::Cordsnet {
            depth,
            image,
            channels,
            width,
            batch,
            stimulus,
            iters,
            segment,
            arnoldi,
        } => {
            if batch == 0 || stimulus == 0 || iters == 0 || width == 0 || width > 1024 {
                return Err(Error::invalid(
                    "bench cordsnet",
                    format!(
                        "--batch {batch} --stimulus {stimulus} --iters {iters} --width {width}"
                    ),
                    "allowed: positive counts, a width of at most 1024",
                ));
            }
            let widths = [width, 2 * width, 4 * width, 8 * width];
            let (step, train) = bench::bench_cordsnet(
                depth,
                image,
                channels,
                widths,
                batch,
                (stimulus, segment),
                iters,
            )?;
            println!("ms_per_step={step:.3}");
            println!("ms_per_train_step={train:.3}");
            if arnoldi > 0 {
                let (units, ms, top) = bench::bench_cordsnet_arnoldi(
                    depth,
                    image,
                    channels,
                    widths,
                    (arnoldi, stimulus),
                )?;
                println!("arnoldi_units={units}");
                println!("arnoldi_steps={arnoldi}");
                println!("ms_arnoldi={ms:.1}");
                println!("arnoldi_largest_abs_eig={top:.4}");
            }
            if let Some(m) = bench::peak_rss_mib() {
                println!("peak_rss_mib={m:.1}");
            }
        }
        BenchCommand::Elise { latent, cycles, k } => {
            let k = k.unwrap_or_else(bench::threads);
            if cycles == 0 || k == 0 || latent > 1000 {
                return Err(Error::invalid(
                    "bench elise",
                    format!("--latent {latent} --cycles {cycles} --k {k}"),
                    "allowed: at most 1000 latent neurons, positive cycles and k",
                ));
            }
            let t = bench::bench_elise(latent, cycles, k)?;
            println!("neurons={}", 13 + latent);
            println!("ms_per_cycle_one_core={:.2}", t.ms_per_cycle);
            println!(
                "times_faster_than_real_time={:.1}",
                t.cycle_model_ms / t.ms_per_cycle
            );
            println!("k={k}");
            println!("cycles_per_s_all_k={:.1}", t.parallel_cycles_per_s);
            println!(
                "speedup_k_over_one={:.2}",
                t.parallel_cycles_per_s * t.ms_per_cycle / 1e3
            );
        }
        BenchCommand::Products { n, batch, reps, k } => {
            if k == Some(0) {
                return Err(Error::invalid("bench products", 0, "--k must be positive"));
            }
            let rows = bench::bench_products(n, batch, reps)?;
            let faer = rows[0].1;
            for (path, us) in &rows {
                println!("{path}_us={us:.3}");
            }
            for (path, us) in &rows[1..] {
                println!("{path}_speedup={:.2}", faer / us);
            }
            println!("networks_use={}", bench::packed_path());
            if let Some(k) = k {
                let rows = bench::bench_lanes(n, batch, k, reps)?;
                let one_by_one = rows[0].1;
                for (what, us) in &rows {
                    println!("k{k}_{what}_us={us:.3}");
                }
                for (what, us) in &rows[1..] {
                    println!("k{k}_{what}_speedup={:.2}", one_by_one / us);
                }
            }
        }
        BenchCommand::Longterm {
            task,
            networks,
            round,
            reps,
        } => {
            let cfg = biornn_api::protocols::longterm_config(&task, "base", networks)?;
            let f = bench::bench_longterm_floor(&cfg, round, reps)?;
            println!("train_columns_per_network={}", f.train_columns);
            println!("eval_columns_per_network={}", f.eval_columns);
            println!("backward_columns_per_network={}", f.backward_columns);
            println!("round_gflop={:.3}", f.gflop);
            println!("per_step_products_thread_s={:.6}", f.per_step_s);
            println!("whole_pass_products_thread_s={:.6}", f.whole_pass_s);
            println!("normals_thread_s={:.6}", f.normals_s);
            println!("threads={}", f.threads);
            println!("floor_s_per_round={:.6}", f.floor_s());
        }
        BenchCommand::Peak { size, reps } => {
            let (ms, gflops) = bench::bench_peak(size, reps)?;
            println!("peak_ms={ms:.3}");
            println!("peak_gflops={gflops:.1}");
            println!("threads={}", bench::threads());
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

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// the sweep file
    file: Option<PathBuf>,
    /// run every unfinished run on this machine
    #[arg(long)]
    local: bool,
    /// runs at once with --local
    #[arg(short = 'j', long, default_value_t = 1)]
    jobs: usize,
    /// write the Slurm scripts (a job array and its collection) into the sweep's directory
    #[arg(long)]
    slurm: bool,
    /// with --slurm: submit them (`sbatch` on the PATH)
    #[arg(long)]
    submit: bool,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Run number INDEX of the sweep (what a Slurm array task calls): skipped when finished,
    /// resumed when killed.
    Run {
        file: PathBuf,
        #[arg(long)]
        index: usize,
    },
    /// Which runs have finished; `--resubmit` writes (and with `--submit` submits) a Slurm array
    /// of only the unfinished ones.
    Status {
        file: PathBuf,
        #[arg(long)]
        resubmit: bool,
        #[arg(long)]
        submit: bool,
    },
    /// Every finished run's summary into SWEEP_DIR/sweep.csv and SWEEP_DIR/report.html.
    Collect {
        file: PathBuf,
        /// the summary field the figures show (default: the first score)
        #[arg(long)]
        value: Option<String>,
    },
}

fn sweep(args: SweepArgs) -> Result<()> {
    use biornn_api::sweep::{self, Sweep};
    let opts = biornn_api::RunOptions {
        progress: false,
        verbose: false,
    };
    let exe = || std::env::current_exe().map_err(|e| Error::new(format!("biornn's path: {e}")));
    let slurm = |s: &Sweep, indices: &[usize], submit: bool| -> Result<()> {
        let [array, collect, script] = sweep::write_slurm(s, indices, &exe()?)?;
        println!(
            "{} runs as a Slurm array: {}\ncollection after it: {}\nsubmit both: bash {}",
            indices.len(),
            array.display(),
            collect.display(),
            script.display()
        );
        if submit {
            println!("submitted: job {}", sweep::submit_slurm(s)?);
        }
        Ok(())
    };
    match args.command {
        Some(SweepCommand::Run { file, index }) => {
            let s = Sweep::load(&file)?;
            match sweep::run_index(&s, index, &opts)? {
                sweep::Outcome::Skipped => println!("run {index} had finished: skipped"),
                sweep::Outcome::Running => {
                    println!("run {index}: another process is training it; skipped")
                }
                sweep::Outcome::Trained(f) => println!("run {index}: {f}"),
            }
        }
        Some(SweepCommand::Status {
            file,
            resubmit,
            submit,
        }) => {
            let s = Sweep::load(&file)?;
            let states = s.states();
            print!("{}", sweep::status_table_of(&s, &states));
            let left = sweep::unfinished_of(&states);
            let finished = states
                .iter()
                .filter(|st| **st == sweep::RunState::Finished)
                .count();
            println!("{finished} of {} runs finished", s.len());
            let other = states
                .iter()
                .filter(|st| **st == sweep::RunState::Other)
                .count();
            if other > 0 {
                println!(
                    "{other} runs hold other settings than the file gives (edited after they \
                     started?): `biornn sweep run FILE --index I` names them; they are left out \
                     of a resubmission"
                );
            }
            if resubmit {
                slurm(&s, &left, submit)?;
            }
        }
        Some(SweepCommand::Collect { file, value }) => {
            let s = Sweep::load(&file)?;
            let (csv, page, n) = sweep::collect(&s, value.as_deref())?;
            println!(
                "{n} of {} runs collected: {} and {}",
                s.len(),
                csv.display(),
                page.display()
            );
        }
        None => {
            let file = args.file.ok_or_else(|| {
                Error::new("biornn sweep: name a sweep file (or run, status, collect)")
            })?;
            let s = Sweep::load(&file)?;
            if args.jobs == 0 || args.jobs > 1024 {
                return Err(Error::invalid("--jobs", args.jobs, "allowed: 1 to 1024"));
            }
            if args.local {
                let (trained, skipped) = sweep::run_local(&s, args.jobs, &opts)?;
                println!(
                    "{trained} runs trained, {skipped} had finished or were training elsewhere; in {}",
                    s.dir.display()
                );
            } else if args.slurm {
                let all: Vec<usize> = (0..s.len()).collect();
                slurm(&s, &all, args.submit)?;
            } else {
                print!("{}", sweep::status_table(&s));
                println!(
                    "{} runs in {} (--local to run them here, --slurm for a job array)",
                    s.len(),
                    s.dir.display()
                );
            }
        }
    }
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
    /// which network of a run that trains several side by side (long-term, rule reversal,
    /// reservoirs with train.networks > 1); default the first
    #[arg(long, value_name = "K")]
    net: Option<usize>,
}

impl AnalyzeArgs {
    fn spec(&self) -> AnalyzeSpec {
        AnalyzeSpec {
            what: self.what.clone(),
            task: self.task.clone(),
            inits: self.inits,
            seed: self.seed,
            lesions: self.lesion.clone(),
            net: self.net,
        }
    }
}

fn print_timings(a: &biornn_api::Analysis) {
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

/// Whether `dir` already held the run of `cfg`, which then went on to the budget asked for or was
/// done already ([`biornn_api::continue_in`]): nothing left to start. `unit` names its steps.
fn went_on(cfg: &Config, dir: &Path, unit: &str, opts: &biornn_api::RunOptions) -> Result<bool> {
    match biornn_api::continue_in(cfg, dir, opts)? {
        biornn_api::Continued::Empty => Ok(false),
        biornn_api::Continued::Done { steps } => {
            println!("have {}: {steps} {unit}, done", dir.display());
            Ok(true)
        }
        biornn_api::Continued::Trained(f) => {
            println!("{f}");
            Ok(true)
        }
    }
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
    /// the run directory (config.toml, metrics.csv with a row per round, checkpoints, model.npz,
    /// summary.json); default: a fresh one under runs/. When it holds this run already, the run
    /// goes on: resumed after a kill, or taken on to a larger budget with the same stages (give
    /// --stage-rounds: by default they are half the budget); a run of other settings there is
    /// refused.
    #[arg(long)]
    out: Option<PathBuf>,
    /// rounds between checkpoints
    #[arg(long, default_value_t = 10)]
    checkpoint_every: usize,
    #[arg(long, short)]
    quiet: bool,
}

impl SkipArgs {
    fn derivative(&self) -> biornn_api::DascDerivative {
        if self.derivative == "stale" {
            biornn_api::DascDerivative::Stale
        } else {
            biornn_api::DascDerivative::BlockStart
        }
    }

    fn scope(&self) -> biornn_api::BlockScope {
        if self.scope == "trial" {
            biornn_api::BlockScope::Trial
        } else {
            biornn_api::BlockScope::Epoch
        }
    }

    fn options(&self) -> biornn_api::RunOptions {
        biornn_api::RunOptions {
            progress: false,
            verbose: !self.quiet,
        }
    }

    /// Whether `--out` already held this run ([`went_on`]).
    fn went_on(&self, cfg: &Config) -> Result<bool> {
        match &self.out {
            Some(dir) => went_on(cfg, dir, "rounds", &self.options()),
            None => Ok(false),
        }
    }

    /// `--out`, or a fresh directory `runs/<name>`.
    fn run_dir(&self, name: &str) -> Result<PathBuf> {
        match &self.out {
            Some(d) => Ok(d.clone()),
            None => biornn_api::fresh_run_dir(Path::new("runs"), name),
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
    let mut cfg = protocols::longterm_config(&a.task, &a.method, a.networks)?;
    cfg.max_rounds = a.max_rounds;
    cfg.stage_rounds = a
        .stage_rounds
        .unwrap_or(protocols::default_stage_rounds(cfg.method, a.max_rounds));
    cfg.seed = a.common.seed;
    cfg.derivative = a.common.derivative();
    cfg.scope = a.common.scope();
    cfg.keep_optimizer = a.common.keep_optimizer;
    cfg.reference_nonmatch = a.reference_nonmatch;
    cfg.euler_noise = a.common.euler_noise;
    cfg.checkpoint_every = a.common.checkpoint_every;
    cfg.validate()?;
    if a.common.went_on(&Config::LongTerm(cfg.clone()))? {
        return Ok(());
    }
    let dir = a.common.run_dir(&format!("{}-{}", a.task, a.method))?;
    let r = biornn_api::longterm(&cfg, &dir, false, &a.common.options())?;
    println!("{}", protocols::longterm_line(&cfg, &r));
    println!("run directory: {}", dir.display());
    Ok(())
}

fn summary(table_and_figure: (String, Option<PathBuf>)) -> Result<()> {
    let (table, figure) = table_and_figure;
    print!("{table}");
    if let Some(f) = figure {
        println!("\nfigure: {}", f.display());
    }
    Ok(())
}

fn reversal(a: ReversalArgs) -> Result<()> {
    let mut cfg = protocols::reversal_config(&a.method, a.trial_skip, a.networks)?;
    cfg.rounds = a.rounds;
    cfg.stage_rounds = a
        .stage_rounds
        .unwrap_or(protocols::default_stage_rounds(cfg.method, a.rounds));
    cfg.per_pattern = a.per_pattern;
    cfg.seed = a.common.seed;
    cfg.derivative = a.common.derivative();
    cfg.scope = a.common.scope();
    cfg.keep_optimizer = a.common.keep_optimizer;
    cfg.euler_noise = a.common.euler_noise;
    cfg.checkpoint_every = a.common.checkpoint_every;
    cfg.validate()?;
    if a.common.went_on(&Config::Reversal(cfg.clone()))? {
        return Ok(());
    }
    let dir = a.common.run_dir(&format!("reversal-{}", cfg.name()))?;
    let r = biornn_api::reversal(&cfg, &dir, false, &a.common.options())?;
    println!("{}", protocols::reversal_line(&cfg, &r));
    println!("run directory: {}", dir.display());
    Ok(())
}
