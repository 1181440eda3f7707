//! `biornn analyze` and `biornn report` on a briefly trained run, and the report rendered by headless
//! Chromium with every figure present.

use biornn_numerics::npz::read_npz;
use std::path::{Path, PathBuf};
use std::process::Command;

fn biornn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_biornn"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("biornn-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small run on fdgo and dm1 (so that psychometric curves exist), trained for 150 updates.
fn trained_run(dir: &Path) -> PathBuf {
    let cfg = dir.join("small.toml");
    std::fs::write(
        &cfg,
        "name = \"small\"\n[task]\nrules = [\"fdgo\", \"dm1\"]\neasy = true\n[model]\nn_rec = 48\n\
         [train]\nmax_steps = 150\neval_every = 50\neval_trials = 64\n",
    )
    .unwrap();
    let st = biornn()
        .args(["train", "-q", "--runs"])
        .arg(dir)
        .arg(&cfg)
        .status()
        .unwrap();
    assert!(st.success());
    dir.join("small")
}

/// Run `biornn CMD RUN EXTRA...` and insist that it succeeds.
fn run_ok(cmd: &str, run: &Path, extra: &[&str]) -> std::process::Output {
    let out = biornn().arg(cmd).arg(run).args(extra).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

#[test]
fn analyze_writes_results_and_figures_and_the_report_renders() {
    let dir = tmp("run");
    let run = trained_run(&dir);

    run_ok("analyze", &run, &["--inits", "64"]);
    let a = run.join("analysis");
    for f in [
        "fixed_points.npz",
        "fixed_points.csv",
        "pca.npz",
        "pca.csv",
        "psychometric.csv",
        "psychometric_fit.csv",
        "task_variance.csv",
        "task_variance.npz",
        "lesion.csv",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }
    let figures = [
        "training",
        "performance",
        "examples",
        "pca",
        "spectra",
        "psychometric",
        "clusters",
        "connectivity",
        "lesions",
    ];
    for name in figures {
        for ext in ["svg", "png"] {
            let p = a.join(format!("{name}.{ext}"));
            let bytes = std::fs::read(&p).unwrap_or_else(|_| panic!("{} missing", p.display()));
            match ext {
                "png" => assert_eq!(&bytes[1..4], b"PNG"),
                _ => assert!(
                    bytes.starts_with(b"<svg")
                        && !String::from_utf8_lossy(&bytes).contains("<text")
                ),
            }
        }
    }
    // the numbers are consistent with each other
    let fp = read_npz(&a.join("fixed_points.npz")).unwrap();
    let q = fp["qstar"].to_real::<f64>().unwrap();
    let lines = std::fs::read_to_string(a.join("fixed_points.csv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, q.len() + 1);
    assert!(!q.is_empty() && q.iter().all(|q| q.is_finite() && *q >= 0.0));
    let psy = std::fs::read_to_string(a.join("psychometric.csv")).unwrap();
    assert_eq!(
        psy.lines().count(),
        1 + 3 * 11,
        "3 durations x 11 differences for dm1"
    );
    let lesion = std::fs::read_to_string(a.join("lesion.csv")).unwrap();
    assert!(lesion.starts_with("lesion,units,fdgo,dm1\nnone,0,"));

    // a unit list of one's own
    run_ok("analyze", &run, &["--what", "lesion", "--lesion", "0-3,7"]);
    let lesion = std::fs::read_to_string(a.join("lesion.csv")).unwrap();
    assert!(
        lesion.lines().last().unwrap().starts_with("units 0-3 7,5,"),
        "{lesion}"
    );
    let out = biornn()
        .arg("analyze")
        .arg(&run)
        .args(["--what", "lesion", "--lesion", "40-48"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("--lesion")
            && err.contains("48")
            && err.contains("0 to 47"),
        "{err}"
    );

    // only the parts asked for
    let only = tmp("only");
    let run2 = trained_run(&only);
    run_ok("analyze", &run2, &["--what", "pca"]);
    assert!(run2.join("analysis/pca.png").exists());
    assert!(!run2.join("analysis/fixed_points.csv").exists());
    assert!(!run2.join("analysis/lesion.csv").exists());

    // the report
    run_ok("report", &run, &["--inits", "64"]);
    let html_path = run.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains(&format!("data-figures-expected=\"{}\"", figures.len())));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("@import"),
        "self-contained"
    );
    for name in figures {
        assert!(
            html.contains(&format!("data-name=\"{name}\"")),
            "{name} not in the report"
        );
    }

    match chromium() {
        None => {
            if std::env::var_os("BIORNN_REQUIRE_CHROMIUM").is_some() {
                panic!("BIORNN_REQUIRE_CHROMIUM is set but no Chromium was found");
            }
            eprintln!("skipping the browser check: no Chromium at /usr/bin/chromium");
        }
        Some(browser) => {
            let profile = tmp("chromium-profile");
            let out = Command::new(browser)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--virtual-time-budget=10000",
                    "--dump-dom",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg(format!(
                    "file://{}",
                    html_path.canonicalize().unwrap().display()
                ))
                .output()
                .unwrap();
            let dom = String::from_utf8_lossy(&out.stdout);
            assert!(
                dom.contains(&format!("data-figures-rendered=\"{}\"", figures.len())),
                "Chromium did not render every figure: {}\n{}",
                dom.chars().take(400).collect::<String>(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn bad_analysis_requests_get_clear_errors() {
    let out = biornn()
        .args(["analyze", "/nonexistent/run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RUN") && err.contains("run directory"),
        "{err}"
    );
    let dir = tmp("bad");
    let out = biornn()
        .arg("analyze")
        .arg(&dir)
        .args(["--what", "pca,fixedpoints"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--what") && err.contains("fixedpoints") && err.contains("fixed-points"),
        "{err}"
    );
    let out = biornn().arg("analyze").arg(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("model.npz"), "{err}");
}
