//! The reference's checkpoints: a CordsNet made and saved by PyTorch (`fixtures/make_tiny_cordsnet.py`)
//! gives the same logits here, under both weight-norm namings; ours round-trip.

use biornn_numerics::npz::read_npz;
use biornn_numerics::pth::read_pth;
use biornn_vision::{checkpoint, Activation, CordsNet};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn the_pytorch_fixture_gives_pytorchs_logits() {
    let reference = read_npz(&fixture("tiny_cordsnet_logits.npz")).unwrap();
    let images: Vec<f32> = reference["images"].to_real().unwrap();
    let want: Vec<f32> = reference["logits"].to_real().unwrap();
    assert_eq!(reference["logits"].shape, [3, 4, 5]);
    for file in ["tiny_cordsnet.pth", "tiny_cordsnet_old_names.pth"] {
        let arrays = read_pth(&fixture(file)).unwrap();
        let shape = checkpoint::shape_of(&arrays, (12, 12)).unwrap();
        // widths of the pairs a depth-4 network lacks do not matter
        assert_eq!(
            (
                shape.depth,
                shape.in_channels,
                &shape.widths[..2],
                shape.classes
            ),
            (4, 1, &[3, 4][..], 5)
        );
        let net = CordsNet::new(&shape).unwrap();
        let theta: Vec<f32> = checkpoint::load(&net, &arrays).unwrap();
        let spont = net.spontaneous(&theta, 100, 0.2, Activation::Relu);
        let logits = net.run(&theta, &images, 4, &spont, 100, 0.2, Activation::Relu);
        // after 1, 10 and 100 stimulus steps (the last alone is a weak check: the state has settled)
        for (k, step) in [1, 10, 100].iter().enumerate() {
            for (i, (a, b)) in logits[step - 1]
                .iter()
                .zip(&want[k * 20..(k + 1) * 20])
                .enumerate()
            {
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1e-2),
                    "{file}, step {step}, logit {i}: {a} against PyTorch's {b}"
                );
            }
        }
        // ours in the reference's names read back to the same parameters
        let saved = checkpoint::save(&net, &theta);
        assert!(saved.contains_key("area_conv.3.parametrizations.weight.original1"));
        assert_eq!(
            saved["out_fc.parametrizations.weight.original0"].shape,
            [5, 1]
        );
        let again: Vec<f32> = checkpoint::load(&net, &saved).unwrap();
        for (a, b) in again.iter().zip(&theta) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0));
        }
    }
}

#[test]
fn a_checkpoint_that_does_not_fit_is_named() {
    let mut arrays = read_pth(&fixture("tiny_cordsnet.pth")).unwrap();
    let shape = checkpoint::shape_of(&arrays, (12, 12)).unwrap();
    let net = CordsNet::new(&shape).unwrap();
    // the wrong image size: the bias maps no longer fit
    let mut wrong = shape.clone();
    wrong.image = (20, 20);
    let e = checkpoint::load::<f32>(&CordsNet::new(&wrong).unwrap(), &arrays)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv_bias.0") && e.contains("this network needs"),
        "{e}"
    );
    // a tensor too many, one missing
    let extra = arrays["conv_bias.0"].clone();
    arrays.insert("conv_bias.9".into(), extra);
    let e = checkpoint::load::<f32>(&net, &arrays)
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv_bias.9") && e.contains("no place"), "{e}");
    arrays.remove("conv_bias.9");
    arrays.remove("out_fc.bias");
    let e = checkpoint::load::<f32>(&net, &arrays)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`out_fc.bias`"), "{e}");
    // a file that is not a checkpoint
    let e = read_pth(&fixture("tiny_cordsnet_logits.npz"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.pkl"), "{e}");
}

/// The published model, when its file is at hand (`BIORNN_CORDSNET_R8`, or `cordsnetr8.pth` in
/// the working directory): it loads as R8 on 224 x 224 and runs.
#[test]
fn the_published_checkpoint_loads_when_present() {
    let path = std::env::var("BIORNN_CORDSNET_R8")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("cordsnetr8.pth"));
    if !path.exists() {
        eprintln!("skipped: {} not found (set BIORNN_CORDSNET_R8 to the published cordsnetr8.pth from wmws2/cordsnet)", path.display());
        return;
    }
    let arrays = read_pth(&path).unwrap();
    let shape = checkpoint::shape_of(&arrays, (224, 224)).unwrap();
    assert_eq!(
        (shape.depth, shape.in_channels, shape.classes),
        (8, 3, 1000)
    );
    let net = CordsNet::new(&shape).unwrap();
    let theta: Vec<f32> = checkpoint::load(&net, &arrays).unwrap();
    let spont = net.spontaneous(&theta, 100, 0.2, Activation::Relu);
    // a grey image (zero after normalisation) leaves the network at its spontaneous state
    let logits = net.run(
        &theta,
        &vec![0.0; 3 * 224 * 224],
        1,
        &spont,
        2,
        0.2,
        Activation::Relu,
    );
    assert!(logits[1].iter().all(|v| v.is_finite()));
}

/// The reference's own code, run by `fixtures/check_against_reference.py` on a checkout of
/// `wmws2/cordsnet` (R4 at 224 x 224, random weights): the same logits here after 1, 10 and 100
/// stimulus steps. Skips unless `BIORNN_CORDSNET_REFERENCE_DIR` names the script's output.
#[test]
fn the_reference_code_agrees_when_its_output_is_present() {
    let Ok(dir) = std::env::var("BIORNN_CORDSNET_REFERENCE_DIR").map(PathBuf::from) else {
        eprintln!("skipped: set BIORNN_CORDSNET_REFERENCE_DIR to the output of fixtures/check_against_reference.py");
        return;
    };
    let arrays = read_pth(&dir.join("reference.pth")).unwrap();
    let reference = read_npz(&dir.join("reference_logits.npz")).unwrap();
    let images: Vec<f32> = reference["images"].to_real().unwrap();
    let want: Vec<f32> = reference["logits"].to_real().unwrap();
    let forward: Vec<f32> = reference["forward"].to_real().unwrap();
    let shape = checkpoint::shape_of(&arrays, (224, 224)).unwrap();
    assert_eq!((shape.depth, shape.in_channels, shape.classes), (4, 1, 10));
    let net = CordsNet::new(&shape).unwrap();
    let theta: Vec<f32> = checkpoint::load(&net, &arrays).unwrap();
    let spont = net.spontaneous(&theta, 100, 0.2, Activation::Relu);
    let logits = net.run(&theta, &images, 2, &spont, 100, 0.2, Activation::Relu);
    let mut worst = 0f32;
    for (k, step) in [1, 10, 100].iter().enumerate() {
        for (a, b) in logits[step - 1].iter().zip(&want[k * 20..(k + 1) * 20]) {
            let err = (a - b).abs() / b.abs().max(1e-2);
            worst = worst.max(err);
            assert!(err <= 1e-4, "step {step}: {a} against the reference's {b}");
        }
    }
    for (a, b) in logits[99].iter().zip(&forward) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1e-2));
    }
    eprintln!("worst relative difference from the reference's logits: {worst:.2e}");
}

/// Training through weight norm starts from a file's own g and v (not |w| and w), and writes its
/// own back: the PyTorch fixture's pairs come in as they are, fold to the weights the plain
/// reader makes, and survive a save and a load bit for bit.
#[test]
fn weight_norm_pairs_load_and_save_as_they_are() {
    use biornn_vision::weight_norm::WeightNorm;
    let arrays = read_pth(&fixture("tiny_cordsnet.pth")).unwrap();
    let net = CordsNet::new(&checkpoint::shape_of(&arrays, (12, 12)).unwrap()).unwrap();
    let theta: Vec<f64> = checkpoint::load(&net, &arrays).unwrap();
    let norm = WeightNorm::new(&net.layout);
    let plain = norm.params_of(&theta);
    let mut params = plain.clone();
    checkpoint::load_weight_norm(&net.layout, &norm, &arrays, &mut params).unwrap();
    let conv = net.layout.get("area_conv.0.weight").unwrap().range.clone();
    let (_, gains) = norm.pairs().find(|(w, _)| *w == conv).unwrap();
    let v: Vec<f64> = arrays["area_conv.0.parametrizations.weight.original1"]
        .to_real()
        .unwrap();
    let g: Vec<f64> = arrays["area_conv.0.parametrizations.weight.original0"]
        .to_real()
        .unwrap();
    assert_eq!(&params[conv.clone()], &v[..]);
    assert_eq!(&params[gains], &g[..]);
    // the fixture's v is not of length g (else this would test nothing)
    assert!(params != plain);
    let mut folded = vec![0.0; theta.len()];
    norm.fold_into(&params, &mut folded, |_| true);
    for (a, b) in folded.iter().zip(&theta) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} against {b}");
    }
    let saved = checkpoint::save_weight_normed(&net.layout, &norm, &params);
    let mut again = plain.clone();
    checkpoint::load_weight_norm(&net.layout, &norm, &saved, &mut again).unwrap();
    let as_f32: Vec<f64> = params.iter().map(|v| *v as f32 as f64).collect();
    assert_eq!(again, as_f32);
}

/// A weight-normed tensor with an all-zero `v` channel (PyTorch would give NaN weights there) is
/// refused by name, by the plain reader and by the one training through weight norm alike.
#[test]
fn a_zero_weight_norm_direction_is_named_not_nan() {
    use biornn_numerics::npz::NpyArray;
    use biornn_vision::weight_norm::WeightNorm;
    let mut arrays = read_pth(&fixture("tiny_cordsnet.pth")).unwrap();
    let net = CordsNet::new(&checkpoint::shape_of(&arrays, (12, 12)).unwrap()).unwrap();
    let theta: Vec<f64> = checkpoint::load(&net, &arrays).unwrap();
    let key = "area_conv.0.parametrizations.weight.original1";
    let shape = arrays[key].shape.clone();
    let mut v: Vec<f32> = arrays[key].to_real().unwrap();
    let per = v.len() / shape[0];
    v[per..2 * per].fill(0.0);
    arrays.insert(key.into(), NpyArray::f32(&shape, v));
    let e = checkpoint::load::<f64>(&net, &arrays)
        .unwrap_err()
        .to_string();
    assert!(e.contains(key) && e.contains("output channel 1"), "{e}");
    let norm = WeightNorm::new(&net.layout);
    let mut params = norm.params_of(&theta);
    let e = checkpoint::load_weight_norm(&net.layout, &norm, &arrays, &mut params)
        .unwrap_err()
        .to_string();
    assert!(e.contains(key) && e.contains("output channel 1"), "{e}");
}
