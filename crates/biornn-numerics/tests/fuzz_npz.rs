//! Fuzzing the .npz reader: random bytes and mutations of valid files never panic.
//! PROPTEST_CASES raises the number of cases (CI runs the default).

use biornn_numerics::npz::{decode_npz, encode_npz, NpyArray};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::Cell;
use std::collections::BTreeMap;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn valid() -> Vec<u8> {
    let mut m = BTreeMap::new();
    m.insert(
        "W_rec".to_string(),
        NpyArray::f32(&[3, 3], (0..9).map(|v| v as f32).collect()),
    );
    m.insert("b".to_string(), NpyArray::i32(&[2], vec![1, -1]));
    m.insert("config_toml".to_string(), NpyArray::string("seed = 1"));
    encode_npz(&m).unwrap()
}

#[test]
fn npz_decoder_never_panics() {
    let base = valid();
    let executed = Cell::new(0usize);
    let rejected = Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    let mutation = (
        prop::collection::vec((0..base.len(), any::<u8>()), 0..8),
        prop_oneof![Just(base.len()), 0..=base.len()],
        prop_oneof![Just(vec![]), prop::collection::vec(any::<u8>(), 0..64)],
    );
    runner
        .run(&mutation, |(flips, cut, garbage)| {
            let mut bytes = base.clone();
            for (i, v) in flips {
                bytes[i] = v;
            }
            bytes.truncate(cut);
            bytes.extend_from_slice(&garbage);
            executed.set(executed.get() + 1);
            if decode_npz(&bytes).is_err() {
                rejected.set(rejected.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            executed.set(executed.get() + 1);
            if decode_npz(&bytes).is_err() {
                rejected.set(rejected.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    println!(
        "fuzz npz: {} inputs, {} rejected with an error, 0 panics",
        executed.get(),
        rejected.get()
    );
    assert!(rejected.get() > 0);
}
