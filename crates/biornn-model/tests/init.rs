//! Initial weights and masks as configured.

use biornn_model::config::*;
use biornn_model::{Activation, Ctrnn, MaskSpec};
use biornn_numerics::npz::{write_npz, NpyArray};
use biornn_numerics::Streams;
use std::collections::BTreeMap;

fn net(cfg: &ModelConfig) -> Ctrnn<f64> {
    Ctrnn::new(cfg, 10, 3, 20.0, &Streams::new(4)).unwrap()
}

#[test]
fn diag_init_uses_the_gyyang_gain() {
    let n = net(&ModelConfig {
        n_rec: 5,
        activation: Activation::Softplus,
        ..Default::default()
    });
    for i in 0..5 {
        for j in 0..5 {
            assert_eq!(
                n.effective().w_rec[i * 5 + j],
                if i == j { 0.5 } else { 0.0 }
            );
        }
    }
    let t = net(&ModelConfig {
        n_rec: 5,
        activation: Activation::Tanh,
        ..Default::default()
    });
    assert_eq!(t.effective().w_rec[0], 1.0);
    assert_eq!(n.alpha()[0], 0.2);
}

#[test]
fn randgauss_and_input_scales() {
    let cfg = ModelConfig {
        n_rec: 200,
        init: InitConfig {
            w_rec: RecInit::Randgauss,
            gain: Some(1.5),
            ..Default::default()
        },
        ..Default::default()
    };
    let n = net(&cfg);
    let var = |w: &[f64]| w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64;
    assert!((var(&n.effective().w_rec) * 200.0 / 2.25 - 1.0).abs() < 0.05);
    assert!(
        (var(&n.effective().w_in) * 10.0 - 1.0).abs() < 0.1,
        "W_in ~ N(0,1)/sqrt(n_in)"
    );
    let a = (6.0f64 / 203.0).sqrt();
    assert!(
        n.effective().w_out.iter().all(|w| w.abs() <= a),
        "Glorot uniform bound"
    );
}

#[test]
fn spectral_radius_is_rescaled() {
    let cfg = ModelConfig {
        n_rec: 40,
        init: InitConfig {
            w_rec: RecInit::Randortho,
            spectral_radius: Some(1.3),
            ..Default::default()
        },
        mask: MaskConfig {
            recurrent: MaskSpec::NoAutapse,
            ..Default::default()
        },
        ..Default::default()
    };
    let n = net(&cfg);
    let rho = biornn_model::init::spectral_radius(&n.effective().w_rec, 40).unwrap();
    assert!((rho - 1.3).abs() < 1e-9, "{rho}");
    assert!((0..40).all(|i| n.effective().w_rec[i * 40 + i] == 0.0));
}

#[test]
fn dale_signs_time_constants_and_readout() {
    let cfg = ModelConfig {
        n_rec: 10,
        tau_inhibitory: Some(50.0),
        dale: DaleConfig {
            enabled: true,
            excitatory_fraction: 0.8,
            nonneg_input: true,
            ..Default::default()
        },
        init: InitConfig {
            w_rec: RecInit::Randgauss,
            ..Default::default()
        },
        ..Default::default()
    };
    let n = net(&cfg);
    let e = n.effective();
    assert_eq!(n.sign.iter().filter(|s| **s > 0.0).count(), 8);
    for i in 0..10 {
        for j in 0..10 {
            assert!(e.w_rec[i * 10 + j] * n.sign[j] >= 0.0);
        }
    }
    assert!(e.w_in.iter().all(|w| *w >= 0.0));
    // readout from excitatory units only, with non-negative weights
    for o in 0..3 {
        for j in 0..10 {
            let w = e.w_out[o * 10 + j];
            if j >= 8 {
                assert_eq!(w, 0.0);
            } else {
                assert!(w >= 0.0);
            }
        }
    }
    assert_eq!(n.tau[7], 100.0);
    assert_eq!(n.tau[8], 50.0);
    assert_eq!(n.alpha()[9], 0.4);
}

#[test]
fn masks_load_from_npz_and_errors_name_the_problem() {
    let dir = std::env::temp_dir().join(format!("biornn-mask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.npz");
    let mut m = vec![0.0f32; 16];
    for (i, v) in m.iter_mut().enumerate() {
        *v = (i % 3 == 0) as u8 as f32;
    }
    let mut arrays = BTreeMap::new();
    arrays.insert("conn".to_string(), NpyArray::f32(&[4, 4], m.clone()));
    write_npz(&path, &arrays).unwrap();
    let file = MaskSpec::File {
        path: path.clone(),
        key: "conn".into(),
    };
    let cfg = ModelConfig {
        n_rec: 4,
        mask: MaskConfig {
            recurrent: file.clone(),
            ..Default::default()
        },
        init: InitConfig {
            w_rec: RecInit::Randgauss,
            ..Default::default()
        },
        ..Default::default()
    };
    let n = net(&cfg);
    for (k, v) in m.iter().enumerate() {
        assert_eq!(n.mask_rec[k], *v as f64);
        if *v == 0.0 {
            assert_eq!(n.effective().w_rec[k], 0.0);
        }
    }
    let wrong_shape = ModelConfig {
        n_rec: 5,
        ..cfg.clone()
    };
    let e = Ctrnn::<f64>::new(&wrong_shape, 10, 3, 20.0, &Streams::new(4)).unwrap_err();
    assert!(e.message.contains("shape [4, 4], expected [5, 5]"), "{e}");
    let wrong_key = ModelConfig {
        mask: MaskConfig {
            recurrent: MaskSpec::File {
                path,
                key: "nope".into(),
            },
            ..Default::default()
        },
        ..cfg
    };
    let e = Ctrnn::<f64>::new(&wrong_key, 10, 3, 20.0, &Streams::new(4)).unwrap_err();
    assert!(
        e.message.contains("missing array `nope`") && e.message.contains("conn"),
        "{e}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn noise_has_the_documented_scale() {
    use biornn_model::Trajectory;
    let std = |placement, kind| {
        let cfg = ModelConfig {
            n_rec: 50,
            noise: NoiseConfig {
                sigma: 0.05,
                placement,
                kind,
                tau_ou: 100.0,
            },
            ..Default::default()
        };
        let n = Ctrnn::<f32>::new(&cfg, 10, 3, 20.0, &Streams::new(1)).unwrap();
        let mut traj = Trajectory::default();
        n.sample_noise(&mut traj, 200, 20, &mut Streams::new(2).stream("noise", 0));
        let v = &traj.noise;
        (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    // alpha = 0.2: gyyang's sqrt(2/alpha) sigma inside, PsychRNN's sqrt(2 alpha) sigma outside
    let inside = std(NoisePlacement::Inside, NoiseKind::White);
    assert!(
        (inside / (0.05 * 10f64.sqrt()) - 1.0).abs() < 0.01,
        "{inside}"
    );
    let outside = std(NoisePlacement::Outside, NoiseKind::White);
    assert!(
        (outside / (0.05 * 0.4f64.sqrt()) - 1.0).abs() < 0.01,
        "{outside}"
    );
    let ou = std(NoisePlacement::Inside, NoiseKind::Ou);
    assert!((ou / 0.05 - 1.0).abs() < 0.05, "{ou}");
    // Euler OU with dt/tau = 0.2: stationary variance 2k / (1 - (1 - k)^2) = 1.11, so std 1.054 sigma
    let euler = std(NoisePlacement::Inside, NoiseKind::OuEuler);
    assert!((euler / 0.05 - 1.054).abs() < 0.03, "{euler}");
}

/// wmws2/temporalskip's network: N(0,1)/N recurrent weights, unscaled N(0,1) input, readout and
/// biases, and tau/2 for the last 20% of units without Dale's law.
#[test]
fn temporalskip_init_and_fast_units_without_dale() {
    let cfg = ModelConfig {
        n_rec: 50,
        activation: Activation::Relu,
        tau: 100.0,
        tau_inhibitory: Some(50.0),
        init: InitConfig {
            w_rec: RecInit::Temporalskip,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(!cfg.dale.enabled);
    let n = Ctrnn::<f64>::new(&cfg, 85, 33, 5.0, &biornn_numerics::Streams::new(2)).unwrap();
    let std = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    assert!(
        (std(&n.params.w_rec) - 0.02).abs() < 0.002,
        "{}",
        std(&n.params.w_rec)
    );
    assert!((std(&n.params.w_in) - 1.0).abs() < 0.05);
    assert!((std(&n.params.w_out) - 1.0).abs() < 0.1);
    assert!((std(&n.params.b_rec) - 1.0).abs() < 0.35);
    assert_eq!(&n.tau[..40], &[100.0; 40][..]);
    assert_eq!(&n.tau[40..], &[50.0; 10][..]);
    assert!(n.sign.iter().all(|s| *s == 1.0), "no Dale's law");
}

#[test]
fn masked_rows_are_rescaled_to_their_connections() {
    let n = 120;
    let cfg = |w_rec, rescale| ModelConfig {
        n_rec: n,
        init: InitConfig {
            w_rec,
            gain: Some(1.0),
            rescale_masked_rows: rescale,
            ..Default::default()
        },
        mask: MaskConfig {
            recurrent: MaskSpec::Random { density: 0.1 },
            ..Default::default()
        },
        ..Default::default()
    };
    for w_rec in [RecInit::Randgauss, RecInit::Randortho] {
        let plain = net(&cfg(w_rec, false)).effective().w_rec.clone();
        let rescaled = net(&cfg(w_rec, true)).effective().w_rec.clone();
        let mut mean_row_power = 0.0;
        for i in 0..n {
            let row = |w: &[f64]| w[i * n..(i + 1) * n].to_vec();
            let (p, r) = (row(&plain), row(&rescaled));
            // the same draws and mask, each row times sqrt(N / k)
            let k = p.iter().filter(|x| **x != 0.0).count();
            assert_eq!(k, r.iter().filter(|x| **x != 0.0).count());
            let scale = (n as f64 / k.max(1) as f64).sqrt();
            for (a, b) in p.iter().zip(&r) {
                assert!((a * scale - b).abs() <= 1e-15 * b.abs().max(1.0), "{a} {b}");
            }
            mean_row_power += r.iter().map(|x| x * x).sum::<f64>() / n as f64;
        }
        // a unit's summed input variance is the unmasked one, g^2, not g^2 k / N
        assert!(
            (mean_row_power - 1.0).abs() < 0.2,
            "{w_rec:?}: {mean_row_power}"
        );
    }
    let err = cfg(RecInit::Diag, true)
        .validate(20.0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.init.rescale_masked_rows") && err.contains("asked: \"diag\""),
        "{err}"
    );
    let mut with_dale = cfg(RecInit::Randgauss, true);
    with_dale.dale.enabled = true;
    let err = with_dale.validate(20.0).unwrap_err().to_string();
    assert!(err.contains("model.dale.enabled"), "{err}");
}
