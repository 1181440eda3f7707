//! An ELiSe run: its config, cycles, validation cycles and a resume that continues bit for bit.

use biornn_core::{Arrays, Learner, Phase, Stateful};
use biornn_dendritic::{EliseLearner, EliseRunConfig, DEFAULT_ELISE_TOML};

const PLAIN: Phase = Phase {
    stage: None,
    lr_factor: 1.0,
    lr_scale: 1.0,
};

#[test]
fn the_config_parses_and_bad_values_are_named() {
    let c = EliseRunConfig::from_toml(DEFAULT_ELISE_TOML).unwrap();
    assert_eq!(
        c,
        EliseRunConfig {
            name: "elise".into(),
            seed: 1,
            ..Default::default()
        }
    );
    assert_eq!(EliseRunConfig::from_toml(&c.to_toml()).unwrap(), c);
    let p = c.pattern().unwrap();
    assert_eq!((p.neurons, p.steps), (13, 25));
    let on: usize = p.on.iter().filter(|x| **x).count();
    assert_eq!(on, 34, "34 on entries of 325");
    for (text, field) in [
        ("[network]\nscaffold_p = 1.0\n", "network.scaffold_p"),
        ("[network]\nscaffold_q = 0.0\n", "network.scaffold_q"),
        ("[task]\nlambda = 1.0\n", "task.lambda"),
        // the nudged soma's Euler step grows without bound from about 0.895
        ("[task]\nlambda = 0.9\n", "0.8950"),
        ("[network]\nw_init_mean = inf\n", "network.w_init_mean"),
        ("[task]\nstep_ms = 0.25\n", "task.step_ms"),
        ("[task]\npattern = \"/nonexistent.txt\"\n", "task.pattern"),
        (
            "[network]\nconnect = { kind = \"sparse\", density = 2.0, protect_scaffold = true }\n",
            "network.connect",
        ),
        ("[rule]\nkind = \"bptt\"\n", "rule.kind"),
        ("[task]\nstep_ms = 100000.0\n", "task.step_ms"),
        ("[network]\nsize = 3\n", "size"),
    ] {
        let e = EliseRunConfig::from_toml(text).unwrap_err().to_string();
        assert!(e.contains(field), "{text}: {e}");
    }
}

#[test]
fn cycles_alternate_as_the_reference_and_resume_bit_for_bit() {
    let mut c = EliseRunConfig::default();
    c.network.n_latent = 20;
    c.train.validate_every = 3;
    let mut l = EliseLearner::new(&c).unwrap();
    // the reference's c = -1, 0, 1, ...: c = -1 nudged, c = 0 free, then every 3rd
    let free: Vec<bool> = (0..8).map(|s| l.is_free(s)).collect();
    assert_eq!(free, [false, true, false, false, true, false, false, true]);
    let start = std::time::Instant::now();
    for s in 0..5 {
        l.update(s, &PLAIN).unwrap();
    }
    eprintln!(
        "{:.1} ms a cycle (33 neurons)",
        start.elapsed().as_secs_f64() * 200.0
    );
    let e = l.evaluate(5, None).unwrap();
    assert!(e.values["free_mse"] > 0.0 && e.values["nudged_mse"] > 0.0);
    assert!(
        e.values["nudged_mse"] < e.values["free_mse"],
        "the teacher pulls the output"
    );
    let mut saved = Arrays::new();
    l.save_state("", &mut saved);
    let mut straight = l;
    for s in 5..8 {
        straight.update(s, &PLAIN).unwrap();
    }
    let mut resumed = EliseLearner::new(&c).unwrap();
    resumed.load_state("", &saved).unwrap();
    for s in 5..8 {
        resumed.update(s, &PLAIN).unwrap();
    }
    assert_eq!(resumed.net, straight.net);
    assert_eq!(resumed.last_free, straight.last_free);
}

#[test]
fn two_patterns_share_the_latent_pool_each_with_its_own_visible_population() {
    let c = EliseRunConfig::from_toml(
        "[network]\nn_latent = 12\n[task]\npattern = [\"fuer_elise\", \"ode_to_joy\"]\n[train]\nvalidate_every = 2\n",
    )
    .unwrap();
    assert_eq!(EliseRunConfig::from_toml(&c.to_toml()).unwrap(), c);
    // 13 + 5 visible neurons, the 16-step melody followed by 9 steps of rest
    let p = c.pattern().unwrap();
    assert_eq!(
        (p.name.as_str(), p.neurons, p.steps),
        ("fuer_elise+ode_to_joy", 18, 25)
    );
    let mut l = EliseLearner::new(&c).unwrap();
    assert_eq!((l.net.n_vis, l.net.n_lat), (18, 12));
    assert_eq!(l.populations[1], ("ode_to_joy".to_string(), 13..18));
    let columns = l.columns();
    assert!(columns.ends_with(&["free_mse_fuer_elise".into(), "free_mse_ode_to_joy".into()]));
    for s in 0..3 {
        l.update(s, &PLAIN).unwrap();
    }
    let e = l.evaluate(3, None).unwrap();
    let (a, b) = (
        e.values["free_mse_fuer_elise"],
        e.values["free_mse_ode_to_joy"],
    );
    assert!(a > 0.0 && b > 0.0);
    // the whole error is the populations' errors weighted by their sizes
    let whole = (13.0 * a + 5.0 * b) / 18.0;
    assert!(
        (e.values["free_mse"] - whole).abs() < 1e-12 * whole,
        "{whole}"
    );
    assert_eq!(e.cells.len(), columns.len());
    // a resume restores the populations' scores too
    let mut saved = Arrays::new();
    l.save_state("", &mut saved);
    let mut resumed = EliseLearner::new(&c).unwrap();
    resumed.load_state("", &saved).unwrap();
    assert_eq!(resumed.evaluate(3, None).unwrap().cells, e.cells);
    for (text, want) in [
        ("[task]\npattern = []\n", "allowed: 1 to 8 patterns"),
        (
            "[task]\npattern = [\"fuer_elise\", \"fuer_elise\"]\n",
            "distinct names",
        ),
        (
            "[task]\npattern = 3\n",
            "a pattern (a built-in name or a file), or a list",
        ),
    ] {
        let e = EliseRunConfig::from_toml(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}

/// A pattern given as a file is read again on resume: an edit in between is refused by name
/// (a checkpoint keeps the pattern it was trained on); older checkpoints without it still load.
#[test]
fn a_resume_whose_pattern_file_was_edited_is_refused() {
    let dir = std::env::temp_dir().join(format!("biornn-elise-pattern-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.txt");
    let write = |rows: &str| {
        std::fs::write(&file, format!("# name: p nNeurons: 3 nSteps: 4\n{rows}")).unwrap()
    };
    write("1 0 0 0\n0 1 0 0\n0 0 1 1\n");
    let mut c = EliseRunConfig::default();
    c.network.n_latent = 10;
    c.task.pattern = file.to_str().unwrap().into();
    let mut l = EliseLearner::new(&c).unwrap();
    l.update(0, &PLAIN).unwrap();
    let mut saved = Arrays::new();
    l.save_state("", &mut saved);
    let resume = |saved: &Arrays| EliseLearner::new(&c).unwrap().load_state("", saved);
    assert!(resume(&saved).is_ok());
    write("1 0 0 0\n0 1 0 0\n0 0 1 0\n");
    let e = resume(&saved).unwrap_err().to_string();
    assert!(e.contains("task.pattern") && e.contains("edited"), "{e}");
    // one more neuron: named as the pattern, not as a weight of another shape
    std::fs::write(
        &file,
        "# name: p nNeurons: 4 nSteps: 4\n1 0 0 0\n0 1 0 0\n0 0 1 1\n0 0 0 1\n",
    )
    .unwrap();
    let e = resume(&saved).unwrap_err().to_string();
    assert!(e.contains("task.pattern") && e.contains("4 neurons"), "{e}");
    write("1 0 0 0\n0 1 0 0\n0 0 1 0\n");
    saved.remove("pattern");
    assert!(resume(&saved).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}
