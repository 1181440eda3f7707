"""Shared fixtures: a tiny trained run, and the CLI binary for side-by-side checks."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import biornn

ROOT = Path(__file__).resolve().parents[3]


def small_config(**model):
    """Two go tasks, 32 units: trains in about a second."""
    cfg = biornn.default_config()
    cfg["name"] = "tiny"
    cfg["task"]["rules"] = ["fdgo", "reactgo"]
    cfg["model"]["n_rec"] = 32
    cfg["model"].update(model)
    cfg["train"].update(batch_size=16, max_steps=12, eval_every=6, eval_trials=32)
    return cfg


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return biornn.train(small_config(), runs=runs, seed=3, verbose=False)


@pytest.fixture(scope="session")
def cli():
    """The `biornn` binary: BIORNN_BIN, else the workspace's release build (built by `cargo test
    --release`). Skips when absent unless BIORNN_REQUIRE_CLI is set (CI sets it)."""
    candidates = [os.environ.get("BIORNN_BIN"), ROOT / "target" / "release" / "biornn", shutil.which("biornn")]
    for c in candidates:
        if c and Path(c).is_file():
            return lambda *args: subprocess.run([str(c), *map(str, args)], check=True, capture_output=True, text=True)
    if os.environ.get("BIORNN_REQUIRE_CLI"):
        pytest.fail("no biornn binary (set BIORNN_BIN or run cargo build --release)")
    pytest.skip("no biornn binary (set BIORNN_BIN or run cargo build --release)")
