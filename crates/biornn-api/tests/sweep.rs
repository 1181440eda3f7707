//! Sweep files: how they expand into numbered runs, what a bad one is told, the Slurm scripts, and
//! a local sweep that skips what has finished and collects what it made.

use biornn_api::sweep::{
    array_spec, collect, run_local, status_table, write_slurm, RunState, Sweep,
};
use biornn_api::{Config, RunOptions};
use std::path::{Path, PathBuf};
use toml::Value;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("biornn-sweep-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sweep(d: &Path, text: &str) -> biornn_api::Result<Sweep> {
    let file = d.join("sweep.toml");
    std::fs::write(&file, text).unwrap();
    Sweep::load(&file)
}

#[test]
fn a_grid_times_lists_times_draws_times_seeds_numbers_every_run() {
    let d = dir("expand");
    let s = sweep(
        &d,
        r#"
name = "x"
seeds = [1, 2]
[grid]
"train.learning_rate" = [0.001, 0.003]
"model.tau" = [50.0, 100.0, 200.0]
[lists]
"model.n_rec" = [32, 64]
"train.batch_size" = [16, 8]
[random]
count = 2
seed = 5
"model.noise.sigma" = { uniform = [0.0, 0.1] }
"model.activation" = { choice = ["relu", "softplus"] }
"#,
    )
    .unwrap();
    // grid keys sorted (model.tau before train.learning_rate), then the lists, then the draws
    assert_eq!(
        s.keys,
        [
            "model.tau",
            "train.learning_rate",
            "model.n_rec",
            "train.batch_size",
            "model.activation",
            "model.noise.sigma"
        ]
    );
    assert_eq!(s.len(), 3 * 2 * 2 * 2 * 2);
    // run i: point i / 2, seed i % 2; the last grid key fastest, the lists side by side
    let (p, seed) = s.setting(5);
    assert_eq!(seed, 2);
    assert_eq!(p[0], Value::Float(50.0));
    assert_eq!(p[1], Value::Float(0.001));
    assert_eq!((&p[2], &p[3]), (&Value::Integer(64), &Value::Integer(8)));
    // the draws come from the file's seed: the same on every reading, in range
    let again = sweep(&d, &std::fs::read_to_string(d.join("sweep.toml")).unwrap()).unwrap();
    assert_eq!(again.points, s.points);
    for pt in &s.points {
        let sigma = pt[5].as_float().unwrap();
        assert!((0.0..=0.1).contains(&sigma));
        assert!(["relu", "softplus"].contains(&pt[4].as_str().unwrap()));
    }
    // run 5's config: the base (the built-in default) with its values, seed and name
    let cfg = s.config(5).unwrap();
    let text = cfg.to_toml();
    let table: toml::Table = text.parse().unwrap();
    assert_eq!(table["seed"].as_integer(), Some(2));
    assert_eq!(table["name"].as_str(), Some("0005"));
    assert_eq!(table["model"]["n_rec"].as_integer(), Some(64));
    assert_eq!(table["train"]["batch_size"].as_integer(), Some(8));
    assert_eq!(Config::from_toml(&text).unwrap(), cfg);
    let e = s.config(s.len()).unwrap_err().to_string();
    assert!(e.contains("--index") && e.contains("0 to 47"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_bad_sweep_is_named_before_anything_runs() {
    let d = dir("bad");
    for (text, want) in [
        ("name = \"x\"\n[grid]\n\"model.nrec\" = [3]\n", "model.nrec"),
        (
            "name = \"x\"\n[grid]\n\"model.n_rec\" = []\n",
            "grid.\"model.n_rec\"",
        ),
        (
            "name = \"x\"\n[lists]\na = [1, 2]\nb = [1]\n",
            "lists.\"b\"",
        ),
        (
            "name = \"x\"\n[random]\n\"model.tau\" = { uniform = [1.0, 2.0] }\n",
            "random.count",
        ),
        (
            "name = \"x\"\n[random]\ncount = 2\n\"model.tau\" = { normal = [1.0, 2.0] }\n",
            "random.\"model.tau\"",
        ),
        ("name = \"a/b\"\n", "name"),
        ("name = \"x\"\nseeds = []\n", "seeds"),
        ("name = \"x\"\nsweep = 1\n", "unknown field"),
        ("name = \"x\"\nbase = \"missing.toml\"\n", "base"),
        (
            "name = \"x\"\n[grid]\n\"model.n_rec\" = [-4]\n",
            "run 0 (model.n_rec = -4)",
        ),
        ("name = \"..\"\n", "name"),
        (
            "name = \"x\"\n[slurm]\nmem = \"4G\\n#SBATCH --x\"\n",
            "slurm.mem",
        ),
        ("name = \"x\"\n[slurm]\ntime = \"\"\n", "slurm.time"),
        ("name = \"x\"\n[grid]\nseed = [1, 2]\n", "seed"),
        (
            "name = \"x\"\n[grid]\na = [1]\n[lists]\na = [2]\n",
            "swept twice",
        ),
    ] {
        let e = sweep(&d, text).unwrap_err().to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn slurm_scripts_are_an_array_and_a_collection_after_it() {
    assert_eq!(array_spec(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
    assert_eq!(array_spec(&[4]), "4");
    let d = dir("slurm");
    let s = sweep(
        &d,
        "name = \"s\"\nseeds = [1, 2, 3]\n[grid]\n\"train.learning_rate\" = [0.001, 0.003]\n[slurm]\ncpus_per_task = 4\nmem = \"8G\"\ntime = \"02:00:00\"\npartition = \"gpu\"\naccount = \"lab\"\nmax_parallel = 3\n",
    )
    .unwrap();
    let [array, collect_script, submit] =
        write_slurm(&s, &[0, 1, 2, 3, 4, 5], Path::new("/opt/biornn")).unwrap();
    let a = std::fs::read_to_string(array).unwrap();
    for line in [
        "#SBATCH --array=0-5%3",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8G",
        "#SBATCH --time=02:00:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=lab",
        "sweep run",
        "--index \"$((${SLURM_ARRAY_TASK_ID:?a task of a job array} + ${BIORNN_SWEEP_OFFSET:-0}))\"",
    ] {
        assert!(a.contains(line), "{line}: {a}");
    }
    // the index expression is what bash makes of it
    let script =
        "SLURM_ARRAY_TASK_ID=7; echo $((${SLURM_ARRAY_TASK_ID:?a task of a job array} + ${BIORNN_SWEEP_OFFSET:-0}))";
    let out = std::process::Command::new("bash")
        .args(["-c", script])
        .env("BIORNN_SWEEP_OFFSET", "2000")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2007");
    assert!(std::fs::read_to_string(collect_script)
        .unwrap()
        .contains("sweep collect"));
    let sub = std::fs::read_to_string(submit).unwrap();
    assert!(sub.contains("--dependency=afterany\"$jobs\""), "{sub}");
    // nothing left to run: nothing to submit
    assert!(write_slurm(&s, &[], Path::new("/opt/biornn")).is_err());

    // indices past Slurm's default MaxArraySize (ids 0 to 1000): arrays of ids below 1000, each
    // with its offset, and the collection after all of them
    let [array, _, submit] =
        write_slurm(&s, &[3, 4, 999, 1000, 1998, 2500], Path::new("/opt/biornn")).unwrap();
    let a = std::fs::read_to_string(array).unwrap();
    assert!(!a.contains("#SBATCH --array"), "{a}");
    let sub = std::fs::read_to_string(submit).unwrap();
    for line in [
        "--array=3-4,999%3 --export=ALL,BIORNN_SWEEP_OFFSET=0 ",
        "--array=0,998%3 --export=ALL,BIORNN_SWEEP_OFFSET=1000 ${prev:+--dependency=afterany:$prev}",
        "--array=500%3 --export=ALL,BIORNN_SWEEP_OFFSET=2000 ",
        "--dependency=afterany\"$jobs\"",
    ] {
        assert!(sub.contains(line), "{line}: {sub}");
    }
    assert_eq!(sub.matches("sbatch --parsable").count(), 4, "{sub}");
    // the script as bash runs it, with an sbatch that logs its arguments: each array waits for
    // the one before, the collection for all three
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = d.join("sbatch.log");
    std::fs::write(
        bin.join("sbatch"),
        format!(
            "#!/bin/bash\necho \"$*\" >> '{0}'\nn=$(wc -l < '{0}')\necho \"$((n + 40))\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(bin.join("sbatch"))
        .status()
        .unwrap();
    let out = std::process::Command::new("bash")
        .arg(s.dir.join("submit.sh"))
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "41 42 43");
    let calls: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(!calls[0].contains("--dependency"), "{calls:?}");
    assert!(calls[1].contains("--dependency=afterany:41 "), "{calls:?}");
    assert!(calls[2].contains("--dependency=afterany:42 "), "{calls:?}");
    assert!(
        calls[3].contains("--dependency=afterany:41:42:43 "),
        "{calls:?}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_local_sweep_runs_once_skips_what_finished_and_collects() {
    let d = dir("local");
    let text = "name = \"l\"\nseeds = [1, 2]\n[grid]\n\"train.learning_rate\" = [0.001, 0.01]\n\"train.max_steps\" = [4]\n\"train.eval_every\" = [2]\n\"model.n_rec\" = [16]\n";
    let s = sweep(&d, text).unwrap();
    let opts = RunOptions {
        progress: false,
        verbose: false,
    };
    assert_eq!(run_local(&s, 2, &opts).unwrap(), (4, 0));
    assert!((0..4).all(|i| s.state(i) == RunState::Finished));
    assert_eq!(run_local(&s, 1, &opts).unwrap(), (0, 4));
    // each summary knows its place in the sweep
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.run_dir(3).join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["sweep_index"], 3);
    assert_eq!(summary["sweep:train.learning_rate"], 0.01);
    // a task killed between the run's summary and its stamp: the next one stamps it, training
    // nothing
    let path = s.run_dir(3).join("summary.json");
    let mut unstamped = summary.clone();
    unstamped.as_object_mut().unwrap().remove("sweep_index");
    std::fs::write(&path, unstamped.to_string()).unwrap();
    assert_eq!(run_local(&s, 1, &opts).unwrap(), (0, 4));
    let restamped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(restamped, summary);
    let (csv, page, n) = collect(&s, Some("mean_perf")).unwrap();
    assert_eq!(n, 4);
    let csv = std::fs::read_to_string(csv).unwrap();
    let head = csv.lines().next().unwrap();
    assert!(
        head.starts_with(
            "run,seed,model.n_rec,train.eval_every,train.learning_rate,train.max_steps,"
        ),
        "{head}"
    );
    assert!(head.contains("mean_perf"), "{head}");
    // the per-task table too
    assert!(head.contains(",perf_fdgo"), "{head}");
    assert_eq!(csv.lines().count(), 5);
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.contains("mean_perf against train.learning_rate"),
        "{html}"
    );
    assert_eq!(status_table(&s).matches("| finished |").count(), 4);
    // the file edited after the runs: their results are not labelled with the new values
    let edited = sweep(&d, &text.replace("0.01]", "0.02]")).unwrap();
    let e = collect(&edited, None).unwrap_err().to_string();
    assert!(
        e.contains("run 2") && e.contains("train.learning_rate: 0.01, 0.02"),
        "{e}"
    );
    // nor is run 2 skipped as finished or trained over: its state says so, and it is refused,
    // naming the setting
    let states = edited.states();
    assert_eq!(states[0], RunState::Finished);
    assert_eq!(states[2], RunState::Other);
    assert!(!biornn_api::sweep::unfinished_of(&states).contains(&2));
    let e = run_local(&edited, 1, &opts).unwrap_err().to_string();
    assert!(
        e.contains("run 2") && e.contains("edited") && e.contains("learning_rate: 0.01, 0.02"),
        "{e}"
    );
    // a larger budget in the file takes every run on to it; the old one then finds them done
    let longer = sweep(&d, &text.replace("max_steps\" = [4]", "max_steps\" = [6]")).unwrap();
    assert_eq!(
        biornn_api::sweep::unfinished_of(&longer.states()),
        [0, 1, 2, 3]
    );
    assert_eq!(run_local(&longer, 2, &opts).unwrap(), (4, 0));
    let summary = std::fs::read_to_string(s.run_dir(1).join("summary.json")).unwrap();
    assert!(summary.contains("\"steps\": 6"), "{summary}");
    assert_eq!(run_local(&s, 1, &opts).unwrap(), (0, 4));
    std::fs::remove_dir_all(&d).ok();
}

/// `d/lt.toml`: the long-term protocol's reference config (dlygo, plain training, 2 networks).
fn write_longterm_base(d: &Path) {
    use biornn_tasks::temporalskip::TsRule;
    use biornn_train::longterm::{LongTermConfig, Method};
    let lt = Config::LongTerm(LongTermConfig::reference(
        TsRule::DlyGo,
        Method::parse("base").unwrap(),
        2,
    ));
    std::fs::write(d.join("lt.toml"), lt.to_toml()).unwrap();
}

#[test]
fn a_sweep_over_a_protocol_config_loads_and_a_laptop_sweep_takes_any_directory() {
    // a directory with a space: refused for Slurm only
    let d = dir("protocol dir");
    write_longterm_base(&d);
    let s = sweep(
        &d,
        "name = \"lt\"\nbase = \"lt.toml\"\nseeds = [4, 5]\n[grid]\n\"max_rounds\" = [2, 3]\n",
    )
    .unwrap();
    assert_eq!(s.len(), 4);
    match s.config(3).unwrap() {
        Config::LongTerm(c) => assert_eq!((c.seed, c.max_rounds), (5, 3)),
        other => panic!("{other:?}"),
    }
    let e = write_slurm(&s, &[0], Path::new("/opt/biornn"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("runs") && e.contains("Slurm"), "{e}");
    // a run another process holds is running: not resubmitted, and not trained twice
    let held = biornn_run::RunDir::create_at(&s.run_dir(1))
        .unwrap()
        .lock()
        .unwrap();
    assert_eq!(s.state(1), RunState::Running);
    assert_eq!(s.unfinished(), [0, 2, 3]);
    assert!(matches!(
        biornn_api::sweep::run_index(&s, 1, &RunOptions::default()),
        Ok(biornn_api::sweep::Outcome::Running)
    ));
    let e = biornn_api::train_in(&s.config(1).unwrap(), &s.run_dir(1), &RunOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is training this run"), "{e}");
    drop(held);
    assert_eq!(s.state(1), RunState::NotStarted);
    std::fs::remove_dir_all(&d).ok();
}

/// The rounds protocols called directly (`biornn longterm`, `biornn reversal`, the API's
/// functions) hold their run as `train_in` does: a second process is refused before it writes,
/// and a resume through `resume_to`, which takes the lock itself, does not refuse itself.
#[test]
fn rounds_protocols_called_directly_hold_their_run() {
    use biornn_tasks::temporalskip::TsRule;
    use biornn_train::longterm::{LongTermConfig, Method};
    use biornn_train::reversal::ReversalConfig;
    let d = dir("rounds-lock");
    let base = Method::parse("base").unwrap();
    let mut lt = LongTermConfig::reference(TsRule::DlyGo, base, 2);
    lt.max_rounds = 1;
    let mut rv = ReversalConfig::reference(base, false, 2);
    rv.rounds = 1;
    let opts = RunOptions::default();
    let (lt_dir, rv_dir) = (d.join("lt"), d.join("rv"));
    for run in [&lt_dir, &rv_dir] {
        let held = biornn_run::RunDir::create_at(run).unwrap().lock().unwrap();
        let e = match run == &lt_dir {
            true => biornn_api::longterm(&lt, run, false, &opts).err(),
            false => biornn_api::reversal(&rv, run, false, &opts).err(),
        };
        let e = e.expect("a held run is refused").to_string();
        assert!(e.contains("is training this run"), "{e}");
        assert!(!run.join("config.toml").exists(), "refused before writing");
        drop(held);
    }
    let first = biornn_api::longterm(&lt, &lt_dir, false, &opts).unwrap();
    assert_eq!(first.rounds, 1);
    biornn_api::reversal(&rv, &rv_dir, false, &opts).unwrap();
    // `eval` scores each network of a rule-reversal run on whole batches of sequences, closed
    // loop: 8 trials ask for one batch (40 sequences of 5 trials), 201 for two
    let eval = |trials, noise| biornn_api::inspect::evaluate_run(&rv_dir, trials, noise).unwrap();
    let e = eval(8, None);
    assert_eq!((e.step, e.updates, e.recurrent_noise), (1, Some(10), true));
    assert_eq!(e.networks.len(), 2);
    for n in &e.networks {
        assert_eq!((n.task.as_str(), n.trials), ("reversal", 200));
        assert!((0.0..=1.0).contains(&n.perf));
        assert_eq!(
            n.parts.keys().collect::<Vec<_>>(),
            ["after_stay", "after_switch"]
        );
    }
    let perfs = |e: &biornn_api::inspect::EvalReport| -> Vec<f64> {
        e.networks.iter().map(|n| n.perf).collect()
    };
    assert_eq!(
        perfs(&eval(8, None)),
        perfs(&e),
        "the same call, the same scores"
    );
    let quiet = eval(8, Some(false));
    assert!(!quiet.recurrent_noise);
    assert_ne!(perfs(&quiet), perfs(&e), "the noise is off");
    assert_eq!(eval(201, None).networks[0].trials, 400);
    // one more round through `biornn train --resume DIR --max-steps 2`
    for run in [&lt_dir, &rv_dir] {
        let f = biornn_api::resume_to(run, Some(2), &opts).unwrap();
        assert_eq!(f.steps, 2, "{}", run.display());
    }
    std::fs::remove_dir_all(&d).ok();
}

/// `collect` compares a run's config with the sweep's as the typed config writes both: a mask
/// table filled with its defaults, an integer written back as a float, a method name normalised
/// and a budget extended with `--max-steps` are the same setting, not an edited sweep file.
#[test]
fn collect_compares_settings_as_the_config_writes_them() {
    let d = dir("normalised");
    write_longterm_base(&d);
    for text in [
        "name = \"masks\"\nseeds = [1]\n[grid]\n\"model.mask.recurrent\" = [{ kind = \"local\", radius = 2 }]\n\"train.max_steps\" = [4]\n",
        "name = \"methods\"\nbase = \"lt.toml\"\nseeds = [1]\n[grid]\nmethod = [\"dasc-t40-s2-b0.50\"]\nmax_rounds = [3]\n",
    ] {
        let s = sweep(&d, text).unwrap();
        // the run as a trainer leaves it: its config as written, extended to a larger budget
        let run = s.run_dir(0);
        std::fs::create_dir_all(&run).unwrap();
        let mut cfg = s.config(0).unwrap();
        cfg.set_max_steps(40).unwrap();
        std::fs::write(run.join("config.toml"), cfg.to_toml()).unwrap();
        std::fs::write(run.join("summary.json"), "{\"steps\": 40}").unwrap();
        let (_, _, n) = collect(&s, Some("steps")).unwrap();
        assert_eq!(n, 1, "{text}");
        // the seed is compared too
        cfg.set_seed(9);
        std::fs::write(run.join("config.toml"), cfg.to_toml()).unwrap();
        let e = collect(&s, Some("steps")).unwrap_err().to_string();
        assert!(e.contains("seed: 9, 1"), "{e}");
    }
    std::fs::remove_dir_all(&d).ok();
}
