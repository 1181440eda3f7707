//! Fuzzing what users hand us: TOML configs (random text and mutations of the default) and
//! checkpoint files (mutations of a real one). Every input is accepted or rejected with an error;
//! nothing panics.

use biornn_train::config::{RunConfig, DEFAULT_CONFIG_TOML};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn configs_are_accepted_or_rejected_never_panic() {
    let lines: Vec<&str> = DEFAULT_CONFIG_TOML.lines().collect();
    let tokens = [
        "-1",
        "0",
        "1e400",
        "nan",
        "\"x\"",
        "[]",
        "{}",
        "true",
        "3.5",
        "\"all\"",
        "[\"dm9\"]",
        "{ kind = \"ring\" }",
        "1000000000000000000000",
    ];
    let executed = Cell::new(0usize);
    let messages = RefCell::new(BTreeSet::new());
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec((0..lines.len(), 0..tokens.len(), any::<bool>()), 1..4),
        "[ -~\n]{0,40}",
    );
    runner
        .run(&strategy, |(edits, junk)| {
            let mut text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            for (line, token, drop) in edits {
                if drop {
                    text[line].clear();
                } else if let Some((key, _)) = text[line].split_once('=') {
                    text[line] = format!("{key}= {}", tokens[token]);
                } else {
                    text[line] = tokens[token].to_string();
                }
            }
            let mut joined = text.join("\n");
            joined.push_str(&junk);
            executed.set(executed.get() + 1);
            if let Err(e) = RunConfig::from_toml(&joined) {
                messages.borrow_mut().insert(e.to_string());
            }
            executed.set(executed.get() + 1);
            if let Err(e) = RunConfig::from_toml(&junk) {
                messages.borrow_mut().insert(e.to_string());
            }
            Ok(())
        })
        .unwrap();
    let distinct = messages.borrow().len();
    println!(
        "fuzz configs: {} inputs, {distinct} distinct error messages, 0 panics",
        executed.get()
    );
    assert!(distinct > 10);
}

#[test]
fn checkpoints_are_loaded_or_rejected_never_panic() {
    let dir = std::env::temp_dir().join(format!("biornn-fuzz-ckpt-{}", std::process::id()));
    let mut c = RunConfig::default();
    c.model.n_rec = 8;
    c.task.rules = vec!["fdgo".into()];
    c.train.max_steps = 2;
    c.train.eval_trials = 8;
    c.train.batch_size = 4;
    let run = biornn_train::trainer::create_run_dir(&dir, "r").unwrap();
    biornn_train::trainer::train(&c, &run, &Default::default()).unwrap();
    let good = std::fs::read(run.join("model.npz")).unwrap();
    let path = run.join("fuzzed.npz");
    let executed = Cell::new(0usize);
    let rejected = Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: cases() / 4,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec((0..good.len(), any::<u8>()), 1..6),
        1..=good.len(),
    );
    runner
        .run(&strategy, |(flips, cut)| {
            let mut bytes = good.clone();
            for (i, v) in flips {
                bytes[i] = v;
            }
            bytes.truncate(cut);
            std::fs::write(&path, &bytes).unwrap();
            executed.set(executed.get() + 1);
            if biornn_train::checkpoint::load_training(&path).is_err() {
                rejected.set(rejected.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    println!(
        "fuzz checkpoints: {} inputs, {} rejected with an error, 0 panics",
        executed.get(),
        rejected.get()
    );
    // a changed byte must be caught (by the zip structure, the array headers or the checksum)
    assert!(
        rejected.get() * 10 >= executed.get() * 9,
        "{} of {} accepted",
        executed.get() - rejected.get(),
        executed.get()
    );
    std::fs::remove_dir_all(&dir).ok();
}
