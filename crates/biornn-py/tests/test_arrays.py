"""numpy in and out: what biornn reads and writes equals what numpy reads and computes."""

import os

import numpy as np
import pytest

import biornn
from conftest import small_config


def test_read_arrays_equals_numpy_load(tiny_run):
    path = tiny_run.path / "model.npz"
    ours = biornn.read_arrays(path)
    with np.load(path) as theirs:
        assert sorted(ours) == sorted(theirs.files)
        for k in theirs.files:
            if theirs[k].dtype.kind == "U":
                assert ours[k] == str(theirs[k])
            else:
                assert ours[k].dtype == theirs[k].dtype, k
                np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)


def test_safetensors_equal_npz(tiny_run):
    try:
        from safetensors.numpy import load_file
    except ImportError:
        if os.environ.get("BIORNN_REQUIRE_PYTHON"):
            raise
        pytest.skip("safetensors not installed")
    theirs = load_file(str(tiny_run.path / "model.safetensors"))
    ours = biornn.read_arrays(tiny_run.path / "model.safetensors")
    npz = biornn.read_arrays(tiny_run.path / "model.npz")
    for k in ("W_in", "W_rec", "W_out", "b_rec", "b_out"):
        np.testing.assert_array_equal(ours[k], theirs[k])
        np.testing.assert_array_equal(ours[k], npz[k])


def test_task_batch_equals_cli_dump(tmp_path, cli):
    out = tmp_path / "dm1.npz"
    cli("task", "dump", "dm1", "--batch", 8, "--seed", 3, "--out", out)
    ours = biornn.task_batch("dm1", batch=8, seed=3)
    with np.load(out) as theirs:
        assert sorted(ours) == sorted(theirs.files)
        for k in theirs.files:
            if theirs[k].dtype.kind == "U":
                assert ours[k] == str(theirs[k])
            else:
                np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)


def test_task_batch_shapes_and_modcog():
    b = biornn.task_batch("fdgo", batch=5, seed=1, noise=False)
    t = b["x"].shape[0]
    assert b["x"].shape == (t, 5, 85) and b["y"].shape == (t, 5, 33)
    assert b["class"].shape == (t, 5) and b["class"].dtype == np.int32
    assert b["stim1_loc"].shape == (5,)
    # the go epoch asks for the stimulus' location: the class there is its ring unit
    on, off = b["epoch_go1_on"], b["epoch_go1_off"]
    assert np.all(b["class"][: on[0], :] == 0)
    assert np.all(b["class"][on[0] : off[0], :] > 0)
    m = biornn.task_batch("dmsintrseqr", battery="modcog", batch=2, dt=100.0)
    assert m["x"].shape[1:] == (2, 33 + 126)
    # Mod-Cog's options as a config's [task.modcog]: the reference's go takes a 500 ms delay
    go = biornn.task_batch("go", battery="modcog", batch=2, dt=100.0)
    faithful = biornn.task_batch(
        "go", battery="modcog", batch=2, dt=100.0, modcog={"faithful_go_delay": True}
    )
    assert faithful["x"].shape[0] == go["x"].shape[0] + 5
    assert faithful["epoch_delay_off"][0] - faithful["epoch_delay_on"][0] == 5
    env = biornn.TaskEnv("go", "modcog", dt=100.0, modcog={"faithful_go_delay": True})
    assert env.trial["epoch_delay_off"] - env.trial["epoch_delay_on"] == 5
    # numpy's bool is a bool; None leaves the option at its default
    as_numpy = biornn.task_batch(
        "go", battery="modcog", batch=2, dt=100.0,
        modcog={"faithful_go_delay": np.True_, "ring_order": None},
    )
    np.testing.assert_array_equal(as_numpy["x"], faithful["x"])
    for bad, named in [
        ({"faithful_go_dealy": True}, "faithful_go_dealy"),
        ({"ring_order": "sideways"}, "sideways"),
        ({"faithful_wrap": 1}, "faithful_wrap"),
    ]:
        with pytest.raises(biornn.Error, match=named):
            biornn.task_batch("go", battery="modcog", dt=100.0, modcog=bad)
    with pytest.raises(biornn.Error, match="--battery modcog"):
        biornn.task_batch("fdgo", modcog={"faithful_go_delay": True})
    # batch k of a seed is the same whatever came before
    a = biornn.task_batch("fdgo", batch=2, seed=1, index=4)
    c = biornn.task_batch("fdgo", batch=2, seed=1, index=4)
    np.testing.assert_array_equal(a["x"], c["x"])
    assert not np.array_equal(a["x"], biornn.task_batch("fdgo", batch=2, seed=1, index=5)["x"])


def softplus(z):
    return np.logaddexp(0.0, z)


def relu(z):
    return np.maximum(z, 0.0)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize(
    "model, f, readout",
    [
        ({}, softplus, sigmoid),
        ({"state": "current", "activation": "relu", "readout": "linear"}, relu, lambda z: z),
    ],
    ids=["rate-softplus-sigmoid", "current-relu-linear"],
)
def test_network_run_equals_numpy(tmp_path, model, f, readout):
    run = biornn.train(small_config(**model), runs=tmp_path, seed=2, max_steps=6, verbose=False)
    w = run.weights()
    net = run.network()
    assert (net.n_in, net.n_rec, net.n_out) == (w["W_in"].shape[1], w["W_rec"].shape[0], w["W_out"].shape[0])
    x = biornn.task_batch("fdgo", batch=3, seed=0)["x"]
    out = net.run(x)
    alpha = net.dt / w["tau"].astype(np.float64)
    s = np.broadcast_to(w["init_state"], (3, net.n_rec)).astype(np.float64)
    current = model.get("state") == "current"
    rates, outputs = [], []
    for t in range(x.shape[0]):
        if current:  # PsychRNN: x <- (1-a) x + a (W f(x) + W_in u + b), r = f(x)
            s = (1 - alpha) * s + alpha * (f(s) @ w["W_rec"].T + x[t] @ w["W_in"].T + w["b_rec"])
            r = f(s)
        else:  # gyyang: r <- (1-a) r + a f(W r + W_in u + b)
            s = (1 - alpha) * s + alpha * f(s @ w["W_rec"].T + x[t] @ w["W_in"].T + w["b_rec"])
            r = s
        rates.append(r)
        outputs.append(readout(r @ w["W_out"].T + w["b_out"]))
    np.testing.assert_allclose(out["rates"], np.array(rates), atol=2e-5)
    np.testing.assert_allclose(out["outputs"], np.array(outputs), atol=2e-5)
    assert out["states"].shape == out["rates"].shape == (x.shape[0], 3, net.n_rec)


def test_run_outputs_are_numpy_owned_by_rust_and_noise_is_seeded(tiny_run):
    net = tiny_run.network()
    x = biornn.task_batch("fdgo", batch=2, seed=0)["x"]
    quiet = net.run(x)
    # the arrays wrap the engine's buffers (no copy): numpy does not own their data
    assert not quiet["rates"].flags.owndata and quiet["rates"].flags.c_contiguous
    # states after each step and the initial state are views of one buffer
    assert quiet["states"].base is not None and quiet["states"].base is quiet["initial_state"].base
    a, b = net.run(x, noise=True, seed=1), net.run(x, noise=True, seed=1)
    np.testing.assert_array_equal(a["rates"], b["rates"])
    assert not np.array_equal(a["rates"], quiet["rates"])
    assert not np.array_equal(a["rates"], net.run(x, noise=True, seed=2)["rates"])
    # a Fortran-ordered or float64 input gives the same outputs
    np.testing.assert_array_equal(net.run(np.asfortranarray(x))["outputs"], quiet["outputs"])
    np.testing.assert_array_equal(net.run(x.astype(np.float64))["outputs"], quiet["outputs"])


def test_every_battery_gives_batches_with_their_latents():
    dts = {"modcog": 100.0}
    seen = set()
    for battery in biornn.tasks():
        for t in battery["tasks"]:
            if t["description"].startswith("unavailable here"):
                continue  # a dataset not installed on this machine (the digits)
            b = biornn.task_batch(t["name"], battery=battery["name"], batch=3, seed=1, dt=dts.get(battery["name"], 20.0))
            steps = b["x"].shape[0]
            assert b["x"].shape[1] == 3 and b["y"].shape[:2] == (steps, 3), t["name"]
            assert b["lengths"].shape == (3,) and b["lengths"].max() <= steps
            assert b["task"] == t["name"]
            seen.add(battery["name"])
            break
    assert {"yang20", "temporalskip", "modcog", "anbn"} <= seen
