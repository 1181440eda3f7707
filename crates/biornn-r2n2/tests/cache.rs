//! The cache recalls a stored sequence of 20 patterns (N = 500, 40% active, exp6.py's demo) in
//! reverse, and forward with the other orientation, under the external and the self-timed gate.

use biornn_numerics::Streams;
use biornn_r2n2::cache::{overlap, random_patterns, Cache, Direction, Lambda};

const N: usize = 500;
const K: usize = 20;

fn best(o: &[f64], patterns: &[f64]) -> (usize, f64) {
    (0..K)
        .map(|k| (k, overlap(o, &patterns[k * N..(k + 1) * N])))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

/// The best-matching pattern at each step, with repeats collapsed.
fn visited(recall: &biornn_r2n2::cache::Recall, patterns: &[f64]) -> Vec<usize> {
    let mut seq: Vec<usize> = vec![];
    for t in 0..recall.steps() {
        let (k, o) = best(recall.at(t, N), patterns);
        if o > 0.9 && seq.last() != Some(&k) {
            seq.push(k);
        }
    }
    seq
}

#[test]
fn an_external_gate_replays_the_sequence_in_reverse_or_forward() {
    let patterns = random_patterns(N, K, 0.4, &Streams::new(1));
    for p in 0..K {
        let on = patterns[p * N..(p + 1) * N]
            .iter()
            .filter(|v| **v == 1.0)
            .count();
        assert_eq!(on, 200);
    }
    for (direction, start, want) in [
        (Direction::Reverse, K - 1, (0..K).rev().collect::<Vec<_>>()),
        (Direction::Forward, 0, (0..K).collect()),
    ] {
        let mut cache = Cache::new(N, 3.5, 6.0, &Streams::new(2)).unwrap();
        cache.store(&patterns, direction).unwrap();
        let recall = cache.replay(
            &patterns[start * N..(start + 1) * N],
            Lambda::External {
                steps_per_pattern: 30,
            },
            &patterns,
        );
        assert_eq!(recall.steps(), 30 * (K - 1));
        // the gate starts at 1 and swings once per transition
        assert_eq!(recall.lambdas[0], 1.0);
        let mut seq = vec![start];
        seq.extend(
            visited(&recall, &patterns)
                .into_iter()
                .filter(|k| *k != start),
        );
        assert_eq!(seq, want, "{direction:?}");
        // the last pattern is reached (as in exp6.py, the gate's final half-swing then lets it drift:
        // no pair of the other matrix holds it)
        let last = want[K - 1];
        let reached = (0..recall.steps())
            .map(|t| overlap(recall.at(t, N), &patterns[last * N..(last + 1) * N]))
            .fold(0.0, f64::max);
        assert!(
            reached > 0.95,
            "{direction:?}: best overlap with the last pattern {reached}"
        );
    }
}

#[test]
fn a_self_timed_gate_flips_when_the_state_settles_and_stops_at_the_end() {
    let patterns = random_patterns(N, K, 0.4, &Streams::new(3));
    let mut cache = Cache::new(N, 2.5, 6.0, &Streams::new(4)).unwrap();
    cache.store(&patterns, Direction::Reverse).unwrap();
    let recall = cache.replay(
        &patterns[(K - 1) * N..],
        Lambda::SelfTimed { max_steps: 30 * K },
        &patterns,
    );
    // it stopped at xi^0 before the step limit, after settling once per pattern on the way
    assert!(recall.steps() < 30 * K);
    let (end, _) = best(recall.at(recall.steps() - 1, N), &patterns);
    assert_eq!(end, 0);
    let settled: Vec<usize> = recall
        .settled
        .iter()
        .map(|o| best(o, &patterns).0)
        .collect();
    let mut distinct = settled.clone();
    distinct.dedup();
    assert_eq!(distinct, (1..K).rev().collect::<Vec<_>>(), "{settled:?}");
}

#[test]
fn bad_patterns_are_refused() {
    let mut cache = Cache::new(4, 1.0, 6.0, &Streams::new(1)).unwrap();
    assert!(cache
        .store(&[1.0, -1.0, 0.5, 1.0], Direction::Reverse)
        .is_err());
    assert!(cache.store(&[1.0, -1.0, 1.0], Direction::Reverse).is_err());
}
