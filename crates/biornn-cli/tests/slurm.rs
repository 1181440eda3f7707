//! A sweep through a real Slurm on this machine: the test starts munge, slurmctld and slurmd
//! (Debian's packages, no systemd) with a one-node slurm.conf of its own, submits a sweep of
//! 2 learning rates x 3 seeds as a job array with its collection after it, cancels one run midway
//! (as a time limit would) and resubmits it, and checks every run equals the same sweep run
//! locally. It skips when the daemons are not installed or it is not root, unless
//! `BIORNN_REQUIRE_SLURM=1` (CI), and stops the daemons it started.

use biornn_numerics::npz::read_npz;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn found(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Skip (or fail, where Slurm is required) with a reason.
fn unavailable(why: &str) -> bool {
    if std::env::var("BIORNN_REQUIRE_SLURM").is_ok_and(|v| v == "1") {
        panic!("BIORNN_REQUIRE_SLURM=1 but {why}");
    }
    eprintln!("skipping the Slurm sweep test: {why}");
    true
}

/// The daemons this test started, stopped when it ends (pass or fail).
struct Cluster {
    conf: PathBuf,
    pids: Vec<PathBuf>,
    munged: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid in &self.pids {
            if let Ok(p) = std::fs::read_to_string(pid) {
                let p = p.trim().to_string();
                let _ = Command::new("kill").arg(&p).status();
                // gone before the next test (or CI step) starts daemons of its own
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_secs(15)
                    && Command::new("kill")
                        .args(["-0", &p])
                        .stderr(std::process::Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        if self.munged {
            let _ = Command::new("pkill").args(["-x", "munged"]).status();
        }
    }
}

fn start_cluster(dir: &Path) -> Cluster {
    let host = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(2000, |kb| kb / 1024 / 2);
    // munge: the key the package made, the daemon as its own user
    let munged = !Command::new("pgrep")
        .args(["-x", "munged"])
        .status()
        .unwrap()
        .success();
    if munged {
        std::fs::create_dir_all("/run/munge").unwrap();
        Command::new("chown")
            .args(["munge:munge", "/run/munge"])
            .status()
            .unwrap();
        let st = Command::new("runuser")
            .args(["-u", "munge", "--", "munged"])
            .status()
            .unwrap();
        assert!(st.success(), "munged did not start");
    }
    let state = dir.join("state");
    for d in ["ctld", "d", "log"] {
        std::fs::create_dir_all(state.join(d)).unwrap();
    }
    // ports of this test's own, away from a system Slurm's
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let s = state.display();
    let conf = dir.join("slurm.conf");
    std::fs::write(
        &conf,
        format!(
            "ClusterName=biornntest\nSlurmctldHost={host}\nSlurmUser=root\nSlurmctldPort={port}\nSlurmdPort={}\nAuthType=auth/munge\nStateSaveLocation={s}/ctld\nSlurmdSpoolDir={s}/d\nSlurmctldPidFile={s}/slurmctld.pid\nSlurmdPidFile={s}/slurmd.pid\nSlurmctldLogFile={s}/log/ctld.log\nSlurmdLogFile={s}/log/d.log\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\nReturnToService=2\nJobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\nMpiDefault=none\nNodeName={host} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN\nPartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            port + 1
        ),
    )
    .unwrap();
    let cluster = Cluster {
        conf: conf.clone(),
        pids: vec![state.join("slurmd.pid"), state.join("slurmctld.pid")],
        munged,
    };
    for (daemon, args) in [("slurmctld", vec!["-i"]), ("slurmd", vec![])] {
        let st = Command::new(daemon)
            .arg("-f")
            .arg(&conf)
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "{daemon} did not start");
    }
    // the node is up when sinfo calls it idle
    let t0 = Instant::now();
    loop {
        let out = Command::new("sinfo")
            .args(["-h", "-o", "%t"])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("idle") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the Slurm node did not come up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    cluster
}

fn biornn(conf: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_biornn"));
    c.env("SLURM_CONF", conf);
    c
}

fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Wait until Slurm has no job of ours left.
fn wait_empty(conf: &Path, limit: Duration) {
    let t0 = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%i"])
            .env("SLURM_CONF", conf)
            .output()
            .unwrap();
        if out.status.success() && out.stdout.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        assert!(
            t0.elapsed() < limit,
            "the jobs did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_sweep_through_slurm_equals_the_same_sweep_run_locally() {
    for cmd in [
        "munged",
        "slurmctld",
        "slurmd",
        "sbatch",
        "squeue",
        "sinfo",
        "runuser",
    ] {
        if !found(cmd)
            && unavailable(&format!(
                "`{cmd}` is not installed (Debian: slurmctld slurmd slurm-client munge)"
            ))
        {
            return;
        }
    }
    let root = Command::new("id").arg("-u").output().unwrap().stdout;
    if String::from_utf8_lossy(&root).trim() != "0" && unavailable("the daemons need root") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("biornn-slurm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = start_cluster(&dir);
    let conf = cluster.conf.clone();
    // a short run per setting; one longer run (index 5) to cancel midway
    let sweep = |name: &str, runs: &str| {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!(
                "name = \"lr\"\nruns = \"{runs}\"\nseeds = [1, 2, 3]\n[grid]\n\"train.learning_rate\" = [0.001, 0.003]\n\"train.max_steps\" = [60]\n\"train.eval_every\" = [10]\n\"model.n_rec\" = [32]\n[slurm]\nmem = \"500M\"\ntime = \"00:10:00\"\nmax_parallel = 2\n"
            ),
        )
        .unwrap();
        file
    };
    let on_slurm = sweep("slurm", "cluster");
    let here = sweep("local", "local");
    let out = succeed(
        biornn(&conf)
            .args(["sweep"])
            .arg(&on_slurm)
            .args(["--slurm", "--submit"]),
    );
    assert!(out.contains("submitted: job"), "{out}");
    // cancel run 5 once it has a checkpoint, as a time limit would
    let run5 = dir.join("cluster/lr/0005");
    let t0 = Instant::now();
    let mut cancelled = false;
    while t0.elapsed() < Duration::from_secs(240) {
        if run5.join("summary.json").exists() {
            break;
        }
        let has_checkpoint = std::fs::read_dir(run5.join("checkpoints")).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
        });
        if has_checkpoint {
            let job = out
                .split("submitted: job")
                .nth(1)
                .unwrap()
                .trim()
                .to_string();
            let st = Command::new("scancel")
                .arg(format!("{job}_5"))
                .env("SLURM_CONF", &conf)
                .status()
                .unwrap();
            cancelled = st.success();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_empty(&conf, Duration::from_secs(300));
    let status = succeed(biornn(&conf).args(["sweep", "status"]).arg(&on_slurm));
    if cancelled && !run5.join("summary.json").exists() {
        // the cancelled run is the one left: resubmit only it
        assert!(status.contains("5 of 6 runs finished"), "{status}");
        let out = succeed(
            biornn(&conf)
                .args(["sweep", "status"])
                .arg(&on_slurm)
                .args(["--resubmit", "--submit"]),
        );
        assert!(out.contains("1 runs as a Slurm array"), "{out}");
        let array = std::fs::read_to_string(dir.join("cluster/lr/sweep.sbatch")).unwrap();
        assert!(array.contains("--array=5%2"), "{array}");
        wait_empty(&conf, Duration::from_secs(300));
    } else {
        eprintln!("run 5 finished before it could be cancelled; the resubmission is not exercised");
    }
    let status = succeed(biornn(&conf).args(["sweep", "status"]).arg(&on_slurm));
    assert!(status.contains("6 of 6 runs finished"), "{status}");
    // the collection ran after the array
    assert!(dir.join("cluster/lr/sweep.csv").exists());
    // the same sweep here
    succeed(
        biornn(&conf)
            .args(["sweep"])
            .arg(&here)
            .args(["--local", "-j", "2"]),
    );
    let mut jobs = vec![];
    for i in 0..6 {
        let (a, b) = (
            dir.join(format!("cluster/lr/{i:04}")),
            dir.join(format!("local/lr/{i:04}")),
        );
        // everything but the wall clock (and the checksum, which covers it)
        let (ma, mb) = (
            read_npz(&a.join("model.npz")).unwrap(),
            read_npz(&b.join("model.npz")).unwrap(),
        );
        let differing: Vec<&String> = ma
            .keys()
            .filter(|k| !k.contains("wall_s") && *k != "checksum" && ma.get(*k) != mb.get(*k))
            .collect();
        assert!(
            differing.is_empty() && ma.len() == mb.len(),
            "run {i}: {differing:?} differ"
        );
        let (mut sa, mut sb) = (summary(&a), summary(&b));
        let task: String = sa["slurm_array_task_id"].as_str().unwrap().into();
        assert_eq!(task, i.to_string());
        jobs.push(sa["slurm_job_id"].as_str().unwrap().to_string());
        for s in [&mut sa, &mut sb] {
            let o = s.as_object_mut().unwrap();
            o.retain(|k, _| k != "wall_s" && !k.starts_with("slurm_"));
        }
        assert_eq!(sa, sb, "run {i}: summaries");
    }
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), 6, "each run its own job id");
    drop(cluster);
    std::fs::remove_dir_all(&dir).ok();
}
