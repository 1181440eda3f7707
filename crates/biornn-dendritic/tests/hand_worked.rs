//! ELiSe's pieces against hand-worked cases: one Euler step of each neuron type, the delay lines'
//! effective delay, the scaffold generator's statistics, the teacher's ramps and one plasticity
//! update.

use biornn_dendritic::network::{Connect, DelayLine, EliseShape};
use biornn_dendritic::scaffold::{generate, ScaffoldParams};
use biornn_dendritic::{Elise, Mode, NeuronParams, Pattern, Teacher, UrbanczikSenn};
use biornn_numerics::Streams;

fn shape(n_vis: usize, n_lat: usize) -> EliseShape {
    EliseShape {
        n_vis,
        n_lat,
        mode: Mode::WithDendrite,
        connect: Connect::AllToAll,
        scaffold: ScaffoldParams::default(),
        w_mean: 0.0,
        w_std: 0.5,
        params: NeuronParams::default(),
    }
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{what}: {a} vs {b}");
}

#[test]
fn one_euler_step_of_a_nudged_visible_and_a_scaffolded_latent_neuron() {
    let mut net = Elise::new(&shape(1, 1), &Streams::new(1)).unwrap();
    // no dendritic input: the dendrites stay at rest
    net.w.fill(0.0);
    net.scaffold[1] = vec![0];
    // the teacher towards u* = -50 mV at lambda = 0.6: total 0.6/0.4 (0.1 + 2) = 3.15, split so
    // that the reversal is u*: g_E = 3.15 * 25/75 = 1.05, g_I = 3.15 * 50/75 = 2.1
    let (ge, gi) = ([1.05], [2.1]);
    net.step_neurons(Some((&ge, &gi)), None);
    // visible: (1 - 0.1 (2 + 0.1 + 3.15)) (-70) + 0.1 0.1 (-70) + (-75) 0.1 2.1 + 2 0.1 (-70)
    //        = -33.25 - 0.7 - 15.75 - 14 = -63.7
    close(net.u[0], -63.7, "visible u");
    close(
        net.r[0],
        1.0 / (1.0 + (0.3f64 * (-58.0 + 63.7)).exp()),
        "visible r",
    );
    close(net.um[0], -50.0, "the teacher's matching potential is u*");
    // latent: its partner's tonic conductances 0.3 phi(-70) and 6 phi(-70), phi(-70) = 0.0265970
    let rest = 1.0 / (1.0 + (0.3f64 * 12.0).exp());
    close(rest, 0.026596993576865863, "phi(E_L)");
    let (ge, gi) = (0.3 * rest, 6.0 * rest);
    let u = (1.0 - 0.1 * (2.1 + ge + gi)) * -70.0 - 0.7 - 7.5 * gi - 14.0;
    close(u, -70.02393729421918, "latent u by hand");
    close(net.u[1], u, "latent u");
    // the dendrites and v* stay at rest; the PSP trace takes beta phi(E_L), beta = 0.1 0.1 2/2.1
    close(net.v[0], -70.0, "v");
    close(net.v_star[1], -70.0, "v*");
    close(net.psp[0], 0.1 * 0.1 * (2.0 / 2.1) * rest, "psp");
    // free run: without the teacher the visible soma relaxes towards its dendrite
    net.step_neurons(None, None);
    let u2 = (1.0 - 0.1 * 2.1) * -63.7 - 0.7 - 14.0;
    close(net.u[0], u2, "visible u, free");
    // a clamp holds the marked somata
    net.step_neurons(None, Some((&[true], -55.0)));
    close(net.u[0], -55.0, "clamped");
}

#[test]
fn delay_lines_delay_by_their_length_less_one() {
    // a rate line of length 5: after pushing 1, 2, ..., k the value due is k - 3 (pushed 3
    // pushes before the newest): read at the next step, it is 4 = D - 1 steps old
    let mut line = DelayLine::new(5, 0.0);
    for k in 1..=12 {
        line.push(k as f64);
        let due = if k >= 4 { (k - 3) as f64 } else { 0.0 };
        assert_eq!(line.read(), due, "after {k} pushes");
    }
    // a conductance line of length 3 hands out what was written 2 pushes before
    let mut line = DelayLine::new(3, -1.0);
    let out: Vec<f64> = (0..6).map(|k| line.push_and_read(k as f64)).collect();
    assert_eq!(out, [-1.0, -1.0, 0.0, 1.0, 2.0, 3.0]);
    // the network's lines: 50 to 150 steps, the inhibitory one 250 longer than the excitatory
    let net = Elise::new(&shape(13, 50), &Streams::new(2)).unwrap();
    for (k, d) in net.delays.iter().enumerate() {
        assert!(
            (50..=150).contains(&d[0]) && (50..=150).contains(&d[1]),
            "{k}: {d:?}"
        );
        assert_eq!(d[2], d[1] + 250);
        assert_eq!(net.rate_lines[k].len(), d[0]);
    }
}

#[test]
fn the_scaffold_branches_from_the_visible_neurons_as_the_reference_describes() {
    let (n_vis, n_lat) = (13, 50);
    let (mut edges, mut teachers, mut reached) = (0usize, 0usize, 0usize);
    let seeds = 300;
    for seed in 0..seeds {
        let mut rng = Streams::new(seed).stream("elise_scaffold", 0);
        let s = generate(n_vis, n_lat, ScaffoldParams::default(), &mut rng);
        for (i, partners) in s.iter().enumerate() {
            if i < n_vis {
                assert!(partners.is_empty(), "a visible neuron got scaffold input");
            }
            for k in partners {
                assert_ne!(*k, i, "self-connection");
            }
            let mut sorted = partners.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), partners.len(), "duplicate edge onto {i}");
        }
        let got: usize = s.iter().map(|p| p.len()).sum();
        edges += got;
        // every teacher is a visible neuron or a latent one that was reached
        let tagged = (n_vis..n_vis + n_lat).filter(|l| !s[*l].is_empty()).count();
        teachers += n_vis + tagged;
        reached += tagged;
    }
    // mean out-degree: (1 - p0) (1 + p + p p^2 + ...) = 0.96 x 1.2081 = 1.160
    let mean_out = edges as f64 / teachers as f64;
    assert!(
        (mean_out - 1.160).abs() < 0.03,
        "mean out-degree {mean_out}"
    );
    // about 75 edges, nearly every latent neuron reached (the reference's re-run: all 50)
    let per_net = edges as f64 / seeds as f64;
    assert!((65.0..80.0).contains(&per_net), "{per_net} edges");
    assert!(
        reached as f64 / seeds as f64 > 45.0,
        "latent reached {reached}"
    );
}

#[test]
fn the_teacher_ramps_follow_the_reference_rules() {
    // one neuron, on in step 1 of 3 (10 ms steps = 100 time steps each)
    let pattern = Pattern::parse("# name: one nNeurons: 1 nSteps: 3\n0 1 0\n", "test").unwrap();
    let p = NeuronParams::default();
    let t = Teacher::new(&pattern, &p, 10.0, 0.6);
    assert_eq!(t.len, 300);
    let up = |x: f64| -70.0 + 20.0 / (1.0 + (-0.7 - x).exp());
    let down = |x: f64| -70.0 + 20.0 / (1.0 + (-0.7 + x).exp());
    // step 0 (off, next on): rest until 2/3 of the step, then the rise towards the boundary
    close(t.u_star[66], -70.0, "t 66");
    close(t.u_star[67], up(-3.3), "t 67");
    // step 1 (on, off either side): up from the boundary, down from half way
    close(t.u_star[100], up(0.0), "t 100");
    close(t.u_star[150], down(-5.0), "t 150");
    close(t.u_star[199], down(-0.1), "t 199");
    // step 2 (off after on): the fall continues for a third of the step, then rest
    close(t.u_star[210], down(1.0), "t 210");
    close(t.u_star[234], -70.0, "t 234");
    // the conductances: reversal u*, total lambda / (1 - lambda) (g_L + g_D) = 3.15
    close(t.g_e[0], 3.15 * 5.0 / 75.0, "g_E at rest");
    close(t.g_i[0], 3.15 * 70.0 / 75.0, "g_I at rest");
    // patterns stacked for separate visible populations: the shorter one rests to the end
    let two = Pattern::parse("# name: two nNeurons: 2 nSteps: 2\n1 0\n0 1\n", "test").unwrap();
    let both = Pattern::stack(&[pattern.clone(), two]);
    assert_eq!(
        (both.name.as_str(), both.neurons, both.steps),
        ("one+two", 3, 3)
    );
    let rows: Vec<bool> = [
        [false, true, false],
        [true, false, false],
        [false, true, false],
    ]
    .concat();
    assert_eq!(both.on, rows);
    // bad files name the problem
    for (text, want) in [
        ("# name: x nNeurons: 1 nSteps: 2\n0 2\n", "value `2`"),
        ("# name: x nNeurons: 2 nSteps: 2\n0 1\n", "1 rows"),
        ("# name: x nNeurons: 1 nSteps: 3\n0 1\n", "2 values"),
        ("0 1\n", "expected `# name"),
    ] {
        let e = Pattern::parse(text, "p.txt").unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("p.txt"), "{text}: {e}");
    }
}

#[test]
fn one_plasticity_update_by_hand() {
    let mut net = Elise::new(&shape(2, 2), &Streams::new(3)).unwrap();
    let before = net.w.clone();
    net.r = vec![0.9, 0.5, 0.2, 0.7];
    net.r_v = vec![0.4, 0.5, 0.6, 0.1];
    net.psp = vec![0.01, 0.02, 0.03, 0.04];
    let rule = UrbanczikSenn::default();
    rule.apply(&mut net);
    let n = 4;
    for i in 0..n {
        for j in 0..n {
            let eta = if i < 2 && j < 2 { 1e-4 } else { 1e-3 };
            let want = if i == j {
                0.0
            } else {
                before[i * n + j] + eta * (net.r[i] - net.r_v[i]) * net.psp[j]
            };
            close(net.w[i * n + j], want, &format!("w[{i}][{j}]"));
        }
    }
    // w[0][1] by hand: + 1e-4 x (0.9 - 0.4) x 0.02 = + 1e-6
    close(net.w[1] - before[1], 1e-6, "w[0][1] change");
    // the reservoir ablation: the latent rows stay put
    let mut res = Elise::new(
        &EliseShape {
            mode: Mode::Reservoir,
            ..shape(2, 2)
        },
        &Streams::new(3),
    )
    .unwrap();
    res.r = net.r.clone();
    res.psp = net.psp.clone();
    let start = res.w.clone();
    rule.apply(&mut res);
    assert_eq!(res.w[2 * n..], start[2 * n..]);
    assert_ne!(res.w[..2 * n], start[..2 * n]);
}

#[test]
fn noisy_targets_are_an_ou_process_on_u_star() {
    let pattern = Pattern::parse("# name: one nNeurons: 1 nSteps: 3\n0 1 0\n", "test").unwrap();
    let p = NeuronParams::default();
    let clean = Teacher::new(&pattern, &p, 10.0, 0.6);
    // a long cycle: 1,000 steps of 10 ms, so the statistics settle
    let long = Pattern::parse(
        &format!(
            "# name: long nNeurons: 1 nSteps: 1000\n{}\n",
            vec!["0"; 1000].join(" ")
        ),
        "test",
    )
    .unwrap();
    let rest = Teacher::new(&long, &p, 10.0, 0.6);
    let mut rng = Streams::new(4).stream("elise_target_noise", 0);
    let noisy = rest.with_noise(&p, 2.0, 10.0, &mut rng);
    let x: Vec<f64> = noisy.u_star.iter().map(|u| u + 70.0).collect();
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 0.2, "mean {mean}");
    assert!((var.sqrt() - 2.0).abs() < 0.2, "std {}", var.sqrt());
    // correlated over tau = 10 ms = 100 steps: e^-1 at that lag
    let lag = 100;
    let c: f64 = x
        .windows(lag + 1)
        .map(|w| (w[0] - mean) * (w[lag] - mean))
        .sum::<f64>()
        / (n - lag as f64)
        / var;
    assert!((c - (-1.0f64).exp()).abs() < 0.1, "autocorrelation {c}");
    // the conductances follow the noisy target; the same stream gives the same noise
    close(
        noisy.g_e[7],
        3.15 * (-75.0 - noisy.u_star[7]) / -75.0,
        "g_E",
    );
    let again = rest.with_noise(
        &p,
        2.0,
        10.0,
        &mut Streams::new(4).stream("elise_target_noise", 0),
    );
    assert_eq!(again, noisy);
    assert_eq!(clean.lambda, 0.6);
}
