//! Image loaders on small files written in the exact formats, resizing against PyTorch's values,
//! and the real Fashion-MNIST where it is installed.

use biornn_vision::data::{load_cifar, load_idx, ImageSet};
use std::io::Write;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("biornn-vision-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

/// A gzip member of stored deflate blocks (what `gzip -0` writes), CRC and size included.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (k, c) in chunks.iter().enumerate() {
        out.push((k + 1 == chunks.len()) as u8);
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(&(!(c.len() as u16)).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&biornn_numerics::npz::crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[test]
fn idx_files_plain_and_gzipped_load_as_floats() {
    let dir = tmp("idx");
    let train: Vec<u8> = (0..3 * 4 * 5).map(|i| (i * 4) as u8).collect();
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx(&[3, 4, 5], &train)).unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte.gz"),
        gzip(&idx(&[3], &[7, 0, 9])),
    )
    .unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte.gz"),
        gzip(&idx(&[1, 4, 5], &[255; 20])),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[1], &[3])).unwrap();
    let (tr, te) = load_idx(&dir).unwrap();
    assert_eq!(
        (tr.len(), tr.channels, tr.h, tr.w, tr.classes),
        (3, 1, 4, 5, 10)
    );
    assert_eq!(tr.labels, [7, 0, 9]);
    assert!((tr.image(1)[2] - 88.0 / 255.0).abs() < 1e-7);
    assert_eq!(te.pixels, vec![1.0; 20]);
    // labels that do not match the images are named
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[2], &[3, 4])).unwrap();
    let e = load_idx(&dir).unwrap_err().to_string();
    assert!(e.contains("t10k images") && e.contains("labels"), "{e}");
    // images of no pixels are named, not cut into chunks of none
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[2], &[3, 4])).unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte.gz"),
        gzip(&idx(&[2, 0, 0], &[])),
    )
    .unwrap();
    let e = load_idx(&dir).unwrap_err().to_string();
    assert!(e.contains("h and w"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cifar_batches_load_channel_planes() {
    let dir = tmp("cifar");
    let record = |label: &[u8], fill: u8| {
        let mut r = label.to_vec();
        r.extend((0..3072).map(|i| {
            if i < 1024 {
                fill
            } else if i < 2048 {
                0
            } else {
                255
            }
        }));
        r
    };
    for k in 1..=5 {
        let mut f = std::fs::File::create(dir.join(format!("data_batch_{k}.bin"))).unwrap();
        f.write_all(&record(&[k as u8], 51)).unwrap();
    }
    std::fs::write(
        dir.join("test_batch.bin"),
        [record(&[9], 0), record(&[2], 255)].concat(),
    )
    .unwrap();
    let (tr, te) = load_cifar(&dir, 10).unwrap();
    assert_eq!((tr.len(), te.len(), tr.channels, tr.h), (5, 2, 3, 32));
    assert_eq!(tr.labels, [1, 2, 3, 4, 5]);
    assert!(
        (tr.image(0)[0] - 0.2).abs() < 1e-7 && tr.image(0)[1024] == 0.0 && tr.image(0)[2048] == 1.0
    );
    // CIFAR-100: coarse then fine label, the fine one kept
    std::fs::write(dir.join("train.bin"), record(&[3, 77], 0)).unwrap();
    std::fs::write(dir.join("test.bin"), record(&[1, 5], 0)).unwrap();
    let (tr, te) = load_cifar(&dir, 100).unwrap();
    assert_eq!((tr.labels[0], te.labels[0]), (77, 5));
    // a truncated file is named
    std::fs::write(dir.join("test.bin"), [0u8; 100]).unwrap();
    let e = load_cifar(&dir, 100).unwrap_err().to_string();
    assert!(e.contains("test.bin") && e.contains("3074-byte"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bilinear_resizing_matches_pytorch_and_normalising_centres() {
    let one = |h, w, pixels: Vec<f32>| ImageSet {
        channels: 1,
        h,
        w,
        classes: 1,
        pixels,
        labels: vec![0],
    };
    let up = one(2, 2, vec![0.0, 1.0, 2.0, 3.0]).resized(4, 4);
    // torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
    let want = [
        0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0,
    ];
    assert_eq!(up.pixels, want);
    let down = one(3, 4, (0..12).map(|v| v as f32).collect()).resized(5, 2);
    let want = [0.5, 2.5, 2.1, 4.1, 4.5, 6.5, 6.9, 8.9, 8.5, 10.5];
    for (a, b) in down.pixels.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{a} against {b}");
    }
    let mut s = one(2, 2, vec![1.0, 2.0, 3.0, 4.0]);
    let stats = s.channel_stats();
    assert!((stats[0].0 - 2.5).abs() < 1e-12 && (stats[0].1 - 1.25f64.sqrt()).abs() < 1e-12);
    s.normalise(&stats);
    assert!(s.pixels.iter().map(|v| *v as f64).sum::<f64>().abs() < 1e-6);
}

/// Debian's `dataset-fashion-mnist` (installed by `.ci/run`): 60,000 and 10,000 images of 28 x 28.
#[test]
fn fashion_mnist_loads_where_installed() {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    if !dir.exists() {
        eprintln!(
            "skipped: {} not installed (apt install dataset-fashion-mnist)",
            dir.display()
        );
        return;
    }
    let (tr, te) = load_idx(&dir).unwrap();
    assert_eq!(
        (tr.len(), te.len(), tr.h, tr.w, tr.classes),
        (60_000, 10_000, 28, 28, 10)
    );
    let stats = tr.channel_stats();
    // the usual Fashion-MNIST normalisation, 0.2860 and 0.3530
    assert!(
        (stats[0].0 - 0.2860).abs() < 1e-3 && (stats[0].1 - 0.3530).abs() < 1e-3,
        "{stats:?}"
    );
}

fn write_png(path: &std::path::Path, w: u32, h: u32, colour: bool, data: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(if colour {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(data).unwrap();
}

#[test]
fn a_folder_of_png_and_jpeg_images_loads_as_imagefolder() {
    use biornn_vision::data::{load_folder, read_image};
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // JPEG (made by Pillow, fixtures/make_jpeg.py): left half red, right half blue; lossy, so near
    let (c, h, w, px) = read_image(&fixtures.join("tiny_colour.jpg")).unwrap();
    assert_eq!((c, h, w), (3, 8, 8));
    let near = |a: f32, b: f32| (a - b).abs() < 0.05;
    assert!(
        near(px[0], 1.0) && near(px[64], 0.0) && near(px[128], 0.0),
        "{:?}",
        &px[..3]
    );
    assert!(near(px[7], 0.0) && near(px[128 + 7], 1.0));
    let (c, _, _, px) = read_image(&fixtures.join("tiny_grey.jpg")).unwrap();
    assert!(c == 1 && near(px[0], 200.0 / 255.0) && near(px[7], 50.0 / 255.0));
    // a folder: two classes, PNG (exact) and JPEG, grey and colour mixed
    let dir = tmp("folder");
    for split in ["train/ant", "train/bee", "test/bee"] {
        std::fs::create_dir_all(dir.join(split)).unwrap();
    }
    write_png(
        &dir.join("train/ant/a.png"),
        8,
        8,
        true,
        &[[10u8, 20, 30]; 64].concat(),
    );
    std::fs::copy(fixtures.join("tiny_grey.jpg"), dir.join("train/bee/b.jpg")).unwrap();
    write_png(&dir.join("test/bee/c.png"), 8, 8, false, &[255u8; 64]);
    std::fs::write(dir.join("train/bee/notes.txt"), "not an image").unwrap();
    let (train, test) = load_folder(&dir, 0).unwrap();
    assert_eq!(
        (train.len(), train.channels, train.h, train.classes),
        (2, 3, 8, 2)
    );
    assert_eq!(train.labels, [0, 1]);
    assert_eq!(&train.image(0)[..1], &[10.0 / 255.0]);
    assert_eq!(train.image(0)[64], 20.0 / 255.0);
    // the grey JPEG repeated into three channels
    assert_eq!(train.image(1)[0], train.image(1)[64]);
    assert_eq!(
        (test.len(), test.labels[0], test.image(0)[100]),
        (1, 1, 1.0)
    );
    // resized on loading; images of another size without it are named
    let (small, _) = load_folder(&dir, 4).unwrap();
    assert_eq!((small.h, small.w), (4, 4));
    write_png(
        &dir.join("train/ant/big.png"),
        9,
        8,
        true,
        &[[0u8; 3]; 72].concat(),
    );
    let e = load_folder(&dir, 0).unwrap_err().to_string();
    assert!(e.contains("big.png") && e.contains("image_size"), "{e}");
    std::fs::write(dir.join("train/ant/big.png"), b"garbage").unwrap();
    let e = load_folder(&dir, 4).unwrap_err().to_string();
    assert!(e.contains("big.png") && e.contains("PNG or JPEG"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
