//! The architecture's invariants (docs/ARCHITECTURE.md), checked on the crates' manifests and
//! sources so that a change that breaks one fails here, with the rule it broke.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every workspace crate (without the `biornn-` prefix) with the biornn crates it depends on
/// (`[dependencies]` only: tests may use more).
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(crates_dir()).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut deps = BTreeSet::new();
        let mut in_deps = false;
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line == "[dependencies]";
            } else if in_deps {
                if let Some(dep) = line.strip_prefix("biornn-") {
                    let dep: String = dep
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '-')
                        .collect();
                    deps.insert(dep);
                }
            }
        }
        out.insert(name.trim_start_matches("biornn-").to_string(), deps);
    }
    out
}

/// The Rust sources under `crates/biornn-<name>/src`, with their text.
fn sources(name: &str) -> Vec<(PathBuf, String)> {
    let mut out = vec![];
    let mut stack = vec![crates_dir().join(format!("biornn-{name}")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out
}

/// Layers depend downward only: each crate may use the crates listed here and nothing else, and
/// a new crate must be given its place.
#[test]
fn layers_depend_downward_only() {
    let allowed: BTreeMap<&str, &[&str]> = [
        ("numerics", &[][..]),
        ("core", &["numerics"][..]),
        ("tasks", &["numerics", "core"][..]),
        ("model", &["numerics", "core"][..]),
        ("run", &["numerics", "core"][..]),
        ("reservoir", &["numerics", "core", "model", "tasks"][..]),
        ("r2n2", &["numerics", "core", "tasks"][..]),
        ("dendritic", &["numerics", "core"][..]),
        ("vision", &["numerics", "core", "tasks", "model"][..]),
        ("train", &["numerics", "core", "run", "tasks", "model"][..]),
        ("analysis", &["numerics", "core", "tasks", "model"][..]),
        ("report", &["numerics", "run", "analysis"][..]),
        (
            "api",
            &[
                "numerics",
                "core",
                "run",
                "tasks",
                "model",
                "train",
                "reservoir",
                "r2n2",
                "dendritic",
                "vision",
                "analysis",
                "report",
            ][..],
        ),
        ("cli", &["api"][..]),
        // the Python module: the facade, and numerics for the arrays it converts
        ("py", &["api", "numerics"][..]),
    ]
    .into();
    let deps = dependencies();
    assert!(
        deps.len() >= allowed.len(),
        "crates found: {:?}",
        deps.keys()
    );
    for (name, uses) in &deps {
        let Some(ok) = allowed.get(name.as_str()) else {
            panic!("crate biornn-{name} has no place in the layer map of docs/ARCHITECTURE.md and this test");
        };
        for d in uses {
            assert!(
                ok.contains(&d.as_str()),
                "biornn-{name} depends on biornn-{d}, which is not below it (allowed: {ok:?})"
            );
        }
    }
}

/// Analysis never depends on a learning rule: it works on what a network is, whoever trained it.
#[test]
fn analysis_and_report_never_depend_on_a_learning_rule() {
    let rules = ["train", "reservoir", "r2n2", "dendritic", "vision"];
    let deps = dependencies();
    for name in ["analysis", "report"] {
        for r in rules {
            assert!(
                !deps[name].contains(r),
                "biornn-{name} depends on the learning rule crate biornn-{r}"
            );
        }
    }
}

/// Only the run crate knows the run-directory files: no other crate's sources name them.
#[test]
fn only_the_run_crate_knows_the_run_directory_files() {
    let names = [
        "\"config.toml\"",
        "\"metrics.csv\"",
        "\"history.csv\"",
        "\"model.npz\"",
        "\"summary.json\"",
        "\"report.html\"",
        "\"checkpoints\"",
        "\"step_{",
    ];
    for crate_name in dependencies().keys().filter(|c| c.as_str() != "run") {
        for (path, text) in sources(crate_name) {
            for n in names {
                assert!(
                    !text.contains(n),
                    "{} names the run file {n}: ask biornn_run::RunDir instead",
                    path.display()
                );
            }
        }
    }
}

/// The CLI only parses and prints: it depends on one facade crate for everything it runs, and
/// writes or reads no file itself.
#[test]
fn the_cli_only_parses_and_prints() {
    assert_eq!(
        dependencies()["cli"],
        BTreeSet::from(["api".to_string()]),
        "biornn-cli must reach everything through biornn-api"
    );
    for (path, text) in sources("cli") {
        for io in [
            "std::fs",
            "File::",
            "OpenOptions",
            "write_atomic",
            "write_npz",
            "read_npz",
        ] {
            assert!(
                !text.contains(io),
                "{} does file I/O ({io}); that belongs in the library crates",
                path.display()
            );
        }
    }
}

/// The core is vocabulary only: no files, no printing, no threads.
#[test]
fn the_core_does_no_io() {
    for (path, text) in sources("core") {
        for io in [
            "std::fs",
            "std::io",
            "println!",
            "eprintln!",
            "std::thread",
            "rayon",
        ] {
            assert!(!text.contains(io), "{} uses {io}", path.display());
        }
    }
}
