//! Time the parts of one training step (task batch, forward+backward, optimiser) on the default
//! network: `cargo run --release --example profile_step -p biornn-train -- [n_rec] [batch]`.
use biornn_model::{Ctrnn, Grads};
use biornn_numerics::Streams;
use biornn_tasks::yang::{YangRule, YangTask};
use biornn_tasks::{generate, BatchSpec, Timing};
use biornn_train::config::RunConfig;
use biornn_train::engine::Engine;
use biornn_train::optim::Optimizer;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let mut cfg = RunConfig::default();
    cfg.model.n_rec = *args.first().unwrap_or(&64);
    cfg.train.batch_size = *args.get(1).unwrap_or(&64);
    let streams = Streams::new(1);
    let mut net = Ctrnn::<f32>::new(&cfg.model, 85, 33, 20.0, &streams).unwrap();
    let spec = BatchSpec {
        dt: 20.0,
        batch_size: cfg.train.batch_size,
        timing: Timing::PerBatch,
        input_noise_std: 0.0316,
    };
    let task = YangTask {
        rule: YangRule::DelayGo,
        easy: false,
    };
    let mut engine = Engine::<f32>::default();
    let mut grads = Grads::zeros(85, cfg.model.n_rec, 33);
    let mut opt = Optimizer::new(&cfg.train, 85, cfg.model.n_rec, 33);
    let (mut tg, mut tf, mut to, mut steps) = (0.0, 0.0, 0.0, 0usize);
    for i in 0..100u64 {
        let t0 = Instant::now();
        let batch = generate(&task, &spec, &streams, i);
        let t1 = Instant::now();
        engine.loss_and_grad(&net, &batch, &cfg.train, Some((&streams, i)), &mut grads);
        let t2 = Instant::now();
        opt.step(&mut net, &grads, 1e-3);
        let t3 = Instant::now();
        tg += (t1 - t0).as_secs_f64();
        tf += (t2 - t1).as_secs_f64();
        to += (t3 - t2).as_secs_f64();
        steps += batch.steps;
    }
    println!(
        "n_rec {} batch {} mean T {:.0}: task {:.2} ms, forward+backward {:.2} ms, optimiser {:.2} ms per step",
        cfg.model.n_rec, cfg.train.batch_size, steps as f64 / 100.0, tg * 10.0, tf * 10.0, to * 10.0
    );
}
