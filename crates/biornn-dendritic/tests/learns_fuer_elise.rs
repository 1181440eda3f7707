//! The reference's single run (13 visible and 50 latent neurons, 10,000 cycles of Für Elise):
//! the free-run error falls from that of a silent output (about 0.078) to at most 0.005.
//! About four minutes in release mode on one core.

use biornn_core::{Learner, Phase};
use biornn_dendritic::{EliseLearner, EliseRunConfig};

#[test]
fn the_default_network_learns_fuer_elise_in_10000_cycles() {
    let phase = Phase {
        stage: None,
        lr_factor: 1.0,
        lr_scale: 1.0,
    };
    // the reference's makefile seed, 12345: it ends at 0.0045 here; seed 1 ends at 0.0053, just
    // above the bound (docs/DENDRITIC.md has both)
    let cfg = EliseRunConfig {
        seed: 12345,
        ..Default::default()
    };
    let mut l = EliseLearner::new(&cfg).unwrap();
    let mut first = None;
    for s in 0..10_000u64 {
        l.update(s, &phase).unwrap();
        if s == 1 {
            first = l.last_free;
        }
    }
    let (first, last) = (first.unwrap(), l.last_free.unwrap());
    assert!(first.mse > 0.07, "the untrained free run: {first:?}");
    assert!(last.mse <= 0.005, "after 10,000 cycles: {last:?}");
    assert!(last.correlation > 12.0, "after 10,000 cycles: {last:?}");
}
