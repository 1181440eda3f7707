//! The long-term-dependency trainer: a plain schedule in disguise equals the plain network bit for
//! bit, and a short run records what the experiments need.

use biornn_model::SkipKind;
use biornn_tasks::temporalskip::TsRule;
use biornn_train::longterm::{
    train_long_term, BlockScope, LongTermConfig, LongTermResult, Method, RoundsOptions,
};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Train in a fresh temporary run directory.
fn run(cfg: &LongTermConfig) -> biornn_numerics::Result<LongTermResult> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "biornn-longterm-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let r = train_long_term(cfg, &dir, false, &RoundsOptions::default());
    std::fs::remove_dir_all(&dir).ok();
    r
}

fn small(task: TsRule, method: Method) -> LongTermConfig {
    LongTermConfig {
        n_rec: 10,
        batch: 4,
        eval_trials: 6,
        updates_per_round: 2,
        stage_rounds: 4,
        max_rounds: 6,
        criterion: 1.1, // never met: every round runs
        ..LongTermConfig::reference(task, method, 3)
    }
}

#[test]
fn beta_one_and_cd_at_theta_one_equal_plain_training() {
    let base = run(&small(TsRule::DlyGo, Method::Base)).unwrap();
    assert_eq!(base.rounds, 6);
    assert_eq!(base.history.len(), 6);
    let sctt = Method::Skip {
        kind: SkipKind::Sctt,
        theta: 10,
        stages: 2,
        beta0: 1.0,
    };
    let skip_at_one = run(&small(TsRule::DlyGo, sctt)).unwrap();
    let cd_at_one = run(&LongTermConfig {
        keep_optimizer: true,
        ..small(
            TsRule::DlyGo,
            Method::Cd {
                stages: 2,
                theta_max: 1,
            },
        )
    })
    .unwrap();
    for other in [&skip_at_one, &cd_at_one] {
        assert_eq!(other.final_perf, base.final_perf);
        let tm = |r: &biornn_train::longterm::LongTermResult| {
            r.history.iter().map(|h| h.1).collect::<Vec<_>>()
        };
        assert_eq!(tm(other), tm(&base));
        assert_eq!(other.train_loss, base.train_loss);
    }
    // a real skip changes training
    let dasc = Method::parse("dasc-t10-s2-b0.2").unwrap();
    let changed = run(&small(TsRule::DlyGo, dasc)).unwrap();
    assert_ne!(changed.train_loss, base.train_loss);
    // stages are recorded: 2 rounds each (4 / 2), then plain
    let phases: Vec<Option<usize>> = changed.history.iter().map(|h| h.0).collect();
    assert_eq!(phases, vec![Some(0), Some(0), Some(1), Some(1), None, None]);
}

#[test]
fn cd_trial_scope_and_a_reachable_criterion() {
    let cd = run(&small(TsRule::Dms, Method::parse("cd-s2").unwrap())).unwrap();
    assert_eq!(cd.rounds, 6);
    assert!(cd.train_seconds > 0.0);
    let trial = LongTermConfig {
        scope: BlockScope::Trial,
        ..small(TsRule::Go, Method::parse("sctt-t10-s2-b0.5").unwrap())
    };
    let r = run(&trial).unwrap();
    assert_eq!(r.network_rounds.len(), 3);
    // a criterion of 0 is met after the first round, and every network counts as there
    let easy = LongTermConfig {
        criterion: 0.0,
        ..small(TsRule::Go, Method::Base)
    };
    let r = run(&easy).unwrap();
    assert!(r.reached && r.rounds == 1);
    assert!(r.network_rounds.iter().all(|n| *n == Some(1)));
    assert!(LongTermConfig {
        networks: 0,
        ..easy.clone()
    }
    .validate()
    .is_err());
}

/// The K networks share their batches, but each trains as it would alone: network 0 of three
/// equals the only network of a run of one bit for bit (weights and score), at any thread count.
#[test]
fn a_network_trained_among_k_equals_it_trained_alone() {
    let weights = |networks: usize, threads: usize| {
        let dir = std::env::temp_dir().join(format!(
            "biornn-longterm-{}-alone-{networks}-{threads}",
            std::process::id()
        ));
        let cfg = LongTermConfig {
            networks,
            ..small(TsRule::Dms, Method::parse("dasc-t10-s2-b0.5").unwrap())
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let r = pool
            .install(|| train_long_term(&cfg, &dir, false, &RoundsOptions::default()))
            .unwrap();
        let mut m = biornn_numerics::npz::read_npz(&dir.join("model.npz")).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        m.retain(|name, _| name.starts_with("net0/"));
        assert!(m.len() >= 5, "{:?}", m.keys());
        (m, r.final_perf[0])
    };
    let alone = weights(1, 1);
    assert_eq!(weights(3, 2), alone);
    assert_eq!(weights(3, 1), alone);
}
