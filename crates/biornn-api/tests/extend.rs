//! A finished run continues with a larger budget (`biornn train --resume RUN --max-steps N`) to
//! exactly the run trained to that budget at once, for every kind of run.

use biornn_api::{Config, RunOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// `model.npz` without the clocks and the seal, and `metrics.csv` without its clock columns.
fn result(
    dir: &Path,
) -> (
    BTreeMap<String, biornn_numerics::npz::NpyArray>,
    Vec<Vec<String>>,
) {
    let mut arrays = biornn_numerics::npz::read_npz(&dir.join("model.npz")).unwrap();
    arrays.retain(|k, _| !(k.contains("wall") || k.contains("seconds") || k == "checksum"));
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let keep: Vec<usize> = (0..rows[0].len())
        .filter(|&i| !["wall_s", "train_s"].contains(&rows[0][i].as_str()))
        .collect();
    let rows = rows
        .iter()
        .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
        .collect();
    (arrays, rows)
}

fn extends_to_the_run_trained_at_once(label: &str, cfg: Config, short: usize, long: usize) {
    let base = std::env::temp_dir().join(format!("biornn-extend-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let opts = RunOptions::default();
    let mut cfg = cfg;
    cfg.set_max_steps(long).unwrap();
    biornn_api::train_in(&cfg, &base.join("at-once"), &opts).unwrap();
    cfg.set_max_steps(short).unwrap();
    biornn_api::train_in(&cfg, &base.join("extended"), &opts).unwrap();
    // a budget the run has already done is refused, naming the flag
    let err = biornn_api::resume_to(&base.join("extended"), Some(short), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--max-steps"), "{label}: {err}");
    let f = biornn_api::resume_to(&base.join("extended"), Some(long), &opts).unwrap();
    assert_eq!(f.steps, long, "{label}");
    let (a, b) = (
        result(&base.join("at-once")),
        result(&base.join("extended")),
    );
    assert_eq!(a.1, b.1, "{label}: metrics");
    assert_eq!(
        a.0.keys().collect::<Vec<_>>(),
        b.0.keys().collect::<Vec<_>>(),
        "{label}"
    );
    for (k, v) in &a.0 {
        assert_eq!(Some(v), b.0.get(k), "{label}: {k}");
    }
    // the run directory's config records the new budget
    let text = std::fs::read_to_string(base.join("extended/config.toml")).unwrap();
    assert!(text.contains(&long.to_string()), "{label}: {text}");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_finished_ctrnn_run_continues_to_a_larger_budget() {
    extends_to_the_run_trained_at_once(
        "ctrnn",
        Config::from_toml(
            "[model]\nn_rec = 16\n[train]\nbatch_size = 8\neval_every = 5\neval_trials = 8\ntarget_perf = 1.0\n",
        )
        .unwrap(),
        10,
        20,
    );
}

#[test]
fn a_finished_reservoir_ensemble_continues_to_a_larger_budget() {
    extends_to_the_run_trained_at_once(
        "reservoir",
        Config::from_toml(
            "[network]\nkind = \"reservoir\"\nn_rec = 30\n[task]\nperiod_steps = 100\n\
             [train]\neval_every = 100\neval_steps = 100\nnetworks = 2\n",
        )
        .unwrap(),
        300,
        600,
    );
}

#[test]
fn a_finished_longterm_run_continues_to_more_rounds() {
    use biornn_tasks::temporalskip::TsRule;
    use biornn_train::longterm::{LongTermConfig, Method};
    let mut c =
        LongTermConfig::reference(TsRule::DlyGo, Method::parse("dasc-t20-s2-b0.5").unwrap(), 2);
    (
        c.n_rec,
        c.batch,
        c.updates_per_round,
        c.eval_trials,
        c.stage_rounds,
    ) = (12, 4, 2, 8, 2);
    extends_to_the_run_trained_at_once("longterm", Config::LongTerm(c), 2, 4);
}

/// NeuroGym's layout (trials back to back, cut into windows): a resumed run replays its rows'
/// streams and continues them exactly.
#[test]
fn a_stream_layout_run_continues_to_a_larger_budget() {
    extends_to_the_run_trained_at_once(
        "stream",
        Config::from_toml(
            "[task]\nbattery = \"modcog\"\nrules = [\"go\", \"dms\"]\ndt = 100.0\nsigma_x = 0.0\n\
             layout = \"stream\"\nwindow = 30\n\
             [model]\nn_rec = 16\nreadout = \"logits\"\n\
             [train]\nloss = \"cross_entropy\"\nbatch_size = 4\neval_every = 5\neval_trials = 8\n\
             target_perf = 1.0\n",
        )
        .unwrap(),
        10,
        20,
    );
}

/// A budget at or below what the run has done is refused, whether that state is in `model.npz` or
/// only in a checkpoint (a run killed while being taken further).
#[test]
fn a_budget_below_the_newest_state_is_refused() {
    let dir = std::env::temp_dir().join(format!("biornn-extend-{}-refuse", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = RunOptions::default();
    let mut cfg = Config::from_toml(
        "[model]\nn_rec = 8\n[train]\nbatch_size = 4\neval_every = 5\neval_trials = 4\ntarget_perf = 1.0\n",
    )
    .unwrap();
    cfg.set_max_steps(10).unwrap();
    biornn_api::train_in(&cfg, &dir, &opts).unwrap();
    biornn_api::resume_to(&dir, Some(20), &opts).unwrap();
    // as if killed after its last checkpoint, before model.npz was written
    std::fs::remove_file(dir.join("model.npz")).unwrap();
    let err = biornn_api::resume_to(&dir, Some(15), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--max-steps") && err.contains("20 updates"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
