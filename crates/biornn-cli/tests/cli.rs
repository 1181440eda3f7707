//! The `biornn` binary end to end.

mod common;
use biornn_numerics::npz::{read_npz, NpyData};
use std::path::{Path, PathBuf};
use std::process::Command;

fn biornn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_biornn"))
}

/// Runs `cmd`, asserts that it succeeded (showing its stderr if not) and returns its stdout.
fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs `cmd`, which must fail with `word` in its error.
fn refused(cmd: &mut Command, word: &str) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(word), "{err}");
}

/// The number printed as `key=value` on a line of `out` (the bench commands' output).
fn key_value(out: &str, key: &str) -> f64 {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {out}"))
        .parse()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("biornn-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn f32s(a: &biornn_numerics::npz::NpyArray) -> Vec<f32> {
    a.to_real::<f32>().unwrap()
}

#[test]
fn task_dump_matches_the_hand_worked_trial() {
    let dir = tmp("dump");
    let out = dir.join("fdgo.npz");
    let st = biornn()
        .args([
            "task",
            "dump",
            "fdgo",
            "--batch",
            "8",
            "--seed",
            "3",
            "--no-noise",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let a = read_npz(&out).unwrap();
    let (t, b) = (a["x"].shape[0], a["x"].shape[1]);
    assert_eq!(a["x"].shape, vec![t, b, 85]);
    assert_eq!(a["y"].shape, vec![t, b, 33]);
    assert_eq!(a["mask"].shape, vec![t, b, 33]);
    assert_eq!(a["y_loc"].shape, vec![t, b]);
    assert_eq!(b, 8);
    let x = f32s(&a["x"]);
    let y = f32s(&a["y"]);
    let mask = f32s(&a["mask"]);
    let y_loc = f32s(&a["y_loc"]);
    let on = f32s(&a["stim1_on"]);
    let fix_off = f32s(&a["fix_off"]);
    let loc = f32s(&a["stim1_loc"]);
    let m1 = f32s(&a["stim1_mod1_strength"]);
    for i in 0..b {
        let (on, off) = (on[i] as usize, fix_off[i] as usize);
        assert_eq!(off + 25, t, "500 ms after the go cue");
        let xi = |s: usize, ch: usize| x[(s * b + i) * 85 + ch];
        // fixation input until the go cue
        assert!((0..off).all(|s| xi(s, 0) == 1.0) && (off..t).all(|s| xi(s, 0) == 0.0));
        // rule channel 65 + 0 throughout
        assert!((0..t).all(|s| xi(s, 65) == 1.0));
        // the stimulus bump peaks at the unit nearest its angle, in the ring of its modality
        let ring = if m1[i] == 1.0 { 1 } else { 33 };
        let unit = ((loc[i] as f64 / (2.0 * std::f64::consts::PI) * 32.0).round() as usize) % 32;
        assert_eq!(xi(on - 1, ring + unit), 0.0);
        assert!(xi(on, ring + unit) > 0.77 && xi(t - 1, ring + unit) > 0.77);
        // targets and cost mask
        let yi = |s: usize, ch: usize| y[(s * b + i) * 33 + ch];
        let ci = |s: usize, ch: usize| mask[(s * b + i) * 33 + ch];
        assert_eq!(yi(off - 1, 0), 0.8);
        assert_eq!(yi(off, 0), 0.05);
        assert!((yi(t - 1, 1 + unit) - 0.85).abs() < 0.04);
        assert_eq!(y_loc[(off - 1) * b + i], -1.0);
        assert!((y_loc[off * b + i] - loc[i]).abs() < 1e-6);
        assert_eq!((ci(4, 0), ci(5, 0), ci(5, 1)), (0.0, 2.0, 1.0));
        assert_eq!(
            (ci(off, 1), ci(off + 4, 1), ci(off + 5, 1), ci(off + 5, 0)),
            (0.0, 0.0, 5.0, 10.0)
        );
    }
    // epochs
    match &a["epoch_go1_on"].data {
        NpyData::I32(v) => assert!(v.iter().zip(&fix_off).all(|(e, f)| *e as f32 == *f)),
        d => panic!("{d:?}"),
    }
    assert_eq!(a["task"].as_string().unwrap(), "fdgo");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dumps_are_reproducible_and_noise_can_be_left_out() {
    let dir = tmp("repro");
    let run = |name: &str, extra: &[&str]| {
        let p = dir.join(name);
        let st = biornn()
            .args(["task", "dump", "contextdm1", "--batch", "4", "--seed", "5"])
            .args(extra)
            .arg("--out")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read(p).unwrap()
    };
    assert_eq!(run("a.npz", &[]), run("b.npz", &[]));
    assert_ne!(run("c.npz", &[]), run("d.npz", &["--no-noise"]));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let dir = tmp("bad");
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[model]\nn_rec = -3\n").unwrap();
    for args in [
        vec!["check".to_string(), cfg.display().to_string()],
        vec![
            "task".into(),
            "dump".into(),
            "dm3".into(),
            "--out".into(),
            dir.join("x.npz").display().to_string(),
        ],
        vec![
            "train".into(),
            dir.join("missing.toml").display().to_string(),
        ],
        vec!["eval".into(), dir.join("nothing").display().to_string()],
        // a budget a run's config.toml could not hold, and none at all
        vec![
            "train".into(),
            "--max-steps".into(),
            "9223372036854775808".into(),
            "--runs".into(),
            dir.display().to_string(),
        ],
        vec![
            "train".into(),
            "--max-steps".into(),
            "0".into(),
            "--runs".into(),
            dir.display().to_string(),
        ],
    ] {
        let out = biornn().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let out = biornn()
        .args(["task", "dump", "dm3", "--out", "x.npz"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `dm1`"));
    // nothing was started by the refused budgets
    assert!(std::fs::read_dir(&dir)
        .unwrap()
        .all(|e| e.unwrap().path().extension().is_some()));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn train_then_eval() {
    let dir = tmp("train");
    let text = succeed(
        biornn()
            .args([
                "train",
                "--max-steps",
                "6",
                "--quiet",
                "--name",
                "t",
                "--runs",
            ])
            .arg(&dir),
    );
    assert!(text.contains("after 6 steps"), "{text}");
    let out = biornn()
        .args(["eval", "--json", "--trials", "32"])
        .arg(dir.join("t"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tasks"].as_array().unwrap().len(), 6);
    assert!(v["min_perf"].as_f64().unwrap() >= 0.0);
    // the printed default config is the one `check` accepts
    let out = biornn().arg("config").output().unwrap();
    std::fs::write(dir.join("d.toml"), &out.stdout).unwrap();
    assert!(biornn()
        .arg("check")
        .arg(dir.join("d.toml"))
        .status()
        .unwrap()
        .success());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn train_into_a_directory_holding_the_run_goes_on_with_it() {
    let dir = tmp("train_out");
    let train = |out: &str, extra: &[&str]| {
        let mut cmd = biornn();
        cmd.args(["train", "--quiet"])
            .args(extra)
            .arg("--out")
            .arg(dir.join(out));
        cmd
    };
    let w_rec = |out: &str| {
        let a = read_npz(&dir.join(out).join("model.npz")).unwrap();
        f32s(&a["W_rec"])
    };
    succeed(&mut train("whole", &["--max-steps", "8"]));
    // a run finished at 4 updates, asked for 8, goes on to the weights trained to 8 at once
    succeed(&mut train("short", &["--max-steps", "4"]));
    let text = succeed(&mut train("short", &["--max-steps", "8"]));
    assert!(text.contains("after 8 steps"), "{text}");
    assert_eq!(w_rec("short"), w_rec("whole"));
    let text = succeed(&mut train("short", &["--max-steps", "8"]));
    assert!(text.contains("8 steps, done"), "{text}");
    refused(
        &mut train("short", &["--max-steps", "8", "--seed", "2"]),
        "seed: 1, 2",
    );
    // an extension that fails before its first step leaves the run finished as it was
    let config = dir.join("short/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\nbogus = 1\n")).unwrap();
    refused(
        biornn()
            .args(["train", "--resume"])
            .arg(dir.join("short"))
            .args(["--max-steps", "12"]),
        "bogus",
    );
    assert!(dir.join("short/summary.json").exists());
    assert!(std::fs::read_to_string(&config).unwrap().contains("bogus"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn longterm_runs_and_rejects_bad_input() {
    let dir = tmp("longterm");
    let text = succeed(
        biornn()
            .args([
                "longterm",
                "dlygo",
                "--method",
                "dasc-t20-s2-b0.5",
                "--networks",
                "2",
                "--max-rounds",
                "2",
                "--quiet",
                "--out",
            ])
            .arg(&dir),
    );
    assert!(
        text.contains("task=dlygo method=dasc-t20-s2-b0.5 networks=2") && text.contains("rounds=2"),
        "{text}"
    );
    let history = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    // one stage of one round (2 / 2 stages), then plain training
    assert_eq!(history.lines().count(), 3);
    assert!(
        history.lines().nth(1).unwrap().starts_with("1,10,0,"),
        "{history}"
    );
    assert!(
        history.lines().nth(2).unwrap().starts_with("2,20,1,"),
        "{history}"
    );
    assert!(std::fs::read_to_string(dir.join("summary.json"))
        .unwrap()
        .contains("\"network_updates_to_criterion\""));
    // each network scored on fresh trials, with the parts of the protocol's score: dlygo is of
    // the reference's structure B, performance = 4/5 fix1 + 1/5 fix2 res; the same call twice
    // gives the same scores (streams of its own under the run's seed)
    let eval = || {
        let text = succeed(
            biornn()
                .arg("eval")
                .arg(&dir)
                .args(["--trials", "30", "--json"]),
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let report = eval();
    let networks = report["networks"].as_array().unwrap();
    assert_eq!(networks.len(), 2, "{report}");
    for (k, s) in networks.iter().enumerate() {
        let part = |key: &str| s[key].as_f64().unwrap();
        assert_eq!(s["network"], k);
        assert_eq!(s["trials"], 30);
        let perf = 0.8 * part("fix1") + 0.2 * part("fix2") * part("res");
        assert!((part("perf") - perf).abs() < 1e-12, "{s}");
    }
    assert_eq!(report["recurrent_noise"], true);
    assert!(report["trimmed_mean"].is_number(), "{report}");
    assert_eq!(eval(), report);
    refused(
        biornn().arg("eval").arg(&dir).args(["--trials", "0"]),
        "--trials",
    );
    // the run's weights file names the same run
    let text = succeed(
        biornn()
            .arg("eval")
            .arg(dir.join("model.npz"))
            .args(["--trials", "30", "--json"]),
    );
    let by_file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(by_file["networks"], report["networks"]);
    assert_eq!(report["updates"], 20, "two rounds of 10 updates");
    // from inside the run, by relative paths: its model.npz and a checkpoint of it
    let checkpoint = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .next()
        .expect("a checkpoint")
        .unwrap()
        .file_name();
    for (at, file) in [
        (dir.clone(), PathBuf::from("model.npz")),
        (dir.clone(), Path::new("checkpoints").join(&checkpoint)),
        (dir.join("checkpoints"), PathBuf::from(&checkpoint)),
    ] {
        let text = succeed(
            biornn()
                .current_dir(&at)
                .arg("eval")
                .arg(&file)
                .args(["--trials", "30", "--json"]),
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["networks"].as_array().unwrap().len(), 2, "{file:?}: {v}");
        if file == Path::new("model.npz") {
            assert_eq!(v["networks"], report["networks"]);
        }
    }
    // a long-term run's weights copied out of the run: refused, saying to use the run directory
    std::fs::copy(dir.join("model.npz"), tmp("lt-copy").join("weights.npz")).unwrap();
    let out = biornn()
        .arg("eval")
        .arg(tmp("lt-copy").join("weights.npz"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("from its run directory"),
        "{err}"
    );
    // without recurrent noise: said so, and other scores
    let text = succeed(biornn().arg("eval").arg(&dir).args([
        "--trials",
        "30",
        "--json",
        "--recurrent-noise",
        "off",
    ]));
    let quiet: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(quiet["recurrent_noise"], false);
    assert_ne!(quiet["networks"], report["networks"]);
    let table = succeed(biornn().arg("eval").arg(&dir).args(["--trials", "30"]));
    assert!(
        table.contains("fix1") && table.contains("trimmed mean"),
        "{table}"
    );
    // each of the K networks can be analysed, one at a time
    let text = succeed(biornn().arg("analyze").arg(&dir).args([
        "--what",
        "fixed-points,pca",
        "--inits",
        "8",
        "--net",
        "1",
    ]));
    assert!(text.contains("fixed points"), "{text}");
    assert!(dir.join("analysis/net1/fixed_points.npz").exists());
    let out = biornn()
        .arg("analyze")
        .arg(&dir)
        .args(["--net", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--net") && err.contains("0 to 1"),
        "{err}"
    );
    for (args, words) in [
        (vec!["longterm", "dlygoo"], vec!["TASK", "dlygoo", "dlygo"]),
        (
            vec!["longterm", "dms", "--method", "dasc-t1-s2-b0"],
            vec!["method", "dasc-t1-s2-b0", "dasc-t20-s6-b0.5"],
        ),
        (
            vec!["longterm", "dms", "--method", "cd-s4"],
            vec!["cd-s4", "2, 3, 6 or 11"],
        ),
        (
            vec![
                "longterm",
                "dms",
                "--method",
                "sctt-t10-s11-b0",
                "--stage-rounds",
                "5",
            ],
            vec!["stage_rounds", "11 stages"],
        ),
    ] {
        let out = biornn().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        for w in words {
            assert!(err.contains(w), "{args:?}: {err}");
        }
    }
}

#[test]
fn longterm_into_a_directory_holding_the_run_goes_on_with_it() {
    let dir = tmp("longterm_again");
    // 2 networks and 2 stage rounds unless `extra` says otherwise
    let longterm = |out: &str, extra: &[&str]| {
        let mut cmd = biornn();
        cmd.args([
            "longterm",
            "dlygo",
            "--method",
            "dasc-t20-s2-b0.5",
            "--quiet",
        ])
        .args(extra);
        for (flag, default) in [("--networks", "2"), ("--stage-rounds", "2")] {
            if !extra.contains(&flag) {
                cmd.args([flag, default]);
            }
        }
        cmd.arg("--out").arg(dir.join(out));
        cmd
    };
    // metrics.csv without the timing columns (train_s, wall_s)
    let rows = |out: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(out).join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                [&c[..5], &c[6..7]].concat().join(",")
            })
            .collect()
    };
    let whole = ["--max-rounds", "4", "--checkpoint-every", "1"];
    succeed(&mut longterm("whole", &whole));
    assert_eq!(rows("whole").len(), 5);
    // asked again: done, nothing rewritten
    let before = std::fs::read_to_string(dir.join("whole/metrics.csv")).unwrap();
    let text = succeed(&mut longterm("whole", &whole));
    assert!(text.contains("4 rounds, done"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.join("whole/metrics.csv")).unwrap(),
        before
    );
    // a run finished at 2 rounds, asked for 4, goes on to the run trained to 4 at once
    succeed(&mut longterm("short", &["--max-rounds", "2"]));
    succeed(&mut longterm("short", &["--max-rounds", "4"]));
    assert_eq!(rows("short"), rows("whole"));
    let summary = std::fs::read_to_string(dir.join("short/summary.json")).unwrap();
    assert!(summary.contains("\"rounds\": 4"), "{summary}");
    // killed after its oldest checkpoint kept: the same command resumes it to the same rows
    let killed = dir.join("killed");
    std::fs::create_dir_all(killed.join("checkpoints")).unwrap();
    let mut kept: Vec<_> = std::fs::read_dir(dir.join("whole/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    kept.sort();
    assert!(kept[0].to_str() < Some("step_00000004.npz"), "{kept:?}");
    let oldest = Path::new("checkpoints").join(&kept[0]);
    for f in [Path::new("config.toml"), Path::new("metrics.csv"), &oldest] {
        std::fs::copy(dir.join("whole").join(f), killed.join(f)).unwrap();
    }
    succeed(&mut longterm("killed", &whole));
    assert_eq!(rows("killed"), rows("whole"));
    // results kept without weights stand as they are, and cannot go further
    let results = dir.join("results");
    std::fs::create_dir_all(&results).unwrap();
    for f in ["config.toml", "metrics.csv", "summary.json"] {
        std::fs::copy(dir.join("whole").join(f), results.join(f)).unwrap();
    }
    let text = succeed(&mut longterm("results", &whole));
    assert!(text.contains("4 rounds, done"), "{text}");
    refused(
        &mut longterm("results", &["--max-rounds", "6"]),
        "results only",
    );
    // another run in the directory is refused, naming what differs, and left alone
    refused(
        &mut longterm("whole", &["--max-rounds", "4", "--networks", "3"]),
        "networks: 2, 3",
    );
    refused(
        &mut longterm("whole", &["--max-rounds", "4", "--stage-rounds", "4"]),
        "stage_rounds: 2, 4",
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("whole/metrics.csv")).unwrap(),
        before
    );
}

#[test]
fn longterm_summary_lays_out_a_grid_with_one_colour_per_method() {
    // four tasks: three trained with "base" only, one with "zeta" only, so that "zeta" is the
    // first method of its own panel but the second of the whole figure
    let dir = tmp("longterm_summary");
    let _ = std::fs::remove_dir_all(&dir);
    // the guard retired network 1 of tb's run
    for (task, method, reached, retired) in [
        ("ta", "base", "null", "[]"),
        ("tb", "base", "20", "[1]"),
        ("tc", "zeta", "30", "[]"),
        ("td", "base", "null", "[]"),
    ] {
        let d = dir.join(task).join(method);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("summary.json"),
            format!(
                r#"{{"method": "{method}", "task": "{task}", "network_updates_to_criterion": [{reached}, {reached}],
                "reached": false, "updates": 30, "train_seconds": 1.4, "retired_networks": {retired}}}"#
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("history.csv"),
            "round,updates,stage,trimmed_mean,fraction_at_criterion,train_s,train_loss\n\
             1,10,plain,0.5,0.0,0.5,1.0\n2,20,plain,0.9,0.5,1.0,0.5\n3,30,plain,0.99,0.5,1.5,0.2\n",
        )
        .unwrap();
    }
    let fig = dir.join("fig");
    let text = succeed(
        biornn()
            .arg("longterm-summary")
            .arg(&dir)
            .arg("--figure")
            .arg(&fig),
    );
    assert!(
        text.contains("| tc | zeta | 2 | 2 | 30 [30, 30] | not within 30 updates | 1 |"),
        "{text}"
    );
    assert!(
        text.contains("Retired by the divergence guard") && text.contains(": tb base: network 1."),
        "{text}"
    );
    let svg = std::fs::read_to_string(fig.with_extension("svg")).unwrap();
    // three panels to a row: two rows of 320 px
    assert!(
        svg.contains(r#"width="1030" height="640""#),
        "{}",
        &svg[..200]
    );
    // "zeta" is drawn in the figure's second colour, not its panel's first
    assert!(svg.contains(r##"stroke="#ff7f0e""##));
    assert!(std::fs::metadata(fig.with_extension("png")).unwrap().len() > 0);
}

#[test]
fn reversal_runs_summarises_and_rejects_bad_input() {
    let dir = tmp("reversal");
    let run = |setting_dir: &str, extra: &[&str]| {
        succeed(
            biornn()
                .args([
                    "reversal",
                    "--networks",
                    "2",
                    "--rounds",
                    "2",
                    "--per-pattern",
                    "1",
                ])
                .args(extra)
                .args(["--quiet", "--out"])
                .arg(dir.join(setting_dir)),
        )
    };
    let text = run(
        "dasc+trial",
        &["--method", "dasc-t40-s2-b0.5", "--trial-skip"],
    );
    assert!(
        text.contains("setting=dasc-t40-s2-b0.5+trial networks=2 rounds=2 updates=20"),
        "{text}"
    );
    let history = std::fs::read_to_string(dir.join("dasc+trial/metrics.csv")).unwrap();
    // stage rounds default to half the rounds: one round per stage (beta 0.5, then 1)
    assert_eq!(history.lines().count(), 3);
    assert!(
        history.lines().nth(1).unwrap().starts_with("1,10,0,"),
        "{history}"
    );
    assert!(
        history.lines().nth(2).unwrap().starts_with("2,20,1,"),
        "{history}"
    );
    run("base", &[]);
    let text = succeed(
        biornn()
            .arg("analyze")
            .arg(dir.join("base"))
            .args(["--what", "pca", "--net", "1"]),
    );
    assert!(text.contains("analysis"), "{text}");
    // `eval`: each network on a batch of 8 sequences (one per rule pattern, 5 trials each), its
    // answers right after a reversal and after none
    let text = succeed(
        biornn()
            .arg("eval")
            .arg(dir.join("base"))
            .args(["--trials", "40"]),
    );
    assert!(text.contains("round 2, 20 updates"), "{text}");
    assert!(
        text.contains("after_stay") && text.contains("after_switch"),
        "{text}"
    );
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("reversal"))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().all(|r| r.trim_end().ends_with(" 40")), "{text}");
    let out = biornn()
        .arg("reversal-summary")
        .arg(&dir)
        .arg("--figure")
        .arg(dir.join("fig"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(table.contains("| base | 2 | 20 |"), "{table}");
    assert!(
        table.contains("| dasc-t40-s2-b0.5+trial | 2 | 20 |"),
        "{table}"
    );
    assert!(dir.join("fig.png").exists() && dir.join("fig.svg").exists());
    for (args, words) in [
        (
            vec!["reversal", "--method", "sctt-t1-s2-b0"],
            vec!["method", "sctt-t1-s2-b0", "allowed"],
        ),
        (
            vec!["reversal", "--per-pattern", "0"],
            vec!["per_pattern", "at least 1"],
        ),
    ] {
        let out = biornn().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        for w in words {
            assert!(err.contains(w), "{args:?}: {err}");
        }
    }
}

#[test]
fn runs_summary_compares_settings_by_a_metrics_column() {
    // setting "a" with two seeds (one reaches 0.9 at step 20, one never), setting "b" a run itself
    let dir = tmp("runs_summary");
    let _ = std::fs::remove_dir_all(&dir);
    let write = |d: PathBuf, rows: &str| {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.toml"), "name = \"x\"\n").unwrap();
        std::fs::write(
            d.join("metrics.csv"),
            format!("step,mean_acc,wall_s\n{rows}"),
        )
        .unwrap();
    };
    write(
        dir.join("a/seed-1"),
        "0,0.1,1\n10,0.5,2\n20,0.95,3\n30,0.97,4\n",
    );
    write(dir.join("a/seed-2"), "0,0.1,1\n10,0.3,2\n20,0.4,3\n");
    write(dir.join("b"), "0,0.2,1\n10,0.91,2\n");
    // b stopped at step 10 because it reached its criterion: its last value stands at later budgets
    std::fs::write(
        dir.join("b/summary.json"),
        "{\"steps\": 10, \"reached_target\": true}",
    )
    .unwrap();
    let fig = dir.join("fig");
    let text = succeed(
        biornn()
            .arg("runs-summary")
            .arg(&dir)
            .args([
                "--value",
                "mean_acc",
                "--level",
                "0.9",
                "--budgets",
                "10,25",
                "--figure",
            ])
            .arg(&fig),
    );
    // a: one of two reached (the quartiles lean towards the run that did not); at 10 the mean of 0.5
    // and 0.3; at 25 only seed 1 got that far
    assert!(
        text.contains("| a | 2 | 1 | not reached [not reached, not reached] | 0.400 (2) | 0.950 (1) | 0.685 | 30 |"),
        "{text}"
    );
    assert!(
        text.contains("| b | 1 | 1 | 10 [10, 10] | 0.910 (1) | 0.910 (1) | 0.910 | 10 |"),
        "{text}"
    );
    assert!(fig.with_extension("svg").exists() && fig.with_extension("png").exists());
    let out = biornn()
        .arg("runs-summary")
        .arg(&dir)
        .args(["--value", "mean_accc"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--value") && err.contains("mean_acc"),
        "{err}"
    );
}

#[test]
fn runs_summary_reports_trials_and_density_of_ctrnn_runs() {
    // two settings of real CTRNN configs (128 units): autapses (density 1/128) and a ring of
    // radius 4 (9/128); metrics with a trials column, 8 trials an update
    let dir = tmp("runs_summary_density");
    let _ = std::fs::remove_dir_all(&dir);
    let default = succeed(biornn().arg("config"));
    let write = |d: PathBuf, mask: &str, rows: &str| {
        std::fs::create_dir_all(&d).unwrap();
        let cfg = default.replace(
            "recurrent = { kind = \"dense\" }",
            &format!("recurrent = {mask}"),
        );
        assert_ne!(cfg, default);
        std::fs::write(d.join("config.toml"), cfg).unwrap();
        std::fs::write(
            d.join("metrics.csv"),
            format!("step,trials,mean_acc\n{rows}"),
        )
        .unwrap();
    };
    let autapse = "{ kind = \"local\", radius = 0.0 }";
    let ring = "{ kind = \"local\", radius = 4.0 }";
    write(
        dir.join("autapse/seed-1"),
        autapse,
        "0,0,0.1\n10,80,0.3\n20,160,0.5\n",
    );
    write(
        dir.join("local/seed-1"),
        ring,
        "0,0,0.1\n10,80,0.92\n20,160,0.95\n",
    );
    write(
        dir.join("local/seed-2"),
        ring,
        "0,0,0.1\n10,80,0.6\n20,160,0.91\n",
    );
    // given with an extension, which both figures replace (the density one beside, not over it)
    let fig = dir.join("fig.png");
    let text = succeed(
        biornn()
            .arg("runs-summary")
            .arg(&dir)
            .args(["--value", "mean_acc", "--budgets", "10,20", "--x", "trials"])
            .arg("--figure")
            .arg(&fig),
    );
    assert!(
        text.contains("| setting | density | runs | at 0.9 | updates to 0.9, median [IQR] | trials to 0.9, median [IQR] |"),
        "{text}"
    );
    assert!(
        text.contains("| autapse | 0.78% | 1 | 0 | not reached [not reached, not reached] | not reached [not reached, not reached] | 0.300 (1) | 0.500 (1) | 0.500 | 20 |"),
        "{text}"
    );
    // local: reached at 10 and 20 updates, 80 and 160 trials (median halfway)
    assert!(
        text.contains("| local | 7.03% | 2 | 2 | 15 [12, 18] | 120 [100, 140] | 0.760 (2) | 0.930 (2) | 0.930 | 20 |"),
        "{text}"
    );
    for f in [dir.join("fig"), dir.join("fig_density")] {
        assert!(
            f.with_extension("svg").exists() && f.with_extension("png").exists(),
            "{f:?}"
        );
    }
    // two figures (text is drawn as paths, so only the files can be compared)
    let svg = |name: &str| std::fs::read(dir.join(name)).unwrap();
    assert_ne!(svg("fig.svg"), svg("fig_density.svg"));
    // without a trials column, --x trials is refused by name
    std::fs::write(
        dir.join("local/seed-2/metrics.csv"),
        "step,mean_acc\n0,0.1\n",
    )
    .unwrap();
    let out = biornn()
        .arg("runs-summary")
        .arg(&dir)
        .args(["--value", "mean_acc", "--x", "trials"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("--x")
            && err.contains("trials")
            && err.contains("seed-2"),
        "{err}"
    );
}

#[test]
fn bench_elise_times_one_network_and_k_at_once() {
    let out = succeed(biornn().args([
        "bench", "elise", "--latent", "4", "--cycles", "2", "--k", "2",
    ]));
    let value = |key: &str| key_value(&out, key);
    assert_eq!(value("neurons"), 17.0);
    assert!(value("ms_per_cycle_one_core") > 0.0);
    assert!(value("cycles_per_s_all_k") > 0.0);
    refused(
        biornn().args(["bench", "elise", "--cycles", "0"]),
        "bench elise",
    );
}

#[test]
fn bench_products_times_faer_and_every_packed_path() {
    let out = succeed(biornn().args([
        "bench", "products", "--n", "20", "--batch", "7", "--reps", "20",
    ]));
    let value = |key: &str| out.lines().find_map(|l| l.strip_prefix(&format!("{key}=")));
    assert!(value("faer_us").unwrap().parse::<f64>().unwrap() > 0.0);
    // the scalar reference always runs (the command fails if a path's bits differ from the first)
    assert!(value("packed_scalar_us").unwrap().parse::<f64>().unwrap() > 0.0);
    assert!(["avx512", "avx2", "scalar", "faer"].contains(&value("networks_use").unwrap()));
    assert!(value("k3_one_by_one_us").is_none(), "lanes only with --k");
    refused(
        biornn().args(["bench", "products", "--batch", "0"]),
        "bench products",
    );
    // K networks in the lanes (the command fails if a network's product there is not its own)
    let out = succeed(biornn().args([
        "bench", "products", "--n", "20", "--batch", "7", "--reps", "20", "--k", "18",
    ]));
    let value = |key: &str| out.lines().find_map(|l| l.strip_prefix(&format!("{key}=")));
    for key in [
        "k18_one_by_one_us",
        "k18_lanes_us",
        "k18_lanes_with_layout_us",
        "k18_lanes_speedup",
    ] {
        assert!(value(key).unwrap().parse::<f64>().unwrap() > 0.0, "{key}");
    }
    refused(
        biornn().args(["bench", "products", "--k", "0"]),
        "bench products",
    );
}

#[test]
fn bench_longterm_counts_the_rounds_arithmetic_and_times_its_kernels() {
    let out =
        succeed(biornn().args(["bench", "longterm", "dms", "--networks", "3", "--reps", "1"]));
    let value = |key: &str| key_value(&out, key);
    // dms evaluates 200 trials at fixed epoch lengths; training trials are 20 a batch, trained
    // through from the end of their "pre" epoch
    let (train, eval) = (
        value("train_columns_per_network"),
        value("eval_columns_per_network"),
    );
    let back = value("backward_columns_per_network");
    assert!(train > 0.0 && train % 20.0 == 0.0, "{out}");
    assert!(eval > 0.0 && eval % 200.0 == 0.0, "{out}");
    assert!(back > 0.0 && back < train && back % 20.0 == 0.0, "{out}");
    // 3 networks of 50 units (20 fed, 20 read out), 85 inputs, 33 outputs: the flops by hand
    let (fed_in, nn, read_out, full_out) = (20.0 * 85.0, 2500.0, 20.0 * 33.0, 33.0 * 50.0);
    let forward = 2.0 * (fed_in + nn + full_out);
    let gradients = 2.0 * (read_out + nn + fed_in + read_out);
    let gflop = 3.0 * ((train + eval) * forward + train * gradients + back * 2.0 * nn) / 1e9;
    assert!((value("round_gflop") - gflop).abs() < 6e-4, "{out}");
    let kernels = value("per_step_products_thread_s")
        + value("whole_pass_products_thread_s")
        + value("normals_thread_s");
    assert!(kernels > 0.0);
    // printed to a microsecond each
    let threads = value("threads");
    let floor = value("floor_s_per_round");
    assert!(
        (floor * threads - kernels).abs() <= 2e-6 * (threads + 3.0),
        "{out}"
    );
    refused(
        biornn().args(["bench", "longterm", "--round", "4000"]),
        "--round",
    );
    refused(biornn().args(["bench", "longterm", "nosuchtask"]), "TASK");
    refused(
        biornn().args(["bench", "longterm", "--networks", "0"]),
        "networks",
    );
}

/// The staged training as a user chains it: the compatibility CNN, stage 2 from its model.npz
/// (folded, recurrent convs fitted), the linear network, PReLU annealed to ReLU.
#[test]
fn the_staged_training_chains_cnn_inverse_linear_and_anneal() {
    let dir = tmp("staged");
    let data = dir.join("images");
    common::write_idx_images(&data, 32, 16);
    let write = |name: &str, network: &str, rule: &str, task: &str, steps: usize| {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "name = \"{name}\"\n[network]\nkind = \"cordsnet\"\nwidths = [4, 4, 4, 4]\n{network}[rule]\nbatch_size = 4\n{rule}[task]\npath = \"{}\"\nstimulus_steps = 8\nloss_steps = 4\n{task}[train]\nmax_steps = {steps}\neval_every = {steps}\n",
                data.display()
            ),
        )
        .unwrap();
        cfg
    };
    let train = |cfg: &PathBuf| {
        succeed(
            biornn()
                .args(["train", "--quiet", "--runs"])
                .arg(&dir)
                .arg(cfg),
        );
    };
    let linear = "spontaneous_steps = 0\noffset_steps = 0\npenalty_steps = 0\n";
    let full = "spontaneous_steps = 5\noffset_steps = 4\npenalty_steps = 2\n";
    train(&write("s1", "form = \"cnn\"\n", "", full, 16));
    // stage 2 needs a CNN to fold
    let bad = write(
        "bad",
        "activation = \"linear\"\n",
        "kind = \"inverse\"\n",
        linear,
        8,
    );
    let err = biornn().arg("check").arg(&bad).output().unwrap();
    assert!(String::from_utf8_lossy(&err.stderr).contains("network.from"));
    let from = |run: &str| format!("from = \"{}\"\n", dir.join(run).join("model.npz").display());
    let s2 = write(
        "s2",
        &format!("activation = \"linear\"\n{}", from("s1")),
        "kind = \"inverse\"\nlearning_rate = 0.01\n",
        linear,
        40,
    );
    let out = succeed(biornn().arg("check").arg(&s2));
    assert!(out.contains("trained by inverse"), "{out}");
    train(&s2);
    let metrics = std::fs::read_to_string(dir.join("s2/metrics.csv")).unwrap();
    let rows: Vec<Vec<String>> = metrics
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let last = &rows[rows.len() - 1];
    // the folded CNN classifies as the CNN; the fit comes down from the random start's
    assert_eq!(last[col("cnn_accuracy")], last[col("folded_cnn_accuracy")]);
    let s1 = std::fs::read_to_string(dir.join("s1/metrics.csv")).unwrap();
    let s1_last: Vec<&str> = s1.lines().last().unwrap().split(',').collect();
    assert_eq!(s1_last[2], last[col("cnn_accuracy")]);
    assert!(last[col("fit_error")].parse::<f64>().unwrap().is_finite());
    // only the recurrent convs and biases moved: the feed-forward ones are the folded CNN's
    let m2 = read_npz(&dir.join("s2/model.npz")).unwrap();
    assert!(f32s(&m2["conv_bias.0"]).iter().any(|v| *v != 0.0));
    train(&write(
        "s3",
        &format!("activation = \"linear\"\n{}", from("s2")),
        "",
        linear,
        8,
    ));
    let m3 = read_npz(&dir.join("s3/model.npz")).unwrap();
    assert_eq!(
        m3["area_area.1.parametrizations.weight.original1"].shape,
        [4, 4, 3, 3]
    );
    let s4 = write(
        "s4",
        &format!("activation = \"prelu\"\n{}", from("s3")),
        "anneal_levels = 4\nanneal_level_updates = 2\n",
        full,
        8,
    );
    let out = succeed(biornn().arg("check").arg(&s4));
    assert!(out.contains("prelu annealed to relu in 4 levels"), "{out}");
    train(&s4);
    let metrics = std::fs::read_to_string(dir.join("s4/metrics.csv")).unwrap();
    assert!(
        metrics
            .lines()
            .next()
            .unwrap()
            .ends_with("prelu_slope,wall_s"),
        "{metrics}"
    );
    // 8 updates of 4 levels of 2: slopes 0.75, 0.5, 0.25, 0; the first evaluation, before any
    // update, runs at the first level's
    let slopes: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').rev().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(slopes, [0.75, 0.0], "{metrics}");
    // annealing needs the PReLU
    let bad = write("bad", "", "anneal_levels = 4\n", full, 8);
    let err = biornn().arg("check").arg(&bad).output().unwrap();
    assert!(String::from_utf8_lossy(&err.stderr).contains("rule.anneal_levels"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `rule.weight_norm`: AdamW steps g and v, so the trained weights differ from plain training's,
/// and the model file keeps the run's own g and v (plain training writes g = |v|).
#[test]
fn a_weight_normed_cordsnet_trains_g_and_v() {
    let dir = tmp("cordsnet_wn");
    let data = dir.join("images");
    common::write_idx_images(&data, 32, 8);
    let model = |weight_norm: bool| {
        let name = format!("wn{weight_norm}");
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "name = \"{name}\"\n[network]\nkind = \"cordsnet\"\nwidths = [4, 4, 4, 4]\n[rule]\nbatch_size = 4\nlearning_rate = 0.01\nweight_norm = {weight_norm}\n[task]\npath = \"{}\"\nspontaneous_steps = 5\nstimulus_steps = 8\nloss_steps = 4\noffset_steps = 4\npenalty_steps = 2\n[train]\nmax_steps = 5\neval_every = 5\n",
                data.display()
            ),
        )
        .unwrap();
        succeed(
            biornn()
                .args(["train", "--quiet", "--runs"])
                .arg(&dir)
                .arg(&cfg),
        );
        let m = read_npz(&dir.join(&name).join("model.npz")).unwrap();
        let key = |k: &str| format!("area_conv.0.parametrizations.weight.original{k}");
        let (g, v) = (f32s(&m[&key("0")]), f32s(&m[&key("1")]));
        let per = v.len() / g.len();
        // |g - |v|| per output channel, and the weights g v / |v|
        let mut gap = 0.0f64;
        let mut w = vec![];
        for (gi, row) in g.iter().zip(v.chunks(per)) {
            let n = row.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            gap = gap.max((*gi as f64 - n).abs() / n);
            w.extend(row.iter().map(|x| *gi as f64 * *x as f64 / n));
        }
        (gap, w)
    };
    let (plain_gap, plain_w) = model(false);
    let (wn_gap, wn_w) = model(true);
    assert!(
        plain_gap < 1e-6,
        "plain training writes g = |v|: {plain_gap}"
    );
    assert!(wn_gap > 1e-4, "g and v trained apart: {wn_gap}");
    let diff = plain_w
        .iter()
        .zip(&wn_w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff > 1e-5, "the parametrisation changes the steps: {diff}");
}

/// Stage 2 through weight norm starts as the reference's: the convs its batch-norm folding made
/// have unit v (the scale in g), the recurrent convs it fits train g and v from v = w.
#[test]
fn a_weight_normed_inverse_fit_starts_from_unit_folded_convs() {
    use biornn_numerics::npz::{write_npz, NpyArray};
    let dir = tmp("cordsnet_wn_inverse");
    let data = dir.join("images");
    common::write_idx_images(&data, 32, 8);
    let write = |name: &str, body: String| {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, format!("name = \"{name}\"\n{body}")).unwrap();
        succeed(
            biornn()
                .args(["train", "--quiet", "--runs"])
                .arg(&dir)
                .arg(&cfg),
        );
        read_npz(&dir.join(name).join("model.npz")).unwrap()
    };
    let path = data.display();
    let cnn = write(
        "cnn",
        format!("[network]\nkind = \"cordsnet\"\nform = \"cnn\"\nwidths = [4, 4, 4, 4]\n[task]\npath = \"{path}\"\n[train]\nmax_steps = 4\neval_every = 4\n"),
    );
    let fit = |name: &str, from: &std::path::Path| {
        write(
            name,
            format!("[network]\nkind = \"cordsnet\"\nwidths = [4, 4, 4, 4]\nactivation = \"linear\"\nfrom = \"{}\"\n[rule]\nkind = \"inverse\"\nweight_norm = true\nbatch_size = 8\nlearning_rate = 0.01\n[task]\npath = \"{path}\"\nspontaneous_steps = 0\nstimulus_steps = 10\nloss_steps = 4\noffset_steps = 0\npenalty_steps = 0\n[train]\nmax_steps = 3\neval_every = 3\n", from.display()),
        )
    };
    let m = fit("fit", &dir.join("cnn/model.npz"));
    let row_norms = |m: &std::collections::BTreeMap<String, NpyArray>, base: &str| {
        let v = f32s(&m[&format!("{base}.parametrizations.weight.original1")]);
        let g = f32s(&m[&format!("{base}.parametrizations.weight.original0")]);
        let per = v.len() / g.len();
        v.chunks(per)
            .map(|r| r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt())
            .collect::<Vec<f64>>()
    };
    for folded in ["inp_conv", "area_area.0", "area_area.1"] {
        for n in row_norms(&m, folded) {
            assert!((n - 1.0).abs() < 1e-6, "{folded}: |v| = {n}");
        }
    }
    // the fitted recurrent conv is not of unit length (it started at v = w, small)
    assert!(row_norms(&m, "area_conv.0")
        .iter()
        .all(|n| (n - 1.0).abs() > 1e-3));
    // the frozen readout keeps the CNN's own g and v, not a unit v ...
    let (g_key, v_key) = (
        "out_fc.parametrizations.weight.original0",
        "out_fc.parametrizations.weight.original1",
    );
    assert!(row_norms(&cnn, "out_fc")
        .iter()
        .all(|n| (n - 1.0).abs() > 1e-3));
    for key in [g_key, v_key] {
        assert_eq!(f32s(&m[key]), f32s(&cnn[key]), "{key}");
    }
    // ... also from a DataParallel file (every tensor under `module.`) ...
    let parallel: std::collections::BTreeMap<String, NpyArray> = cnn
        .iter()
        .map(|(k, v)| match k.contains('.') {
            true => (format!("module.{k}"), v.clone()),
            false => (k.clone(), v.clone()),
        })
        .collect();
    write_npz(&dir.join("cnn_parallel.npz"), &parallel).unwrap();
    let m = fit("fit_parallel", &dir.join("cnn_parallel.npz"));
    for key in [g_key, v_key] {
        assert_eq!(f32s(&m[key]), f32s(&cnn[key]), "{key}");
    }
    // ... and a plain readout weight w comes in as weight_norm makes it: v = w, g = |w|
    let (g, v) = (f32s(&cnn[g_key]), f32s(&cnn[v_key]));
    let norms = row_norms(&cnn, "out_fc");
    let per = v.len() / g.len();
    let w: Vec<f32> = v
        .iter()
        .enumerate()
        .map(|(i, v)| (g[i / per] as f64 * *v as f64 / norms[i / per]) as f32)
        .collect();
    let mut plain = cnn.clone();
    let shape = plain.remove(v_key).unwrap().shape;
    plain.remove(g_key);
    plain.insert("out_fc.weight".into(), NpyArray::f32(&shape, w.clone()));
    write_npz(&dir.join("cnn_plain.npz"), &plain).unwrap();
    let m = fit("fit_plain", &dir.join("cnn_plain.npz"));
    assert_eq!(f32s(&m[v_key]), w);
    for (got, want) in row_norms(&m, "out_fc").iter().zip(f32s(&m[g_key])) {
        assert!(
            (got - want as f64).abs() <= 1e-6 * got,
            "|w| {got}, g {want}"
        );
    }
}

#[test]
fn a_cordsnet_run_trains_analyses_and_reports() {
    let dir = tmp("cordsnet");
    let data = dir.join("images");
    common::write_idx_images(&data, 32, 8);
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"c\"\n[network]\nkind = \"cordsnet\"\nwidths = [4, 4, 4, 4]\n[rule]\nbatch_size = 4\n[task]\npath = \"{}\"\nspontaneous_steps = 5\nstimulus_steps = 8\nloss_steps = 4\noffset_steps = 4\npenalty_steps = 2\n[train]\nmax_steps = 6\neval_every = 3\n",
            data.display()
        ),
    )
    .unwrap();
    let out = succeed(biornn().args(["check"]).arg(&cfg));
    assert!(out.contains("cordsnet R2 trained by bptt"), "{out}");
    succeed(
        biornn()
            .args(["train", "--quiet", "--runs"])
            .arg(&dir)
            .arg(&cfg),
    );
    let run = dir.join("c");
    let model = read_npz(&run.join("model.npz")).unwrap();
    // the reference's state-dict names, weight-normed as its model loads them
    assert_eq!(
        model["area_conv.1.parametrizations.weight.original1"].shape,
        [4, 4, 3, 3]
    );
    assert_eq!(model["conv_bias.0"].shape, [4, 3, 3]);
    assert_eq!(f32s(&model["input_shape"]), [1.0, 12.0, 12.0]);
    let out = succeed(biornn().arg("analyze").arg(&run));
    assert!(out.contains("files in"), "{out}");
    refused(
        biornn()
            .arg("analyze")
            .arg(&run)
            .args(["--what", "spectrum"]),
        "--what",
    );
    let spectra = std::fs::read_to_string(run.join("analysis/spectra.csv")).unwrap();
    // both areas, each eigenvalue with its step multiplier 0.8 + 0.2 mu
    let rows: Vec<Vec<f64>> = spectra
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert!(rows.iter().any(|r| r[0] == 1.0));
    for r in &rows {
        assert!((r[4] - (0.8 + 0.2 * r[2])).abs() < 1e-12);
    }
    // the reference's record: the chosen area's rates after every spontaneous and stimulus step
    let out = succeed(
        biornn()
            .arg("record")
            .arg(&run)
            .args(["--areas", "0", "--images", "3"]),
    );
    assert!(out.contains("record.npz"), "{out}");
    let rec = read_npz(&run.join("analysis/record.npz")).unwrap();
    assert_eq!(rec["area0"].shape, [5 + 8, 3, 4, 3, 3]);
    assert_eq!(rec["labels"].shape, [3]);
    refused(
        biornn().arg("record").arg(&run).args(["--areas", "2"]),
        "--areas",
    );
    // the spontaneous fixed point, from rest and from 8 random starts
    let fixed = std::fs::read_to_string(run.join("analysis/fixed_points.csv")).unwrap();
    assert_eq!(fixed.lines().count(), 10, "{fixed}");
    assert!(
        fixed.lines().nth(1).unwrap().starts_with("rest,"),
        "{fixed}"
    );
    let out = succeed(biornn().arg("report").arg(&run));
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(page.contains("Without an image the dynamics"), "{page}");
    assert!(
        out.contains("report.html")
            && page.contains("Recurrent eigenvalues")
            && page.contains("<svg")
    );
    // a multi-area network on this front end: delayed match-to-category on the same images
    let ma = dir.join("m.toml");
    std::fs::write(
        &ma,
        format!(
            "name = \"m\"\n[network]\nkind = \"multiarea\"\n[front_end]\nmodel = \"{}\"\nspontaneous_steps = 5\n[model]\nn_rec = 16\n[task]\npath = \"{}\"\nfixation_ms = 4.0\nsample_ms = 6.0\ndelay_ms = 6.0\ntest_ms = 8.0\ngrace_ms = 2.0\nboundary = 2\neval_trials = 8\n[train]\nmax_steps = 6\nbatch_size = 4\neval_every = 3\n",
            run.join("model.npz").display(),
            data.display()
        ),
    )
    .unwrap();
    let out = succeed(biornn().arg("check").arg(&ma));
    assert!(out.contains("multiarea trained by bptt"), "{out}");
    assert!(out.contains("(frozen) feeding"), "{out}");
    succeed(
        biornn()
            .args(["train", "--quiet", "--runs"])
            .arg(&dir)
            .arg(&ma),
    );
    let m = read_npz(&dir.join("m/model.npz")).unwrap();
    // the CTRNN sees a fixation input and the front end's 4 pooled channels
    assert_eq!(m["W_in"].shape, [16, 5]);
    // frozen, the front end is not written again; fine-tuned, it is, moved from where it began
    assert!(!m.keys().any(|k| k.starts_with("front_end.")));
    let text = std::fs::read_to_string(&ma).unwrap();
    std::fs::write(
        &ma,
        text.replace("name = \"m\"", "name = \"mf\"").replace(
            "spontaneous_steps = 5\n",
            "spontaneous_steps = 5\nfine_tune = true\nlearning_rate = 0.01\n",
        ),
    )
    .unwrap();
    let out = succeed(biornn().arg("check").arg(&ma));
    assert!(out.contains("(fine-tuned) feeding"), "{out}");
    succeed(
        biornn()
            .args(["train", "--quiet", "--runs"])
            .arg(&dir)
            .arg(&ma),
    );
    let mf = read_npz(&dir.join("mf/model.npz")).unwrap();
    let front = read_npz(&run.join("model.npz")).unwrap();
    let key = "area_conv.0.parametrizations.weight.original1";
    assert_eq!(mf[&format!("front_end.{key}")].shape, front[key].shape);
    assert_ne!(f32s(&mf[&format!("front_end.{key}")]), f32s(&front[key]));
    // the CTRNN's delay: fixed points and free runs under fixation and the front end in a blank,
    // from 8 test trials' states at the sample's end; the fine-tuned front end rests elsewhere
    let mut rest = vec![];
    for name in ["m", "mf"] {
        let out = succeed(biornn().arg("analyze").arg(dir.join(name)));
        assert!(out.contains("files in"), "{out}");
        let analysis = dir.join(name).join("analysis");
        let fixed = read_npz(&analysis.join("fixed_points.npz")).unwrap();
        let input = f32s(&fixed["inputs"]);
        assert_eq!(input.len(), 5);
        assert_eq!(input[0], 1.0, "fixation on");
        assert!(input[1..].iter().all(|x| *x >= 0.0), "{input:?}");
        rest.push(input);
        let pca = read_npz(&analysis.join("pca.npz")).unwrap();
        assert_eq!(pca["trajectories"].shape, [8, 400, 3]);
        let csv = std::fs::read_to_string(analysis.join("fixed_points.csv")).unwrap();
        assert!(csv.lines().count() > 1, "{csv}");
    }
    assert_ne!(rest[0], rest[1]);
    // `eval`: fresh test trials, the accuracy by the right answer (its weighted mean is the
    // accuracy); the same call, the same numbers; no recurrent noise to switch on
    let eval = || {
        let out = succeed(
            biornn()
                .arg("eval")
                .arg(dir.join("m"))
                .args(["--trials", "20", "--json"]),
        );
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let e = eval();
    assert_eq!(e, eval());
    assert_eq!(e["tasks"][0]["trials"], 20);
    let net = &e["networks"][0];
    let (acc, yes, no) = (
        net["perf"].as_f64().unwrap(),
        net["match"].as_f64().unwrap(),
        net["non_match"].as_f64().unwrap(),
    );
    assert!(yes.min(no) <= acc && acc <= yes.max(no), "{net}");
    assert_eq!(e["recurrent_noise"], false);
    refused(
        biornn()
            .arg("eval")
            .arg(dir.join("m"))
            .args(["--recurrent-noise", "on"]),
        "--recurrent-noise",
    );
    succeed(biornn().arg("report").arg(dir.join("m")));
    let page = std::fs::read_to_string(dir.join("m/report.html")).unwrap();
    assert!(page.contains("fixating through the delay") && page.contains("<svg"));
    refused(
        biornn()
            .arg("analyze")
            .arg(dir.join("m"))
            .args(["--net", "1"]),
        "--net",
    );
    assert_eq!(m["W_out"].shape, [3, 16]);
    let metrics = std::fs::read_to_string(dir.join("m/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
    // noise: at 0 the plain evaluation's accuracy; every setting a row
    let out =
        succeed(
            biornn()
                .arg("noise")
                .arg(&run)
                .args(["--input", "0,3", "--dynamics", "0,1"]),
        );
    assert!(out.contains("noise.csv"), "{out}");
    let noise = std::fs::read_to_string(run.join("analysis/noise.csv")).unwrap();
    assert_eq!(noise.lines().count(), 5, "{noise}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let last: Vec<&str> = metrics.lines().last().unwrap().split(',').collect();
    let clean: Vec<&str> = noise.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(
        clean[3].parse::<f64>().unwrap(),
        last[2].parse::<f64>().unwrap(),
        "{noise}\n{metrics}"
    );
    // a bad value is named
    std::fs::write(&cfg, "[network]\nkind = \"cordsnet\"\ndepth = 3\n").unwrap();
    refused(biornn().arg("check").arg(&cfg), "network.depth");
    // the shipped example configs are accepted
    for name in [
        "cordsnet_fashion",
        "cordsnet_r8",
        "cordsnet_dots",
        "multiarea_dots",
    ] {
        let example =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../configs/{name}.toml"));
        succeed(biornn().arg("check").arg(example));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Every run writes `model.safetensors` beside `model.npz`; Python's `safetensors` package reads
/// it, and every numeric array equals numpy's reading of the `.npz`. The Python is
/// `BIORNN_PYTHON` (else `python3`), with `safetensors` and `numpy`; the test skips without them
/// unless `BIORNN_REQUIRE_PYTHON=1` (CI).
#[test]
fn pythons_safetensors_reads_a_runs_model() {
    let Some(py) = python_with("import safetensors.numpy, numpy") else {
        return;
    };
    let dir = tmp("safetensors");
    succeed(
        biornn()
            .args([
                "train",
                "--quiet",
                "--max-steps",
                "4",
                "--name",
                "s",
                "--runs",
            ])
            .arg(&dir),
    );
    let run = dir.join("s");
    let script = r#"
import sys, numpy as np
from safetensors.numpy import load_file
run = sys.argv[1]
s = load_file(run + "/model.safetensors")
z = np.load(run + "/model.npz")
n = 0
for k in z.files:
    if z[k].dtype.kind == "U":
        continue
    assert k in s, k
    assert s[k].dtype == z[k].dtype and s[k].shape == z[k].shape, k
    assert np.array_equal(s[k], z[k]), k
    n += 1
print("equal", n)
"#;
    let text = run_python(&py, script, &[&run]);
    let n: usize = text.trim().split(' ').nth(1).unwrap().parse().unwrap();
    assert!(n >= 5, "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--tensorboard DIR`: the metrics as TensorBoard event files, which the `tensorboard` package's
/// own reader reads back equal to `metrics.csv` (skips without it unless `BIORNN_REQUIRE_PYTHON=1`).
#[test]
fn tensorboards_reader_reads_the_metrics() {
    let Some(py) = python_with(
        "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator",
    ) else {
        return;
    };
    let dir = tmp("tensorboard");
    succeed(
        biornn()
            .args([
                "train",
                "--quiet",
                "--max-steps",
                "6",
                "--name",
                "t",
                "--runs",
            ])
            .arg(&dir)
            .arg("--tensorboard")
            .arg(dir.join("tb")),
    );
    let script = r#"
import sys, csv
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1]); acc.Reload()
rows = list(csv.DictReader(open(sys.argv[2])))
n = 0
for col in ["mean_perf", "min_perf", "eval_loss"]:
    got = [(e.step, e.value) for e in acc.Scalars(col)]
    want = [(int(r["step"]), float(r[col])) for r in rows]
    assert len(got) == len(want), (col, got, want)
    for (s, v), (ws, wv) in zip(got, want):
        assert s == ws and abs(v - wv) <= 1e-6 * max(1.0, abs(wv)), (col, s, v, ws, wv)
        n += 1
print("equal", n)
"#;
    run_python(
        &py,
        script,
        // events in DIR/<the runs folder>/<the run>/
        &[
            &dir.join("tb").join(dir.file_name().unwrap()).join("t"),
            &dir.join("t/metrics.csv"),
        ],
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The Python to read biornn's files with (`BIORNN_PYTHON`, else `python3`) if it runs `imports`;
/// `None` (the test skips) otherwise, unless `BIORNN_REQUIRE_PYTHON=1`.
fn python_with(imports: &str) -> Option<String> {
    let py = std::env::var("BIORNN_PYTHON").unwrap_or_else(|_| "python3".into());
    let ready = Command::new(&py)
        .args(["-c", imports])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var("BIORNN_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "BIORNN_REQUIRE_PYTHON=1 but {py} cannot run `{imports}`"
        );
        eprintln!("skipping: {py} cannot run `{imports}`");
        return None;
    }
    Some(py)
}

/// Run a check script that prints `equal N` when every comparison held; its output.
fn run_python(py: &str, script: &str, args: &[&std::path::Path]) -> String {
    let out = Command::new(py)
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.starts_with("equal "),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `eval` scores what it can score as it is trained: a FORCE run's network runs with its readout
/// fed back, so it is refused with a sentence saying where its scores are, not scored as a plain
/// CTRNN nor met with a checkpoint reader's complaint.
#[test]
fn eval_refuses_a_force_run_by_name() {
    let dir = tmp("eval-force");
    let config = succeed(biornn().args(["config", "--kind", "ctrnn_force"]));
    let config = config
        .lines()
        .map(|l| match l.starts_with("max_steps") {
            true => "max_steps = 50",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("force.toml"), config).unwrap();
    succeed(
        biornn()
            .arg("train")
            .arg(dir.join("force.toml"))
            .args(["--name", "force", "--quiet", "--runs"])
            .arg(&dir),
    );
    let out = biornn()
        .arg("eval")
        .arg(dir.join("force"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("trained by FORCE") && err.contains("metrics.csv"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
