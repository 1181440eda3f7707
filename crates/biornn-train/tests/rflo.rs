//! RFLO as a rule for the CTRNN: its config, that it learns, and that its runs resume bit for bit.

use biornn_model::Feedback;
use biornn_numerics::npz::read_npz;
use biornn_train::config::{RunConfig, DEFAULT_RFLO_CONFIG_TOML};
use biornn_train::trainer::{self, TrainOptions};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("biornn-rflo-{}-{name}", std::process::id()))
}

#[test]
fn the_rule_section_selects_rflo_and_bad_values_are_named() {
    let c = RunConfig::from_toml(DEFAULT_RFLO_CONFIG_TOML).unwrap();
    assert_eq!(c.rule.kind, "rflo");
    assert_eq!(c.rule.feedback, Some(Feedback::Random));
    // the default feedback is written out with the resolved config
    let c = RunConfig::from_toml("[rule]\nkind = \"rflo\"\n").unwrap();
    assert!(
        c.to_toml().contains("feedback = \"random\""),
        "{}",
        c.to_toml()
    );
    let c = RunConfig::from_toml("[rule]\nkind = \"rflo\"\nfeedback = \"readout\"\n").unwrap();
    assert_eq!(c.rule.feedback, Some(Feedback::Readout));
    // BPTT's config has no feedback key written, and refuses one
    assert!(!RunConfig::default().to_toml().contains("feedback"));
    let e = RunConfig::from_toml("[rule]\nfeedback = \"readout\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("rule.feedback") && e.contains("rflo"), "{e}");
    let e = RunConfig::from_toml("[rule]\nkind = \"force\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rule.kind") && e.contains("\"bptt\", \"rflo\""),
        "{e}"
    );
    let e = RunConfig::from_toml("[rule]\nkind = \"rflo\"\nfeedback = \"mirror\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("feedback") && e.contains("mirror"), "{e}");
}

fn small(feedback: &str, steps: usize) -> RunConfig {
    let mut c = RunConfig::from_toml(&format!(
        "[rule]\nkind = \"rflo\"\nfeedback = \"{feedback}\"\n"
    ))
    .unwrap();
    c.task.rules = vec!["fdgo".into()];
    c.model.n_rec = 32;
    c.train.batch_size = 32;
    c.train.max_steps = steps;
    c.train.eval_every = steps.min(100);
    c.train.eval_trials = 128;
    c
}

#[test]
fn rflo_with_readout_feedback_learns_a_go_task() {
    let base = tmp("learn");
    let c = small("readout", 300);
    let dir = trainer::create_run_dir(&base, "fdgo").unwrap();
    let s = trainer::train(&c, &dir, &TrainOptions::default()).unwrap();
    assert!(s.min_perf >= 0.9, "fdgo performance {}", s.min_perf);
    // the run's checkpoints hold no random feedback (there is none) and its config says rflo
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(text.contains("kind = \"rflo\""), "{text}");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn rflo_runs_resume_bit_identically() {
    let base = tmp("resume");
    let mut c = small("random", 12);
    c.train.eval_every = 3;
    c.train.checkpoint_every = 1;
    let full = trainer::create_run_dir(&base, "full").unwrap();
    trainer::train(&c, &full, &TrainOptions::default()).unwrap();
    // the newest checkpoint carries the random feedback matrix B, (n_rec, n_out)
    let ckpts: Vec<_> = std::fs::read_dir(full.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let newest = ckpts.iter().max().unwrap();
    let b = read_npz(newest).unwrap()["rflo_feedback"].clone();
    assert_eq!(b.shape, vec![32, 33]);

    // a run stopped at 6 updates and resumed to 12 ends where the straight run did
    let mut short = c.clone();
    short.train.max_steps = 6;
    let part = trainer::create_run_dir(&base, "part").unwrap();
    trainer::train(&short, &part, &TrainOptions::default()).unwrap();
    trainer::resume(
        &part,
        &TrainOptions {
            max_steps: Some(12),
            ..Default::default()
        },
    )
    .unwrap();
    let strip = |p: &PathBuf| {
        let mut m = read_npz(&p.join("model.npz")).unwrap();
        m.remove("state_wall_s");
        m.remove("checksum");
        m.remove("config_toml");
        m
    };
    assert_eq!(strip(&part), strip(&full));
    std::fs::remove_dir_all(&base).ok();
}
