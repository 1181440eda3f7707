//! A training process killed with SIGKILL at random moments and resumed each time ends bit-identical
//! to one that was never interrupted.

mod common;
use biornn_numerics::npz::{read_npz, NpyArray};
use biornn_numerics::Streams;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
name = "k"
seed = 5
[task]
rules = ["fdgo", "delaygo", "dmsgo"]
[model]
n_rec = 48
[model.dale]
enabled = true
[train]
batch_size = 16
max_steps = 400
eval_every = 8
eval_trials = 32
checkpoint_every = 1
"#;

/// A reservoir trained online by RLS: checkpoints fall every 700 steps, in the middle of the
/// target's 1200-step period, so a resume must restore the reservoir's activity, the RLS matrix
/// and the position in the sequence.
const RESERVOIR: &str = r#"
name = "k"
seed = 3
[network]
kind = "reservoir"
n_rec = 200
[rule]
kind = "rls"
[task]
kind = "sines"
period_steps = 1200
[train]
max_steps = 30000
eval_every = 700
eval_steps = 600
"#;

/// FORCE on the CTRNN (with a local mask): the same, for the CTRNN's state and readout.
const CTRNN_FORCE: &str = r#"
name = "k"
seed = 3
[network]
kind = "ctrnn"
[rule]
kind = "force"
[model]
n_rec = 200
[model.mask]
recurrent = { kind = "local", radius = 20 }
[task]
kind = "sines"
period_steps = 1200
[train]
max_steps = 30000
eval_every = 700
eval_steps = 600
"#;

/// ELiSe learning Für Elise: a checkpoint at every validation cycle, so a resume must restore
/// every potential, trace and delay line of the never-reset network.
const ELISE: &str = r#"
name = "k"
seed = 6
[network]
kind = "elise"
n_latent = 20
[train]
max_steps = 400
validate_every = 4
checkpoint_every = 1
"#;

/// R2N2 learning a^n b^n by replay: one sequence per update, a checkpoint at every evaluation;
/// a resume must restore the weights, Adam's moments, the position in the epoch's order and the
/// success count since the last evaluation.
const R2N2: &str = r#"
name = "k"
seed = 4
[network]
kind = "r2n2"
n_hidden = 48
[rule]
kind = "r2n2"
feedback = "fa"
[task]
kind = "anbn"
m = 6
[train]
max_steps = 16000
eval_every = 300
checkpoint_every = 1
"#;

/// The final arrays but the clocks.
fn final_arrays(dir: &Path) -> BTreeMap<String, NpyArray> {
    let mut m = read_npz(&dir.join("model.npz")).unwrap();
    for clock in ["state_wall_s", "train_seconds", "checksum"] {
        m.remove(clock);
    }
    m
}

/// The metrics but the clock columns.
fn metrics_without_time(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    text.lines()
        .map(|l| {
            l.split(',')
                .zip(&header)
                .filter(|(_, h)| !["wall_s", "train_s"].contains(h))
                .map(|(c, _)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// Run `start` (which writes the run directory `run`) once uninterrupted into `whole_run`, then
/// again with SIGKILLs at random moments, continuing each time with `resume`, until it finishes;
/// the two must end with the same arrays and metrics. A killed run that finished after fewer than
/// three kills is run again, killed earlier (up to four times). Stops failing after `cap`.
fn killed_and_resumed(
    name: &str,
    start: &dyn Fn(&Path) -> Command,
    resume: &dyn Fn(&Path) -> Command,
    run_in: &dyn Fn(&Path) -> std::path::PathBuf,
    cap: Duration,
) -> usize {
    let base = std::env::temp_dir().join(format!("biornn-kill-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let t0 = Instant::now();
    let st = start(&base.join("a")).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let whole = t0.elapsed();

    let want_run = run_in(&base.join("a"));
    let mut rng = Streams::new(11).stream("kill_times", 0);
    // a machine busier during the uninterrupted run than during the killed ones makes the kills
    // come late; each further attempt kills twice as early
    let mut kills = 0;
    for attempt in 0..4 {
        let dir = base.join(format!("b{attempt}"));
        let run = run_in(&dir);
        let scale = 0.5f64.powi(attempt);
        kills = 0;
        loop {
            assert!(t0.elapsed() < cap, "{name}: not finished within {cap:?}");
            let mut cmd = if run.join("config.toml").exists() {
                resume(&run)
            } else {
                start(&dir)
            };
            let mut child = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // kill at a random moment within the run, once a first checkpoint exists to resume from
            let wait = whole.mul_f64(scale * rng.uniform_in(0.05, 0.25));
            let start_at = Instant::now();
            let mut finished = None;
            let has_checkpoint = || {
                std::fs::read_dir(run.join("checkpoints")).is_ok_and(|mut d| {
                    d.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
                })
            };
            while start_at.elapsed() < wait || !has_checkpoint() {
                if let Some(status) = child.try_wait().unwrap() {
                    finished = Some(status);
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            match finished.or_else(|| child.try_wait().unwrap()) {
                Some(status) => {
                    assert!(status.success(), "{name}: a resumed run failed");
                    break;
                }
                None => {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                }
            }
        }
        println!("{name}: attempt {attempt}: kill-and-resume cycles: {kills}");
        let (got, want) = (final_arrays(&run), final_arrays(&want_run));
        let differing: Vec<&String> = want
            .keys()
            .filter(|k| got.get(*k) != want.get(*k))
            .collect();
        assert!(
            differing.is_empty() && got.len() == want.len(),
            "{name}: arrays differ: {differing:?}"
        );
        assert_eq!(
            metrics_without_time(&run),
            metrics_without_time(&want_run),
            "{name}"
        );
        if kills >= 3 {
            break;
        }
    }
    assert!(
        kills >= 3,
        "{name}: only {kills} kills; the run was too quick to interrupt"
    );
    std::fs::remove_dir_all(&base).ok();
    kills
}

/// `biornn train CONFIG` and `biornn train --resume RUN`.
fn train_killed_and_resumed(name: &str, config: &str, cap: Duration) {
    let bin = env!("CARGO_BIN_EXE_biornn");
    let cfg = std::env::temp_dir().join(format!("biornn-kill-{}-{name}.toml", std::process::id()));
    std::fs::write(&cfg, config).unwrap();
    let start = |runs: &Path| {
        let mut c = Command::new(bin);
        c.args(["train", "--quiet", "--runs"]).arg(runs).arg(&cfg);
        c
    };
    let resume = |run: &Path| {
        let mut c = Command::new(bin);
        c.args(["train", "--quiet", "--resume"]).arg(run);
        c
    };
    killed_and_resumed(name, &start, &resume, &|runs: &Path| runs.join("k"), cap);
    std::fs::remove_file(&cfg).ok();
}

/// A run finished at 200 updates, taken to 400 by the same `biornn train CONFIG --out RUN`
/// command with a larger budget, killed at random moments and given the same command again each
/// time: it ends as the run trained to 400 at once (200 is a multiple of its evaluation interval).
#[test]
fn an_extension_killed_and_asked_again_equals_the_run_trained_at_once() {
    let name = "extension";
    let bin = env!("CARGO_BIN_EXE_biornn");
    let base = std::env::temp_dir().join(format!("biornn-kill-{}-{name}", std::process::id()));
    let cfg = base.with_extension("toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = |run: &Path, steps: &str| {
        let mut c = Command::new(bin);
        c.arg("train")
            .arg(&cfg)
            .args(["--quiet", "--max-steps", steps, "--out"])
            .arg(run);
        c
    };
    // each attempt's run starts as the finished short one
    let short = base.with_extension("short");
    let done = out(&short, "200").output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for attempt in 0..4 {
        let run = base.join(format!("b{attempt}")).join("k");
        std::fs::create_dir_all(run.join("checkpoints")).unwrap();
        for entry in walk(&short) {
            let rel = entry.strip_prefix(&short).unwrap();
            std::fs::copy(&entry, run.join(rel)).unwrap();
        }
    }
    let start = |dir: &Path| out(&dir.join("k"), "400");
    let again = |run: &Path| out(run, "400");
    killed_and_resumed(
        name,
        &start,
        &again,
        &|d: &Path| d.join("k"),
        Duration::from_secs(300),
    );
    std::fs::remove_dir_all(&short).ok();
    std::fs::remove_file(&cfg).ok();
}

/// The files under `dir`, one level of folders deep (a run directory's layout).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn killed_and_resumed_equals_uninterrupted() {
    train_killed_and_resumed("ctrnn", CONFIG, Duration::from_secs(300));
}

#[test]
fn rflo_on_the_ctrnn_killed_and_resumed_equals_uninterrupted() {
    // the same run with RFLO's local credit and its random feedback matrix (at Adam 1e-3 random
    // feedback drives this network's weights up until it diverges: docs/REPLAY.md)
    let config = format!(
        "{}[rule]\nkind = \"rflo\"\n",
        CONFIG.replace("[train]\n", "[train]\nlearning_rate = 0.0001\n")
    );
    train_killed_and_resumed("ctrnn-rflo", &config, Duration::from_secs(300));
}

#[test]
fn an_online_rule_killed_mid_sequence_resumes_bit_identically() {
    train_killed_and_resumed("reservoir", RESERVOIR, Duration::from_secs(300));
}

#[test]
fn force_on_the_ctrnn_killed_mid_sequence_resumes_bit_identically() {
    train_killed_and_resumed("ctrnn-force", CTRNN_FORCE, Duration::from_secs(300));
}

#[test]
fn elise_killed_mid_training_resumes_bit_identically() {
    train_killed_and_resumed("elise", ELISE, Duration::from_secs(300));
}

/// CordsNet learning small images by BPTT: a checkpoint at every evaluation; a resume must
/// restore the weights and AdamW's moments, and the batch order follows from the step.
#[test]
fn cordsnet_killed_mid_training_resumes_bit_identically() {
    cordsnet_killed("cordsnet", "rnn");
}

/// Trained on random-dot movies: each batch's movies follow from the step, as images' order does.
#[test]
fn a_cordsnet_on_dot_movies_killed_mid_training_resumes_bit_identically() {
    let config = r#"
name = "k"
seed = 4
[network]
kind = "cordsnet"
widths = [4, 4, 4, 4]
[rule]
batch_size = 4
[task]
dataset = "dots"
image_size = 12
dots = 6
coherences = [0.5, 1.0]
train_images = 64
test_images = 16
spontaneous_steps = 5
stimulus_steps = 6
loss_steps = 3
offset_steps = 0
penalty_steps = 0
[train]
max_steps = 300
eval_every = 10
"#;
    train_killed_and_resumed("cordsnet-dots", config, Duration::from_secs(300));
}

/// Its compatibility CNN: batch norm's running statistics must come back too.
#[test]
fn the_compatibility_cnn_killed_mid_training_resumes_bit_identically() {
    cordsnet_killed("cordsnet-cnn", "cnn");
}

/// The multi-area network: a CTRNN behind a frozen CordsNet, trials drawn by the step.
#[test]
fn a_multi_area_network_killed_mid_training_resumes_bit_identically() {
    multiarea_killed("multiarea", "");
}

/// The same with its front end fine-tuned: its weights, moments and spontaneous state resume too.
#[test]
fn a_fine_tuned_multi_area_network_killed_mid_training_resumes_bit_identically() {
    multiarea_killed("multiarea-fine", "fine_tune = true\nbptt_segment = 7\n");
}

/// A multi-area dots run written before its per-coherence columns existed (its `metrics.csv`
/// without them) goes on to a larger budget: its rows gain the columns, empty where the old
/// version wrote none; a run whose columns differ otherwise is still refused.
#[test]
fn a_multi_area_dots_run_from_before_its_coherence_columns_goes_on() {
    let base = std::env::temp_dir().join(format!("biornn-late-{}", std::process::id()));
    let data = base.join("data");
    common::write_idx_images(&data, 64, 16);
    train_small_cordsnet(
        &base,
        &format!(
            "name = \"front\"\n[network]\nkind = \"cordsnet\"\nwidths = [4, 4, 4, 4]\n[task]\npath = \"{}\"\nspontaneous_steps = 5\nstimulus_steps = 8\nloss_steps = 4\noffset_steps = 4\npenalty_steps = 2\n[train]\nmax_steps = 2\neval_every = 2\n",
            data.display()
        ),
    );
    let cfg = base.join("dots.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"d\"\n[network]\nkind = \"multiarea\"\n[front_end]\nmodel = \"{}\"\nspontaneous_steps = 5\n[model]\nn_rec = 8\n[task]\nkind = \"dots\"\ncoherences = [0.5, 1.0]\npath = \"{}\"\nfixation_ms = 4.0\nsample_ms = 6.0\ndelay_ms = 4.0\ntest_ms = 6.0\ngrace_ms = 2.0\neval_trials = 8\n[train]\nbatch_size = 4\neval_every = 2\n",
            base.join("front/model.npz").display(),
            data.display()
        ),
    )
    .unwrap();
    let run = base.join("run");
    let train_to = |steps: &str| {
        Command::new(env!("CARGO_BIN_EXE_biornn"))
            .args(["train", "--quiet", "--max-steps", steps, "--out"])
            .arg(&run)
            .arg(&cfg)
            .output()
            .unwrap()
    };
    assert!(train_to("4").status.success());
    let metrics = run.join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let header = text.lines().next().unwrap().to_string();
    assert!(
        header.contains("test_accuracy_coh_0.5,test_accuracy_coh_1,"),
        "{header}"
    );
    // as the version before the columns wrote it
    let old: String = text
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!("{},{}\n", c[..4].join(","), c[6])
        })
        .collect();
    std::fs::write(&metrics, &old).unwrap();
    let out = train_to("8");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0].join(","), header);
    let steps: Vec<&str> = rows[1..].iter().map(|r| r[0]).collect();
    assert_eq!(steps, ["0", "2", "4", "6", "8"]);
    for r in &rows[1..] {
        assert_eq!(r.len(), 7, "{r:?}");
        let written_before = r[0].parse::<u32>().unwrap() <= 4;
        assert_eq!(r[4].is_empty() && r[5].is_empty(), written_before, "{r:?}");
        assert!(!r[6].is_empty() && !r[3].is_empty(), "{r:?}");
    }
    // a column missing that no later version added: refused, naming the columns
    let text = std::fs::read_to_string(&metrics).unwrap();
    std::fs::write(&metrics, text.replacen("test_loss,", "", 1)).unwrap();
    let out = train_to("10");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("columns"));
    std::fs::remove_dir_all(&base).ok();
}

/// Train the run a config names under `base`, uninterrupted: what a killed run starts from.
fn train_small_cordsnet(base: &Path, config: &str) {
    let file = base.join("start.toml");
    std::fs::write(&file, config).unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_biornn"))
        .args(["train", "--quiet", "--runs"])
        .arg(base)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn multiarea_killed(name: &str, front_end: &str) {
    let base = std::env::temp_dir().join(format!("biornn-kill-{}-{name}", std::process::id()));
    let data = base.join("data");
    common::write_idx_images(&data, 64, 16);
    train_small_cordsnet(
        &base,
        &format!(
            "name = \"front\"\n[network]\nkind = \"cordsnet\"\nwidths = [4, 4, 4, 4]\n[task]\npath = \"{}\"\nspontaneous_steps = 5\nstimulus_steps = 8\nloss_steps = 4\noffset_steps = 4\npenalty_steps = 2\n[train]\nmax_steps = 4\neval_every = 4\n",
            data.display()
        ),
    );
    let config = format!(
        r#"
name = "k"
seed = 5
[network]
kind = "multiarea"
[front_end]
model = "{}"
spontaneous_steps = 5
{front_end}[model]
n_rec = 16
[task]
path = "{}"
fixation_ms = 10.0
sample_ms = 10.0
delay_ms = 10.0
test_ms = 10.0
grace_ms = 2.0
boundary = 2
eval_trials = 8
[train]
max_steps = 300
batch_size = 4
eval_every = 10
"#,
        base.join("front/model.npz").display(),
        data.display()
    );
    train_killed_and_resumed(name, &config, Duration::from_secs(300));
    std::fs::remove_dir_all(&base).ok();
}

fn cordsnet_killed(name: &str, form: &str) {
    cordsnet_killed_with(name, form, "", "");
}

/// Stage 4: the PReLU slope annealed in levels of 20 updates, the optimiser restarted at each.
#[test]
fn an_annealed_cordsnet_killed_mid_training_resumes_bit_identically() {
    cordsnet_killed_with(
        "cordsnet-anneal",
        "rnn",
        "activation = \"prelu\"\n",
        "anneal_levels = 6\nanneal_level_updates = 20\n",
    );
}

/// Trained through weight norm: AdamW's g and v (and their moments) must come back.
#[test]
fn a_weight_normed_cordsnet_killed_mid_training_resumes_bit_identically() {
    cordsnet_killed_with("cordsnet-wn", "rnn", "", "weight_norm = true\n");
}

/// The compatibility CNN trained through weight norm (its g and v are what stage 2 starts from).
#[test]
fn a_weight_normed_cnn_killed_mid_training_resumes_bit_identically() {
    cordsnet_killed_with("cnn-wn", "cnn", "", "weight_norm = true\n");
}

/// Stage 2: a compatibility CNN folded into CordsNet, its recurrent convs fitted to it.
#[test]
fn the_inverse_fit_killed_mid_training_resumes_bit_identically() {
    inverse_fit_killed("inverse", "");
}

/// Stage 2 through weight norm: the folded convs at unit v, the fitted ones stepping g and v.
#[test]
fn a_weight_normed_inverse_fit_killed_mid_training_resumes_bit_identically() {
    inverse_fit_killed("inverse-wn", "weight_norm = true\n");
}

fn inverse_fit_killed(name: &str, rule: &str) {
    let base = std::env::temp_dir().join(format!("biornn-kill-{}-{name}", std::process::id()));
    let data = base.join("data");
    common::write_idx_images(&data, 64, 16);
    train_small_cordsnet(
        &base,
        &format!(
            "name = \"cnn\"\n[network]\nkind = \"cordsnet\"\nform = \"cnn\"\nwidths = [4, 4, 4, 4]\n[task]\npath = \"{}\"\n[train]\nmax_steps = 8\neval_every = 8\n",
            data.display()
        ),
    );
    let config = format!(
        r#"
name = "k"
seed = 4
[network]
kind = "cordsnet"
widths = [4, 4, 4, 4]
activation = "linear"
from = "{}"
[rule]
kind = "inverse"
batch_size = 32
learning_rate = 0.01
{}[task]
path = "{}"
spontaneous_steps = 0
stimulus_steps = 40
loss_steps = 4
offset_steps = 0
penalty_steps = 0
[train]
max_steps = 1500
eval_every = 25
"#,
        base.join("cnn/model.npz").display(),
        rule,
        data.display()
    );
    train_killed_and_resumed(name, &config, Duration::from_secs(300));
    std::fs::remove_dir_all(&base).ok();
}

fn cordsnet_killed_with(name: &str, form: &str, network: &str, rule: &str) {
    let data = std::env::temp_dir().join(format!("biornn-kill-{}-{name}-data", std::process::id()));
    common::write_idx_images(&data, 64, 16);
    let config = format!(
        r#"
name = "k"
seed = 3
[network]
kind = "cordsnet"
form = "{form}"
widths = [4, 4, 4, 4]
{network}[rule]
batch_size = 4
{rule}[task]
path = "{}"
spontaneous_steps = 5
stimulus_steps = 10
loss_steps = 4
offset_steps = 5
penalty_steps = 3
[train]
max_steps = 300
eval_every = 10
"#,
        data.display()
    );
    train_killed_and_resumed(name, &config, Duration::from_secs(300));
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn a_replay_rule_killed_between_sequences_resumes_bit_identically() {
    train_killed_and_resumed("r2n2", R2N2, Duration::from_secs(300));
}

/// `biornn longterm ... --out RUN` and `biornn train --resume RUN`.
fn protocol_killed_and_resumed(name: &str, args: &[&str], cap: Duration) {
    let bin = env!("CARGO_BIN_EXE_biornn");
    let start = |run: &Path| {
        let mut c = Command::new(bin);
        c.args(args).args(["--quiet", "--out"]).arg(run);
        c
    };
    let resume = |run: &Path| {
        let mut c = Command::new(bin);
        c.args(["train", "--quiet", "--resume"]).arg(run);
        c
    };
    killed_and_resumed(name, &start, &resume, &|run: &Path| run.to_path_buf(), cap);
}

#[test]
fn longterm_with_dasc_stages_killed_and_resumed_equals_uninterrupted() {
    protocol_killed_and_resumed(
        "longterm",
        &[
            "longterm",
            "dlygo",
            "--method",
            "dasc-t20-s3-b0.5",
            "--networks",
            "3",
            "--max-rounds",
            "16",
            "--stage-rounds",
            "6",
            "--checkpoint-every",
            "2",
        ],
        Duration::from_secs(400),
    );
}

#[test]
fn reversal_killed_and_resumed_equals_uninterrupted() {
    protocol_killed_and_resumed(
        "reversal",
        &[
            "reversal",
            "--method",
            "cd-s2",
            "--trial-skip",
            "--networks",
            "2",
            "--rounds",
            "12",
            "--per-pattern",
            "1",
            "--checkpoint-every",
            "2",
        ],
        Duration::from_secs(400),
    );
}
