//! biornn's gradients against PyTorch autograd on the same weights and inputs, in f32: agreement to
//! 1e-4 relative. Runs when a Python with torch is found (`BIORNN_TORCH_PYTHON`, else
//! `bench/.venv/bin/python`, as `bench/compare.sh` installs it); otherwise prints why it is skipped.

use biornn_model::{Ctrnn, Grads};
use biornn_numerics::npz::{read_npz, take_real, write_npz, NpyArray};
use biornn_numerics::Streams;
use biornn_train::bench::{bench_config, fixed_length_batch, N_IN, N_OUT};
use biornn_train::engine::Engine;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn torch_python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var("BIORNN_TORCH_PYTHON").ok().map(PathBuf::from),
        Some(root.join("bench/.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import torch, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn gradients_agree_with_pytorch_autograd() {
    let Some(python) = torch_python() else {
        println!(
            "skipped: no Python with torch found (set BIORNN_TORCH_PYTHON or run bench/compare.sh)"
        );
        return;
    };
    let (n, batch, steps) = (24, 6, 30);
    let mut cfg = bench_config(n, batch, 2);
    cfg.model.init.w_rec = biornn_model::config::RecInit::Randgauss;
    cfg.model.init.gain = Some(1.2);
    let mut net = Ctrnn::<f32>::new(&cfg.model, N_IN, N_OUT, 20.0, &Streams::new(7)).unwrap();
    let mut p = net.params.clone();
    let mut rng = Streams::new(8).stream("bias", 0);
    p.b_rec
        .iter_mut()
        .for_each(|b| *b = 0.3 * rng.normal() as f32);
    p.b_out
        .iter_mut()
        .for_each(|b| *b = 0.3 * rng.normal() as f32);
    net.set_params(p);
    let b = fixed_length_batch(steps, batch, 0);
    let mut grads = Grads::zeros(N_IN, n, N_OUT);
    let loss = Engine::<f32>::default()
        .loss_and_grad(&net, &b, &cfg.train, None, &mut grads)
        .total;

    let dir = std::env::temp_dir().join(format!("biornn-torch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = net.effective();
    let mut m = BTreeMap::new();
    m.insert(
        "W_in".to_string(),
        NpyArray::f32(&[n, N_IN], e.w_in.clone()),
    );
    m.insert("W_rec".to_string(), NpyArray::f32(&[n, n], e.w_rec.clone()));
    m.insert("b_rec".to_string(), NpyArray::f32(&[n], e.b_rec.clone()));
    m.insert(
        "W_out".to_string(),
        NpyArray::f32(&[N_OUT, n], e.w_out.clone()),
    );
    m.insert(
        "b_out".to_string(),
        NpyArray::f32(&[N_OUT], e.b_out.clone()),
    );
    m.insert(
        "x".to_string(),
        NpyArray::f32(&[steps, batch, N_IN], b.x.clone()),
    );
    m.insert(
        "y".to_string(),
        NpyArray::f32(&[steps, batch, N_OUT], b.y.clone()),
    );
    m.insert(
        "mask".to_string(),
        NpyArray::f32(&[steps, batch, N_OUT], b.cost.clone()),
    );
    m.insert(
        "alpha".to_string(),
        NpyArray::f32(&[], vec![net.alpha()[0]]),
    );
    write_npz(&dir.join("in.npz"), &m).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/pytorch/grad_check.py");
    let st = Command::new(&python)
        .arg(&script)
        .arg(dir.join("in.npz"))
        .arg(dir.join("out.npz"))
        .status()
        .unwrap();
    assert!(st.success(), "the PyTorch script failed");
    let t = read_npz(&dir.join("out.npz")).unwrap();
    let torch_loss = take_real::<f64>(&t, "loss", &[]).unwrap()[0];
    assert!(
        ((loss - torch_loss) / torch_loss).abs() < 1e-5,
        "loss {loss} vs torch {torch_loss}"
    );
    for (key, ours, shape) in [
        ("dW_in", &grads.w_in, vec![n, N_IN]),
        ("dW_rec", &grads.w_rec, vec![n, n]),
        ("db_rec", &grads.b_rec, vec![n]),
        ("dW_out", &grads.w_out, vec![N_OUT, n]),
        ("db_out", &grads.b_out, vec![N_OUT]),
    ] {
        let theirs = take_real::<f64>(&t, key, &shape).unwrap();
        let diff: f64 = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (*a as f64 - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = theirs.iter().map(|b| b * b).sum::<f64>().sqrt();
        assert!(norm > 0.0, "{key} is zero in torch");
        assert!(
            diff / norm < 1e-4,
            "{key}: relative difference {}",
            diff / norm
        );
        println!("{key}: relative difference {:.2e}", diff / norm);
    }
    std::fs::remove_dir_all(dir).ok();
}
