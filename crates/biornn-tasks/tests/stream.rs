//! NeuroGym's Dataset layout: trials back to back in every row, cut into windows.

use biornn_numerics::Streams;
use biornn_tasks::{BatchSource, BatchSpec, StreamBattery, Task, TaskConfig, Timing};

fn battery(window: usize) -> (StreamBattery<std::sync::Arc<dyn Task>>, usize) {
    let cfg = TaskConfig {
        battery: "modcog".into(),
        rules: ["go", "dm1", "dms"].map(String::from).to_vec(),
        dt: 100.0,
        sigma_x: Some(0.0),
        ..Default::default()
    };
    let spec = BatchSpec {
        dt: 100.0,
        batch_size: 3,
        timing: Timing::PerTrial,
        input_noise_std: 0.0,
    };
    let n_in = cfg.sizes().unwrap().0;
    (
        StreamBattery::new(
            cfg.tasks().unwrap(),
            vec![1.0; 3],
            spec,
            window,
            &Streams::new(7),
        ),
        n_in,
    )
}

#[test]
fn windows_tile_each_rows_stream_of_whole_trials() {
    let (mut s, n_in) = battery(16);
    // five windows of row 1 side by side
    let mut x = vec![];
    let mut class = vec![];
    for i in 0..5 {
        let b = s.batch(i).clone();
        assert_eq!((b.steps, b.batch), (16, 3));
        assert_eq!(b.lengths, vec![16; 3]);
        for t in 0..16 {
            x.extend_from_slice(&b.x[(t * 3 + 1) * n_in..(t * 3 + 2) * n_in]);
            class.push(b.class[t * 3 + 1]);
        }
    }
    // the same row rebuilt trial by trial: the task one-hot (channels 33..36) says which task each
    // step belongs to; it changes only where a trial ends, and never to the same task
    let task_of = |t: usize| (0..3).find(|k| x[t * n_in + 33 + k] == 1.0).unwrap();
    let mut changes = 0;
    for t in 1..80 {
        if task_of(t) != task_of(t - 1) {
            changes += 1;
        }
    }
    assert!(changes >= 3, "{changes} trials ended in 80 steps");
    // every trial begins fixating (class 0) and every step has a class
    assert_eq!(class[0], 0);
    assert!(class.iter().all(|c| (0..17).contains(c)));
    // an earlier batch again: the rows are replayed and give the same windows
    let again = s.batch(2).clone();
    let b4 = s.batch(4).clone();
    let (mut fresh, _) = battery(16);
    assert_eq!(fresh.batch(2).x, again.x);
    assert_eq!(fresh.batch(4).x, b4.x);
}

#[test]
fn consecutive_trials_are_different_tasks() {
    // at dt 100 a go trial is 15 steps, dm1 9 to 11, dms 24 to 33: a run of one task longer than
    // that would be two trials of it in a row
    let (mut s, n_in) = battery(300);
    let b = s.batch(0).clone();
    for row in 0..3 {
        let tasks: Vec<usize> = (0..300)
            .map(|t| {
                (0..3)
                    .find(|k| b.x[(t * 3 + row) * n_in + 33 + k] == 1.0)
                    .unwrap()
            })
            .collect();
        let mut runs: Vec<(usize, usize)> = vec![];
        for t in tasks {
            match runs.last_mut() {
                Some((task, len)) if *task == t => *len += 1,
                _ => runs.push((t, 1)),
            }
        }
        runs.pop(); // the last trial runs past the window
        assert!(runs.len() >= 10, "{runs:?}");
        for (task, len) in &runs {
            let allowed = match task {
                0 => 15..=15,
                1 => 9..=11,
                _ => 24..=33,
            };
            assert!(
                allowed.contains(len),
                "row {row}: task {task} for {len} steps: {runs:?}"
            );
        }
    }
}
