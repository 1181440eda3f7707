//! The compatibility CNN: its gradient against finite differences (batch norm in training mode),
//! and batch norm's running statistics as PyTorch keeps them.

use biornn_numerics::Streams;
use biornn_vision::cnn::CompatCnn;
use biornn_vision::CordsNetShape;

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Streams::new(seed).stream("test", 0);
    (0..n).map(|_| r.normal()).collect()
}

#[test]
fn the_cnn_gradient_equals_finite_differences() {
    for depth in [2, 4] {
        let cnn = CompatCnn::new(&CordsNetShape {
            depth,
            in_channels: 1,
            image: (12, 12),
            widths: [2, 3, 2, 2],
            classes: 3,
        })
        .unwrap();
        let (mut theta, buffers): (Vec<f64>, Vec<f64>) = cnn.init(&Streams::new(2));
        // gains and shifts away from 1 and 0
        let noise = random(theta.len(), 9);
        for (t, tensor) in theta.iter_mut().zip(&noise) {
            *t += 0.1 * tensor;
        }
        let n = 3;
        let images = random(n * 144, 4);
        let labels = [0, 2, 1];
        let loss = |theta: &[f64]| {
            let mut b = buffers.clone();
            let pass = cnn.forward(theta, &mut b, &images, n, true);
            let mut g = vec![0.0; theta.len()];
            cnn.backward(theta, &images, &labels, &pass, &mut g).0
        };
        let mut b = buffers.clone();
        let pass = cnn.forward(&theta, &mut b, &images, n, true);
        let mut grad = vec![0.0; theta.len()];
        cnn.backward(&theta, &images, &labels, &pass, &mut grad);
        let eps = 1e-6;
        for tensor in &cnn.layout.tensors {
            for j in tensor.range.clone().step_by(2) {
                let (mut a, mut bb) = (theta.clone(), theta.clone());
                a[j] += eps;
                bb[j] -= eps;
                let fd = (loss(&a) - loss(&bb)) / (2.0 * eps);
                assert!(
                    (fd - grad[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "depth {depth}, {} [{j}]: fd {fd} against {}",
                    tensor.name,
                    grad[j]
                );
            }
        }
    }
}

#[test]
fn batch_norm_keeps_pytorchs_running_statistics() {
    let cnn = CompatCnn::new(&CordsNetShape {
        depth: 2,
        in_channels: 1,
        image: (8, 8),
        widths: [2, 2, 2, 2],
        classes: 2,
    })
    .unwrap();
    let (theta, mut buffers): (Vec<f64>, Vec<f64>) = cnn.init(&Streams::new(1));
    let images = random(2 * 64, 3);
    // the stem's pre-norm activity: its mean and unbiased variance move the running statistics
    // by a tenth (momentum 0.1)
    let pass = cnn.forward(&theta, &mut buffers, &images, 2, true);
    let mean_t = cnn
        .buffers
        .get("inp_norm.running_mean")
        .unwrap()
        .range
        .clone();
    let var_t = cnn
        .buffers
        .get("inp_norm.running_var")
        .unwrap()
        .range
        .clone();
    // channel 0 of the stem: 2 images of 4 x 4
    let vals: Vec<f64> = (0..2)
        .flat_map(|img| pass.stem_mid[img * 2 * 16..img * 2 * 16 + 16].to_vec())
        .collect();
    let mean = vals.iter().sum::<f64>() / 32.0;
    let unbiased = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 31.0;
    assert!((buffers[mean_t.start] - 0.1 * mean).abs() < 1e-12);
    assert!((buffers[var_t.start] - (0.9 + 0.1 * unbiased)).abs() < 1e-12);
    // evaluation mode leaves them alone
    let before = buffers.clone();
    cnn.forward(&theta, &mut buffers, &images, 2, false);
    assert_eq!(buffers, before);
}
