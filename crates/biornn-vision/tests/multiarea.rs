//! The multi-area network's trials: what the CTRNN sees and is asked, epoch by epoch.

mod common;

use biornn_core::Learner;
use biornn_numerics::npz::{write_npz, NpyArray};
use biornn_numerics::Streams;
use biornn_vision::multiarea::{MultiAreaLearner, MultiAreaRunConfig};
use biornn_vision::{checkpoint, CordsNet, CordsNetShape};

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

#[test]
fn a_dmc_trial_shows_sample_blank_test_and_asks_for_the_category_match() {
    let dir = std::env::temp_dir().join(format!("biornn-vision-{}-multiarea", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // images of 4 classes, each its own brightness
    for (prefix, n) in [("train", 40u32), ("t10k", 8)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
        let pixels: Vec<u8> = labels
            .iter()
            .flat_map(|l| vec![40 * (*l + 1); 64])
            .collect();
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx(&[n, 8, 8], &pixels),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx(&[n], &labels),
        )
        .unwrap();
    }
    // a random front end for 8 x 8 grey images, saved as a CordsNet run's model.npz
    let net = CordsNet::new(&CordsNetShape {
        depth: 2,
        in_channels: 1,
        image: (8, 8),
        widths: [3, 3, 3, 3],
        classes: 4,
    })
    .unwrap();
    let mut theta: Vec<f32> = net.init(&Streams::new(2));
    // biases away from zero: with none, the blank steps sit every unit at ReLU's kink
    common::random_biases(&net, &mut theta, 3, 0.3);
    let mut arrays = checkpoint::save(&net, &theta);
    arrays.insert(
        "input_shape".into(),
        NpyArray::f32(&[3], vec![1.0, 8.0, 8.0]),
    );
    arrays.insert("input_mean".into(), NpyArray::f32(&[1], vec![0.5]));
    arrays.insert("input_std".into(), NpyArray::f32(&[1], vec![0.25]));
    write_npz(&dir.join("model.npz"), &arrays).unwrap();
    let cfg = MultiAreaRunConfig::from_toml(&format!(
        "[front_end]\nmodel = \"{}\"\nspontaneous_steps = 10\n[model]\nn_rec = 8\n[task]\npath = \"{}\"\nfixation_ms = 4.0\nsample_ms = 6.0\ndelay_ms = 4.0\ntest_ms = 10.0\ngrace_ms = 4.0\nboundary = 2\n",
        dir.join("model.npz").display(),
        dir.display()
    ))
    .unwrap();
    assert_eq!(cfg.epochs(), [2, 3, 2, 5]);
    // a boundary that leaves one category empty is named, not a trial that never finds its image
    let mut one_sided = cfg.clone();
    one_sided.task.boundary = 9;
    let e = MultiAreaLearner::new(&one_sided).err().unwrap().to_string();
    assert!(e.contains("task.boundary"), "{e}");
    // a model exported before its ReLU stage (PReLU slope 0.35, or the linear stage's 1) is
    // refused by name, not run as ReLU; slope 0 is ReLU
    for (slope, refused) in [(0.35f32, true), (1.0, true), (0.0, false)] {
        let mut staged = arrays.clone();
        staged.insert("prelu.weight".into(), NpyArray::f32(&[1], vec![slope]));
        let path = dir.join("staged.npz");
        write_npz(&path, &staged).unwrap();
        let mut c = cfg.clone();
        c.front_end.model = path;
        match MultiAreaLearner::new(&c) {
            Err(e) if refused => {
                let e = e.to_string();
                assert!(
                    e.contains("front_end.model") && e.contains("prelu.weight"),
                    "{e}"
                );
            }
            Ok(_) if !refused => {}
            other => panic!("slope {slope}: {:?}", other.err().map(|e| e.to_string())),
        }
    }
    let l = MultiAreaLearner::new(&cfg).unwrap();
    let n = 16;
    let b = l.batch(&l.train_images, "t", 0, n);
    assert_eq!((b.steps, b.input.len()), (12, 4 * 12 * n));
    assert!(b.matches.iter().any(|m| *m) && b.matches.iter().any(|m| !*m));
    let col = |t: usize, i: usize| t * n + i;
    for i in 0..n {
        // fixation on until the test, off during it
        assert_eq!(b.input[col(6, i) * 4], 1.0);
        assert_eq!(b.input[col(7, i) * 4], 0.0);
        // before the sample every trial sees the same blank from the same spontaneous state
        assert_eq!(
            b.input[col(1, i) * 4 + 1..col(1, i) * 4 + 4],
            b.input[col(1, 0) * 4 + 1..col(1, 0) * 4 + 4]
        );
        // the answer: match or not, due after the grace period
        let o = &b.target[col(11, i) * 3..col(11, i) * 3 + 3];
        assert_eq!(
            o,
            if b.matches[i] {
                [0.05, 0.85, 0.05]
            } else {
                [0.05, 0.05, 0.85]
            }
        );
        assert_eq!(b.weight[col(7, i) * 3], 0.0);
        assert_eq!(b.weight[col(9, i) * 3], 5.0);
        assert_eq!(
            &b.target[col(3, i) * 3..col(3, i) * 3 + 3],
            [0.85, 0.05, 0.05]
        );
    }
    // the sample moves the features away from the blank's
    let differs = (0..n).any(|i| {
        b.input[col(4, i) * 4 + 1..col(4, i) * 4 + 4]
            != b.input[col(1, i) * 4 + 1..col(1, i) * 4 + 4]
    });
    assert!(differs);
    // the delay, for the analysis: the input it settles to (fixation on, the front end at rest:
    // what the fixation epoch shows), and each test trial's state where its sample left it,
    // first-category samples first
    let mut l = MultiAreaLearner::new(&cfg).unwrap();
    let view = l.delay_view(8);
    let b = l.batch(&l.test_images, "analysis_trials", 0, 8);
    let rest: Vec<f64> = b.input[1..4].iter().map(|v| *v as f64).collect();
    assert_eq!(view.input, [&[1.0][..], &rest].concat());
    // each sample's class from its brightness (class l is 40 (l + 1) / 255, normalised with
    // mean 0.5 and std 0.25): classes 0 and 1 are the first side
    let class = |i: usize| {
        let v = b.images[0][i * 64] as f64 * 0.25 + 0.5;
        (v * 255.0 / 40.0).round() as usize - 1
    };
    assert!((0..8).all(|i| b.second_side[i] == (class(i) >= 2)));
    assert!(b.second_side.iter().any(|s| *s) && b.second_side.iter().any(|s| !*s));
    // the network run through the fixation and sample epochs alone (2 + 3 steps) ends where the
    // starts are, first-side trials first
    let mut traj = biornn_model::Trajectory::default();
    l.net.forward(&b.input[..4 * 5 * 8], 5, 8, false, &mut traj);
    let nr = l.net.n_rec;
    let last = &traj.state[traj.state.len() - 8 * nr..];
    let mut first_side = (0..8).filter(|i| class(*i) < 2);
    let mut second_side = (0..8).filter(|i| class(*i) >= 2);
    for j in 0..8 {
        let i = first_side.next().or_else(|| second_side.next()).unwrap();
        let state: Vec<f64> = last[i * nr..(i + 1) * nr]
            .iter()
            .map(|v| *v as f64)
            .collect();
        assert_eq!(view.starts[j * nr..(j + 1) * nr], state, "start {j}");
    }
    let second = b.second_side.iter().filter(|s| **s).count();
    assert!(
        view.label.contains(&format!(
            "{} samples of classes below 2, then {second}",
            8 - second
        )),
        "{}",
        view.label
    );
    // scored on 7 test trials in batches of 4 (the last one short): the first count is of the
    // trials whose answer is a match, and the counts make up the accuracy
    let mut batched = cfg.clone();
    batched.train.batch_size = 4;
    let mut l = MultiAreaLearner::new(&batched).unwrap();
    let s = l.test_score("scored", 7);
    let matches = [(0, 4), (1, 3)]
        .iter()
        .map(|(i, n)| {
            let b = l.batch(&l.test_images, "scored", *i, *n);
            b.matches.iter().filter(|m| **m).count()
        })
        .sum::<usize>();
    assert_eq!(s.trials, 7);
    assert_eq!((s.by_answer[0].1, s.by_answer[1].1), (matches, 7 - matches));
    let right = s.by_answer[0].0 + s.by_answer[1].0;
    assert!((s.accuracy - right as f64 / 7.0).abs() < 1e-12, "{s:?}");
    // the same network on random-dot motion: the dots' frames during the sample epoch, a choice
    // right or left after it
    let mut dots = cfg.clone();
    dots.task.kind = "dots".into();
    dots.task.coherences = vec![1.0];
    let l = MultiAreaLearner::new(&dots).unwrap();
    let b = l.batch(&l.train_images, "t", 0, n);
    assert_eq!(b.steps, 12);
    assert!(b.matches.iter().any(|m| *m) && b.matches.iter().any(|m| !*m));
    for i in 0..n {
        let o = &b.target[col(11, i) * 3..col(11, i) * 3 + 3];
        assert_eq!(
            o,
            if b.matches[i] {
                [0.05, 0.85, 0.05]
            } else {
                [0.05, 0.05, 0.85]
            }
        );
    }
    // a new frame each step: the features keep changing through the motion epoch
    let f = |t: usize| b.input[col(t, 0) * 4 + 1..col(t, 0) * 4 + 4].to_vec();
    assert!(f(3) != f(4) && f(1) != f(3));
    // scored apart at each coherence of the list (listed twice, counted once): each trial at the
    // coherence its batch drew, the counts making up the accuracy, and a metrics column each
    let mut mixed = dots.clone();
    mixed.task.coherences = vec![0.3, 1.0, 0.3];
    mixed.train.batch_size = 4;
    let mut m = MultiAreaLearner::new(&mixed).unwrap();
    assert_eq!(m.coherence_levels(), [0.3, 1.0]);
    let s = m.test_score("scored", 9);
    let drawn: Vec<f64> = [(0, 4), (1, 4), (2, 1)]
        .iter()
        .flat_map(|(i, n)| m.batch(&m.test_images, "scored", *i, *n).coherence)
        .collect();
    let at = |c: f64| drawn.iter().filter(|d| **d == c).count();
    assert_eq!(
        s.by_coherence.iter().map(|x| x.1).collect::<Vec<_>>(),
        [at(0.3), at(1.0)]
    );
    assert!(at(0.3) > 0 && at(1.0) > 0, "{drawn:?}");
    let right = s.by_coherence[0].0 + s.by_coherence[1].0;
    assert!((s.accuracy - right as f64 / 9.0).abs() < 1e-12, "{s:?}");
    let columns = m.columns();
    assert_eq!(
        columns[3..],
        ["test_accuracy_coh_0.3", "test_accuracy_coh_1"]
    );
    let e = m.evaluate(0, None).unwrap();
    let value = |k: &str| e.values.iter().find(|(c, _)| c.as_str() == k).unwrap().1;
    let scored = m.test_score("multiarea_eval", mixed.task.eval_trials);
    let share = scored.by_coherence[1].0 as f64 / scored.by_coherence[1].1 as f64;
    assert!((value("test_accuracy_coh_1") - share).abs() < 1e-12);
    assert!(cfg.task.kind == "dmc" && MultiAreaLearner::new(&cfg).unwrap().columns().len() == 3);
    // features on a grid (the last areas here are 2 x 2): each channel's 4 cells in place of its
    // global average, whose mean they are; a grid finer than the map is refused by name
    let mut grid = dots.clone();
    grid.front_end.feature_grid = 2;
    let g = MultiAreaLearner::new(&grid).unwrap();
    assert_eq!(g.net.n_in, 1 + 3 * 4);
    let gb = g.batch(&g.train_images, "t", 0, n);
    assert_eq!(gb.input.len(), 13 * 12 * n);
    for t in [1, 4] {
        for ch in 0..3 {
            let cells = &gb.input[col(t, 0) * 13 + 1 + 4 * ch..col(t, 0) * 13 + 5 + 4 * ch];
            let mean = cells.iter().sum::<f32>() / 4.0;
            assert!((mean - b.input[col(t, 0) * 4 + 1 + ch]).abs() < 1e-6);
        }
    }
    // the moving dots reach the cells unevenly: the grid's features are not one value repeated
    let cells = &gb.input[col(4, 0) * 13 + 1..col(4, 0) * 13 + 5];
    assert!(cells.iter().any(|v| *v != cells[0]), "{cells:?}");
    let mut too_fine = dots.clone();
    too_fine.front_end.feature_grid = 3;
    let e = MultiAreaLearner::new(&too_fine).err().unwrap().to_string();
    assert!(
        e.contains("front_end.feature_grid") && e.contains("2 x 2"),
        "{e}"
    );
    // fine-tuning: the front end's gradient of the CTRNN's loss, along a random direction,
    // against a central difference (f32, so a loose tolerance), on both tasks and on the grid
    for mut task in [cfg.clone(), dots.clone(), grid.clone()] {
        task.front_end.fine_tune = true;
        task.front_end.bptt_segment = 5;
        let mut l = MultiAreaLearner::new(&task).unwrap();
        let b = l.batch(&l.train_images, "t", 1, 4);
        let (ni, nr) = (l.net.n_in, l.net.n_rec);
        let mut grads = biornn_model::Grads::zeros(ni, nr, 3);
        l.run(&b, Some(&mut grads));
        let g = l.front_grad().unwrap().to_vec();
        assert!(g.iter().any(|v| *v != 0.0));
        let theta = l.front.theta.clone();
        let dir = {
            let mut r = Streams::new(8).stream("dir", 0);
            let d: Vec<f32> = (0..theta.len()).map(|_| r.normal() as f32).collect();
            let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            d.iter().map(|v| v / norm).collect::<Vec<f32>>()
        };
        let along: f64 = g.iter().zip(&dir).map(|(a, b)| (a * b) as f64).sum();
        let eps = 1e-2f32;
        let mut at = |sign: f32| {
            // the spontaneous state held (the gradient treats it as a constant, as the
            // reference's training does); the same trials, the features recomputed
            l.front.theta = theta
                .iter()
                .zip(&dir)
                .map(|(t, d)| t + sign * eps * d)
                .collect();
            let b = l.batch(&l.train_images, "t", 1, 4);
            l.run(&b, None).0
        };
        let fd = (at(1.0) - at(-1.0)) / (2.0 * eps as f64);
        assert!(
            (fd - along).abs() < 0.05 * fd.abs().max(along.abs()) + 1e-5,
            "{}: along a direction {along} against a finite difference {fd}",
            task.task.kind
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dots_move_coherently_and_gratings_are_oriented() {
    use biornn_vision::stimuli::{grating, Dots};
    let mut rng = Streams::new(4).stream("dots", 0);
    // full coherence: every dot steps right by the speed, wrapping at the edge
    let mut d = Dots::new(8, 10, 5, 1.0, 1.0, 2.0, &mut rng);
    let before = d.render(1);
    d.advance(&mut rng);
    let after = d.render(1);
    let shifted: Vec<f32> = (0..80)
        .map(|k| before[(k / 10) * 10 + (k % 10 + 8) % 10])
        .collect();
    assert_eq!(after, shifted);
    assert!(before.iter().filter(|v| **v == 1.0).count() <= 5);
    // a vertical grating (theta 0) varies along x only, two cycles across 8 pixels
    let g = grating(4, 8, 1, 0.0, 2.0, 0.0);
    assert_eq!(&g[..8], &g[8..16]);
    assert!((g[0] - 1.0).abs() < 1e-6 && g[2].abs() < 1e-6 && (g[4] - 1.0).abs() < 1e-6);
}
