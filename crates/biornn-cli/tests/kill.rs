//! A training process killed with SIGKILL at random moments and resumed each time ends bit-identical
//! to one that was never interrupted.

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

fn final_arrays(dir: &Path) -> BTreeMap<String, NpyArray> {
    let mut m = read_npz(&dir.join("model.npz")).unwrap();
    m.remove("state_wall_s");
    m.remove("checksum");
    m
}

#[test]
fn killed_and_resumed_equals_uninterrupted() {
    let bin = env!("CARGO_BIN_EXE_biornn");
    let base = std::env::temp_dir().join(format!("biornn-kill-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let cfg = base.join("k.toml");
    std::fs::write(&cfg, CONFIG).unwrap();

    let t0 = Instant::now();
    let st = Command::new(bin)
        .args(["train", "--quiet", "--runs"])
        .arg(base.join("a"))
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let whole = t0.elapsed();

    let run = base.join("b/k");
    let mut rng = Streams::new(11).stream("kill_times", 0);
    let mut kills = 0;
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 40, "never finished");
        let mut cmd = Command::new(bin);
        if run.join("checkpoints").exists() {
            cmd.args(["train", "--quiet", "--resume"]).arg(&run);
        } else {
            cmd.args(["train", "--quiet", "--runs"])
                .arg(base.join("b"))
                .arg(&cfg);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // kill at a random moment within the run, once a first checkpoint exists to resume from
        let wait = whole.mul_f64(rng.uniform_in(0.05, 0.25));
        let start = Instant::now();
        let mut finished = None;
        while start.elapsed() < wait || !run.join("checkpoints").exists() {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        match finished.or_else(|| child.try_wait().unwrap()) {
            Some(status) => {
                assert!(status.success());
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    println!("kill-and-resume cycles: {kills}");
    let (got, want) = (final_arrays(&run), final_arrays(&base.join("a/k")));
    let differing: Vec<&String> = want
        .keys()
        .filter(|k| got.get(*k) != want.get(*k))
        .collect();
    assert!(
        differing.is_empty() && got.len() == want.len(),
        "arrays differ: {differing:?}"
    );
    assert!(
        kills >= 3,
        "only {kills} kills; the run was too quick to interrupt"
    );
    std::fs::remove_dir_all(&base).ok();
}
