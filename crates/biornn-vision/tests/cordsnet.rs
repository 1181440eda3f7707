//! CordsNet: shapes, a hand-worked synchronous step, and the BPTT gradient against finite
//! differences in f64.

mod common;

use biornn_numerics::Streams;
use biornn_vision::{Activation, CordsNet, CordsNetShape, Protocol};

fn tiny(depth: usize) -> CordsNetShape {
    CordsNetShape {
        depth,
        in_channels: 1,
        image: (8, 8),
        widths: [2, 3, 2, 2],
        classes: 3,
    }
}

fn random(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut r = Streams::new(seed).stream("test", 0);
    (0..n).map(|_| scale * r.normal()).collect()
}

#[test]
fn the_published_shape_has_the_reference_sizes() {
    let net = CordsNet::new(&CordsNetShape::published()).unwrap();
    assert_eq!(net.units(), 752_640);
    let hw: Vec<(usize, usize, usize)> = net.areas.iter().map(|a| (a.c, a.h, a.w)).collect();
    assert_eq!(
        hw,
        [
            (64, 56, 56),
            (64, 56, 56),
            (128, 28, 28),
            (128, 28, 28),
            (256, 14, 14),
            (256, 14, 14),
            (512, 7, 7),
            (512, 7, 7)
        ]
    );
    // about 12.47 M parameters (notes, section 1.8)
    let m = net.layout.len as f64 / 1e6;
    assert!((m - 12.47).abs() < 0.01, "{m} M");
    for name in [
        "inp_conv.weight",
        "inp_skip.weight",
        "area_conv.7.weight",
        "area_area.0.weight",
        "conv_bias.7",
        "skip_area.2.weight",
        "out_fc.weight",
        "out_fc.bias",
    ] {
        assert!(net.layout.get(name).is_some(), "{name}");
    }
    assert_eq!(
        net.layout.get("skip_area.0.weight").unwrap().shape,
        [128, 64, 1, 1]
    );
    assert_eq!(net.layout.get("conv_bias.2").unwrap().shape, [128, 28, 28]);
    // a 28 x 28 image without resizing: 7 x 7 areas from the stem on
    let mut small = tiny(2);
    small.image = (28, 28);
    let net = CordsNet::new(&small).unwrap();
    assert_eq!((net.areas[0].h, net.areas[1].w), (7, 7));
    let mut bad = tiny(2);
    bad.depth = 3;
    let e = CordsNet::new(&bad).unwrap_err().to_string();
    assert!(
        e.contains("network.depth") && e.contains("2, 4, 6 or 8"),
        "{e}"
    );
}

/// A 1 x 1-pixel world: one channel per area, so every conv is its centre weight.
#[test]
fn one_step_is_synchronous_as_worked_by_hand() {
    let shape = CordsNetShape {
        depth: 4,
        in_channels: 1,
        image: (1, 1),
        widths: [1, 1, 1, 1],
        classes: 1,
    };
    let net = CordsNet::new(&shape).unwrap();
    assert!(net.areas.iter().all(|a| a.units() == 1));
    let mut theta = vec![0.0f64; net.layout.len];
    let set = |theta: &mut Vec<f64>, name: &str, centre: f64| {
        let t = net.layout.get(name).unwrap();
        let mid = t.range.start + (t.range.len() - 1) / 2;
        theta[mid] = centre;
    };
    // stem: 7 x 7 conv, centre 2.0, then a 3 x 3 pool of one pixel padded: s = 2 x / 9
    set(&mut theta, "inp_conv.weight", 2.0);
    set(&mut theta, "inp_skip.weight", 0.5);
    for (l, (w, a, b)) in [
        (0.5, 1.0, 0.1),
        (-0.2, 1.5, 0.0),
        (0.3, 2.0, -0.1),
        (0.1, -1.0, 0.2),
    ]
    .iter()
    .enumerate()
    {
        set(&mut theta, &format!("area_conv.{l}.weight"), *w);
        set(&mut theta, &format!("area_area.{l}.weight"), *a);
        set(&mut theta, &format!("conv_bias.{l}"), *b);
    }
    set(&mut theta, "skip_area.0.weight", 3.0);
    let x = [0.9];
    let (s, ks) = net.stem(&theta, &x, 1);
    let s0 = 2.0 * 0.9 / 9.0;
    assert!((s[0] - s0).abs() < 1e-15 && (ks[0] - 0.5 * s0).abs() < 1e-15);
    let r0 = [0.4, -0.3, 0.2, 0.6];
    let mut r: Vec<Vec<f64>> = r0.iter().map(|v| vec![*v]).collect();
    let mut z = net.zero_state(1);
    let mut scratch = Default::default();
    net.step(
        &theta,
        &mut r,
        (&s, &ks),
        1,
        0.2,
        Activation::Relu,
        &mut z,
        &mut scratch,
    );
    let relu = |v: f64| v.max(0.0);
    // every area reads the old state
    let want_z = [
        0.5 * 0.4 + 1.0 * s0 + 0.1,
        -0.2 * -0.3 + 1.5 * (relu(0.4) + 0.5 * s0),
        0.3 * 0.2 + 2.0 * (relu(-0.3) + relu(0.4)) - 0.1,
        0.1 * 0.6 - 1.0 * (relu(0.2) + 3.0 * relu(-0.3)) + 0.2,
    ];
    for l in 0..4 {
        assert!((z[l][0] - want_z[l]).abs() < 1e-15, "z{l}");
        let want = 0.8 * r0[l] + 0.2 * relu(want_z[l]);
        assert!(
            (r[l][0] - want).abs() < 1e-15,
            "r{l}: {} against {want}",
            r[l][0]
        );
    }
}

#[test]
fn the_gradient_equals_finite_differences() {
    for (depth, act) in [
        (2, Activation::Relu),
        (4, Activation::Relu),
        (4, Activation::PRelu(0.3)),
        (6, Activation::Linear),
    ] {
        let net = CordsNet::new(&tiny(depth)).unwrap();
        let mut theta: Vec<f64> = net.init(&Streams::new(3));
        // biases too, so that some units sit below zero
        common::random_biases(&net, &mut theta, 10, 0.3);
        let n = 2;
        let images = random(n * 64, 7, 1.0);
        let labels = [2, 0];
        let p = Protocol {
            alpha: 0.2,
            spontaneous: 3,
            stimulus: 4,
            loss_steps: 3,
            offset: 3,
            penalty_steps: 2,
            penalty_weight: 0.5,
            segment: 0,
        };
        let loss = |theta: &[f64]| {
            let spont = net.spontaneous(theta, p.spontaneous, p.alpha, act);
            let mut g = vec![0.0; theta.len()];
            net.loss_and_grad(theta, &images, &labels, &spont, &p, act, &mut g)
                .total
        };
        let spont = net.spontaneous(&theta, p.spontaneous, p.alpha, act);
        let mut grad = vec![0.0; theta.len()];
        let parts = net.loss_and_grad(&theta, &images, &labels, &spont, &p, act, &mut grad);
        assert!(parts.penalty > 0.0 && parts.cross_entropy > 0.0);
        // the spontaneous state is held fixed (no gradient through it, as the reference): check
        // with it frozen at theta's
        let frozen = |t: &[f64]| {
            let mut g = vec![0.0; t.len()];
            net.loss_and_grad(t, &images, &labels, &spont, &p, act, &mut g)
                .total
        };
        let _ = loss;
        let eps = 1e-6;
        let mut worst: f64 = 0.0;
        for tensor in &net.layout.tensors {
            for j in tensor.range.clone().step_by(3) {
                let (mut a, mut b) = (theta.clone(), theta.clone());
                a[j] += eps;
                b[j] -= eps;
                let fd = (frozen(&a) - frozen(&b)) / (2.0 * eps);
                let err = (fd - grad[j]).abs() / (1e-6 + fd.abs().max(grad[j].abs()));
                worst = worst.max(if fd.abs().max(grad[j].abs()) < 1e-9 {
                    0.0
                } else {
                    err
                });
                assert!(
                    err < 1e-5 || (fd - grad[j]).abs() < 1e-9,
                    "depth {depth} {act:?} {} [{j}]: fd {fd} against {}",
                    tensor.name,
                    grad[j]
                );
            }
        }
        eprintln!("depth {depth} {act:?}: worst relative error {worst:.2e}");
        // recomputed segments (of 3 steps, and of 1) give the same gradient to the last bit
        for segment in [3, 1] {
            let mut g2 = vec![0.0; theta.len()];
            let parts2 = net.loss_and_grad(
                &theta,
                &images,
                &labels,
                &spont,
                &Protocol { segment, ..p },
                act,
                &mut g2,
            );
            assert_eq!(parts2, parts, "segment {segment}");
            assert_eq!(g2, grad, "segment {segment}");
        }
    }
}

/// From rest with a stimulus shorter than the network is deep, most of BPTT's work is exactly
/// zero and skipped (areas the loss has not reached back to, weight gradients of areas still at
/// rest, the gradient into the start state): the gradient still equals finite differences, and
/// weights that get none (every area's recurrent conv here, whose input is at rest whenever the
/// loss reaches it) get exactly zero.
#[test]
fn from_rest_the_skipped_work_leaves_the_gradient_equal_to_finite_differences() {
    let shape = CordsNetShape {
        image: (16, 16),
        ..tiny(8)
    };
    let net = CordsNet::new(&shape).unwrap();
    // weights four times their initial scale, so that the image's drive outlasts the leak
    let mut theta: Vec<f64> = net.init(&Streams::new(5));
    theta.iter_mut().for_each(|v| *v *= 4.0);
    // biases below zero: an area nothing has reached stays exactly at rest, and no unit sits at
    // ReLU's kink (where finite differences would straddle it)
    common::random_biases(&net, &mut theta, 11, 0.2);
    for l in 0..8 {
        let b = net
            .layout
            .get(&format!("conv_bias.{l}"))
            .unwrap()
            .range
            .clone();
        for v in &mut theta[b] {
            *v = -0.01 - 0.05 * v.abs();
        }
    }
    let n = 2;
    let images = random(n * 256, 9, 1.0);
    let labels = [1, 2];
    let p = Protocol {
        alpha: 0.2,
        spontaneous: 0,
        stimulus: 4,
        loss_steps: 2,
        offset: 0,
        penalty_steps: 0,
        penalty_weight: 0.0,
        segment: 0,
    };
    let act = Activation::Relu;
    let rest = net.zero_state::<f64>(1);
    let loss = |t: &[f64]| {
        let mut g = vec![0.0; t.len()];
        net.loss_and_grad(t, &images, &labels, &rest, &p, act, &mut g)
            .total
    };
    let mut grad = vec![0.0; theta.len()];
    net.loss_and_grad(&theta, &images, &labels, &rest, &p, act, &mut grad);
    let mut nonzero = 0;
    for tensor in &net.layout.tensors {
        for j in tensor.range.clone().step_by(3) {
            let fd = common::central_difference(&loss, &theta, j, 1e-6);
            assert!(
                (fd - grad[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{} [{j}]: fd {fd} against {}",
                tensor.name,
                grad[j]
            );
            nonzero += (grad[j] != 0.0) as usize;
        }
    }
    assert!(nonzero > 50, "{nonzero}");
    for l in 0..8 {
        let w = net.layout.get(&format!("area_conv.{l}.weight")).unwrap();
        assert!(grad[w.range.clone()].iter().all(|v| *v == 0.0), "area {l}");
    }
    // the same with segments recomputed
    let mut g2 = vec![0.0; theta.len()];
    let q = Protocol { segment: 2, ..p };
    net.loss_and_grad(&theta, &images, &labels, &rest, &q, act, &mut g2);
    assert_eq!(g2, grad);
}

/// A moving stimulus: a different batch of images on some steps, none on others, and a loss on
/// the readout features at every step (as a network downstream of the front end sees them).
#[test]
fn backprop_through_frames_equals_finite_differences() {
    use biornn_vision::bptt::Frames;
    use biornn_vision::cordsnet::StepScratch;
    let net = CordsNet::new(&tiny(4)).unwrap();
    let mut theta: Vec<f64> = net.init(&Streams::new(4));
    common::random_biases(&net, &mut theta, 20, 0.3);
    let n = 2;
    let batches: Vec<Vec<f64>> = (0..3).map(|k| random(n * 64, 30 + k, 1.0)).collect();
    let shown = vec![Some(0), Some(0), None, Some(1), Some(2), Some(2), None];
    let c = net.areas[3].c;
    let weights = random(shown.len() * n * c, 40, 1.0);
    let act = Activation::Relu;
    let start = net.broadcast(&net.spontaneous(&theta, 3, 0.2, act), n);
    // L = sum_t <w_t, features(r_t)>
    let loss = |theta: &[f64]| {
        let mut r = start.clone();
        let (mut z, mut scratch) = (net.zero_state(n), StepScratch::default());
        let zeros = vec![0.0; n * net.stem_out.units()];
        let mut total = 0.0;
        for (t, which) in shown.iter().enumerate() {
            let stem = which.map(|i| net.stem(theta, &batches[i], n));
            let drive = match &stem {
                Some((s, k)) => (&s[..], &k[..]),
                None => (&zeros[..], &zeros[..]),
            };
            net.step(theta, &mut r, drive, n, 0.2, act, &mut z, &mut scratch);
            let (feat, _) = net.features(&r, n);
            total += feat
                .iter()
                .zip(&weights[t * n * c..])
                .map(|(f, w)| f * w)
                .sum::<f64>();
        }
        total
    };
    let frames = Frames {
        images: batches.iter().map(|b| &b[..]).collect(),
        shown: shown.clone(),
    };
    let mut sink = |t: usize, r: &[Vec<f64>], g: &mut [Vec<f64>], _: &mut [f64]| {
        net.features_backward(r, &weights[t * n * c..(t + 1) * n * c], n, g);
    };
    let mut grad = vec![0.0; theta.len()];
    net.backprop_through_time(
        &theta, &frames, &start, n, 0.2, act, 0, &mut sink, &mut grad,
    );
    let eps = 1e-6;
    let mut checked = 0;
    for tensor in &net.layout.tensors {
        for j in tensor.range.clone().step_by(2) {
            let fd = common::central_difference(&loss, &theta, j, eps);
            assert!(
                (fd - grad[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{} [{j}]: fd {fd} against {}",
                tensor.name,
                grad[j]
            );
            checked += (fd.abs() > 1e-6) as usize;
        }
    }
    // every image batch reaches the stem's gradient; the readout takes none
    assert!(checked > 50, "{checked}");
    let out = net.layout.get("out_fc.weight").unwrap().range.clone();
    assert!(grad[out].iter().all(|v| *v == 0.0));
    // recomputed segments: the same gradient to the last bit
    let mut g2 = vec![0.0; theta.len()];
    net.backprop_through_time(&theta, &frames, &start, n, 0.2, act, 2, &mut sink, &mut g2);
    assert_eq!(g2, grad);
}

/// The reference's `record`: from rest, the spontaneous steps then the stimulus; the last step's
/// rates are the state `run` ends in.
#[test]
fn record_keeps_every_steps_rates_from_rest() {
    let net = CordsNet::new(&tiny(2)).unwrap();
    let mut theta: Vec<f64> = net.init(&Streams::new(6));
    common::random_biases(&net, &mut theta, 50, 0.3);
    let n = 3;
    let images = random(n * 64, 9, 1.0);
    let (spont, stim) = (4, 5);
    let act = Activation::Relu;
    let rec = net.record(&theta, &images, n, spont, stim, 0.2, act, &[1, 0]);
    let units = [net.areas[1].units(), net.areas[0].units()];
    assert_eq!(rec[0].len(), (spont + stim) * n * units[0]);
    // before the image every image's rates are the same
    let at = |k: usize, t: usize, i: usize| {
        rec[k][(t * n + i) * units[k]..(t * n + i + 1) * units[k]].to_vec()
    };
    assert_eq!(at(0, spont - 1, 0), at(0, spont - 1, 2));
    assert_ne!(at(0, spont, 0), at(0, spont, 2));
    // the last step is where `run` from the spontaneous state ends
    let logits = net.run(
        &theta,
        &images,
        n,
        &net.spontaneous(&theta, spont, 0.2, act),
        stim,
        0.2,
        act,
    );
    let last: Vec<Vec<f64>> = vec![
        rec[1][(spont + stim - 1) * n * units[1]..].to_vec(),
        rec[0][(spont + stim - 1) * n * units[0]..].to_vec(),
    ];
    let want = logits.last().unwrap();
    for (a, b) in net.readout(&theta, &last, n).iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{a} against {b}");
    }
}

/// The classification loss on a moving stimulus (a batch of images per frame, the readout scored
/// over the last frames, an offset without images and its penalty): its gradient equals finite
/// differences, and a movie whose frames are one image repeated scores as that static image.
#[test]
fn the_loss_on_frames_equals_finite_differences_and_the_static_loss_on_a_still_movie() {
    use biornn_vision::bptt::Frames;
    let net = CordsNet::new(&tiny(4)).unwrap();
    let mut theta: Vec<f64> = net.init(&Streams::new(6));
    common::random_biases(&net, &mut theta, 21, 0.3);
    let n = 2;
    let movie: Vec<Vec<f64>> = (0..5).map(|k| random(n * 64, 50 + k, 1.0)).collect();
    let labels = [2, 0];
    let p = Protocol {
        alpha: 0.2,
        spontaneous: 3,
        stimulus: 5,
        loss_steps: 3,
        offset: 2,
        penalty_steps: 2,
        penalty_weight: 0.1,
        segment: 0,
    };
    let act = Activation::Relu;
    let spont = net.spontaneous(&theta, p.spontaneous, p.alpha, act);
    let frames = |movie: &[Vec<f64>]| -> Vec<Option<usize>> {
        (0..p.stimulus + p.offset)
            .map(|t| (t < movie.len()).then_some(t))
            .collect()
    };
    let shown = frames(&movie);
    let loss = |t: &[f64]| {
        let f = Frames {
            images: movie.iter().map(|x| &x[..]).collect(),
            shown: shown.clone(),
        };
        let mut g = vec![0.0; t.len()];
        net.loss_and_grad_frames(t, &f, &labels, &spont, &p, act, &mut g)
            .total
    };
    let f = Frames {
        images: movie.iter().map(|x| &x[..]).collect(),
        shown: shown.clone(),
    };
    let mut grad = vec![0.0; theta.len()];
    let parts = net.loss_and_grad_frames(&theta, &f, &labels, &spont, &p, act, &mut grad);
    assert!(parts.cross_entropy > 0.0 && parts.penalty > 0.0);
    for tensor in &net.layout.tensors {
        for j in tensor.range.clone().step_by(5) {
            let fd = common::central_difference(&loss, &theta, j, 1e-6);
            assert!(
                (fd - grad[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{} [{j}]: fd {fd} against {}",
                tensor.name,
                grad[j]
            );
        }
    }
    // a still movie: every frame the same image
    let still = vec![movie[0].clone(); p.stimulus];
    let f = Frames {
        images: still.iter().map(|x| &x[..]).collect(),
        shown: frames(&still),
    };
    let mut g_frames = vec![0.0; theta.len()];
    let a = net.loss_and_grad_frames(&theta, &f, &labels, &spont, &p, act, &mut g_frames);
    let mut g_static = vec![0.0; theta.len()];
    let b = net.loss_and_grad(&theta, &movie[0], &labels, &spont, &p, act, &mut g_static);
    assert_eq!(a, b);
    // each frame's stem takes its own gradient, summed in another order than the one stem's
    for (x, y) in g_frames.iter().zip(&g_static) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} against {y}");
    }
    // and the forward pass on frames scores it as the static run does
    let quiet = biornn_vision::noise::Noise::default();
    let mut rng = Streams::new(0).stream("unused", 0);
    let moving = net.run_frames_noisy(&theta, &still, n, &spont, p.alpha, act, quiet, &mut rng);
    assert_eq!(
        moving,
        net.run(&theta, &movie[0], n, &spont, p.stimulus, p.alpha, act)
    );
}

/// BPTT runs the areas of each step back in parallel and adds what they send back through their
/// drives one area after another: the gradient of an R8 (every kind of skip) is the same bit for
/// bit at one thread and at three.
#[test]
fn the_gradient_does_not_depend_on_the_thread_count() {
    let shape = CordsNetShape {
        image: (16, 16),
        ..tiny(8)
    };
    let net = CordsNet::new(&shape).unwrap();
    let mut theta: Vec<f32> = net.init(&Streams::new(8));
    common::random_biases(&net, &mut theta, 12, 0.3);
    let n = 3;
    let images: Vec<f32> = random(n * 256, 13, 1.0).iter().map(|v| *v as f32).collect();
    let labels = [0, 2, 1];
    let p = Protocol {
        alpha: 0.2,
        spontaneous: 4,
        stimulus: 6,
        loss_steps: 3,
        offset: 3,
        penalty_steps: 2,
        penalty_weight: 0.1,
        segment: 4,
    };
    let act = Activation::Relu;
    let spont = net.spontaneous(&theta, p.spontaneous, p.alpha, act);
    let grad_at = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut g = vec![0.0f32; theta.len()];
        pool.install(|| net.loss_and_grad(&theta, &images, &labels, &spont, &p, act, &mut g));
        g
    };
    let one = grad_at(1);
    assert!(one.iter().filter(|v| **v != 0.0).count() > one.len() / 2);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&one), bits(&grad_at(3)));
}
