"""Training from Python is the CLI's training; errors are Python exceptions with the CLI's messages."""

import json
import signal
import threading
import time

import numpy as np
import pytest

import biornn
from conftest import small_config


def test_python_training_equals_the_cli(tmp_path, cli):
    cfg = small_config()
    cfg_path = tmp_path / "tiny.toml"
    ours = biornn.train(cfg, runs=tmp_path / "py", seed=7, verbose=False)
    # the config Python trained on, written as TOML, then the CLI on it
    resolved = ours.config
    assert resolved["seed"] == 7 and resolved["model"]["n_rec"] == 32
    cfg_path.write_text((ours.path / "config.toml").read_text())
    cli("train", cfg_path, "--seed", 7, "--runs", tmp_path / "cli", "--quiet")
    theirs = biornn.Run(tmp_path / "cli" / "tiny")
    a, b = ours.weights(all=True), theirs.weights(all=True)
    assert sorted(a) == sorted(b)
    for k in a:
        if k in ("state_wall_s", "checksum"):  # wall-clock, and the checksum over it
            continue
        if isinstance(a[k], str):
            assert a[k] == b[k], k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ma, mb = ours.metrics(), theirs.metrics()
    for col in ma:
        if "wall" not in col and not isinstance(ma[col], list):
            np.testing.assert_array_equal(ma[col], mb[col], err_msg=col)
    assert ours.result["steps"] == 12 and theirs.summary["steps"] == 12


def test_resume_continues_to_a_larger_budget_bit_for_bit(tmp_path):
    cfg = small_config()
    short = biornn.train(cfg, dir=tmp_path / "short", seed=4, max_steps=6, verbose=False)
    longer = short.resume(max_steps=12, verbose=False)
    direct = biornn.train(cfg, dir=tmp_path / "direct", seed=4, max_steps=12, verbose=False)
    assert longer.result["steps"] == 12
    a, b = longer.weights(), direct.weights()
    for k in ("W_rec", "W_in", "W_out", "b_rec"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_training_into_a_directory_holding_the_run_goes_on_with_it(tmp_path):
    cfg = small_config()
    run = tmp_path / "run"
    biornn.train(cfg, dir=run, seed=4, max_steps=6, verbose=False)
    # the same call with a larger budget takes the run on, as resume does
    longer = biornn.train(cfg, dir=run, seed=4, max_steps=12, verbose=False)
    direct = biornn.train(cfg, dir=tmp_path / "direct", seed=4, max_steps=12, verbose=False)
    assert longer.result["steps"] == 12
    for k in ("W_rec", "W_in", "W_out", "b_rec"):
        np.testing.assert_array_equal(longer.weights()[k], direct.weights()[k], err_msg=k)
    again = biornn.train(cfg, dir=run, seed=4, max_steps=12, verbose=False)
    assert again.result["done_before"] and again.result["steps"] == 12
    # another run's settings are refused by name, and the run is left as it was
    with pytest.raises(biornn.Error, match="seed: 4, 5"):
        biornn.train(cfg, dir=run, seed=5, max_steps=12, verbose=False)
    np.testing.assert_array_equal(biornn.Run(run).weights()["W_rec"], direct.weights()["W_rec"])


def test_result_evaluate_and_summary(tiny_run, cli):
    r = tiny_run.result
    assert set(r) >= {"dir", "reached", "steps", "trials", "wall_s", "scores", "per_task"}
    assert set(r["per_task"]) == {"fdgo", "reactgo"}
    assert r["trials"] == 12 * 16
    ev = tiny_run.evaluate(trials=64)
    assert set(ev["tasks"]) == {"fdgo", "reactgo"}
    assert all(0.0 <= t["perf"] <= 1.0 for t in ev["tasks"].values())
    # the same numbers the CLI prints
    cli_json = json.loads(cli("eval", tiny_run.path, "--trials", 64, "--json").stdout)
    assert ev["min_perf"] == cli_json["min_perf"] and ev["mean_perf"] == cli_json["mean_perf"]
    assert tiny_run.summary["steps"] == 12
    assert tiny_run.kind == ("ctrnn", "bptt")


def test_a_long_term_run_evaluates_per_network(tmp_path, cli):
    run = tmp_path / "lt"
    cli("longterm", "dlygo", "--method", "base", "--networks", 2, "--max-rounds", 1, "--quiet", "--out", run)
    ev = biornn.evaluate(run, trials=20)
    assert [n["network"] for n in ev["networks"]] == [0, 1]
    assert ev["step"] == 1 and ev["updates"] == 10  # one round of 10 updates
    for n in ev["networks"]:
        assert n["task"] == "dlygo" and n["trials"] == 20
        assert 0.0 <= n["fix1"] <= 1.0 and 0.0 <= n["res"] <= 1.0
    # the same numbers the CLI prints
    cli_json = json.loads(cli("eval", run, "--trials", 20, "--json").stdout)
    assert ev["networks"] == cli_json["networks"] and ev["trimmed_mean"] == cli_json["trimmed_mean"]
    # each network's weights, without the optimiser's moments or the loop's and guard's state
    w = biornn.Run(run).weights()
    assert "net0/W_rec" in w and "net1/W_out" in w
    assert not [k for k in w if k.rsplit("/", 1)[-1].startswith(("opt_", "state_"))], sorted(w)
    every = biornn.Run(run).weights(all=True)
    assert "net0/opt_m_w_rec" in every and "state_network_lr_scale" in every


def test_a_rule_reversal_run_evaluates_per_network(tmp_path, cli):
    run = tmp_path / "rv"
    cli("reversal", "--networks", 2, "--rounds", 1, "--per-pattern", 1, "--quiet", "--out", run)
    ev = biornn.evaluate(run, trials=41)  # two batches of 8 sequences of 5 trials
    assert [n["network"] for n in ev["networks"]] == [0, 1]
    for n in ev["networks"]:
        assert n["task"] == "reversal" and n["trials"] == 80
        assert 0.0 <= n["after_switch"] <= 1.0 and 0.0 <= n["after_stay"] <= 1.0
    cli_json = json.loads(cli("eval", run, "--trials", 41, "--json").stdout)
    assert ev["networks"] == cli_json["networks"] and ev["trimmed_mean"] == cli_json["trimmed_mean"]


def test_analysis_returns_arrays(tiny_run):
    a = tiny_run.analyze(["pca", "fixed-points", "variance"], inits=16)
    n = 32
    assert a["pca"]["components"].shape[1] == n
    assert np.all(np.diff(a["pca"]["variance"]) <= 0)
    assert a["pca"]["table"]["explained_ratio"].sum() <= 1.0 + 1e-9
    fp = a["fixed_points"]
    assert fp["table"]["q"].shape[0] == len(fp["table"]["kind"]) >= 1
    assert a["task_variance"]["task_variance"].shape == (n, 2)
    assert set(a["task_variance"]["table"]) >= {"unit", "population", "cluster", "fdgo", "reactgo"}
    psy = biornn.analyze(tiny_run, "lesion")
    assert "lesion" in psy and "fdgo" in psy["lesion"]


def _idx(path, dims, data):
    """An IDX file (MNIST's format): zero, zero, type 8 (unsigned bytes), the rank, then each
    dimension as a big-endian u32 and the bytes."""
    head = bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    path.write_bytes(head + bytes(data))


def test_a_cordsnet_run_is_analysed_as_the_cli_does(tmp_path, cli):
    data = tmp_path / "images"
    data.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in [("train", 16), ("t10k", 8)]:
        _idx(data / f"{prefix}-images-idx3-ubyte", [n, 12, 12], rng.integers(0, 256, n * 144, dtype=np.uint8))
        _idx(data / f"{prefix}-labels-idx1-ubyte", [n], (np.arange(n) % 4).astype(np.uint8))
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'name = "c"\n[network]\nkind = "cordsnet"\nwidths = [4, 4, 4, 4]\n[rule]\nbatch_size = 4\n'
        f'[task]\npath = "{data}"\nspontaneous_steps = 5\nstimulus_steps = 8\nloss_steps = 4\n'
        f"offset_steps = 4\npenalty_steps = 2\n[train]\nmax_steps = 4\neval_every = 2\n"
    )
    cli("train", "--quiet", "--runs", tmp_path, cfg)
    run = tmp_path / "c"
    a = biornn.analyze(run)
    # each area's Arnoldi eigenvalues at the spontaneous fixed point, settled from rest first
    assert a["spectra"]["area0_eigenvalues"].shape[1] == 2
    assert set(a["spectra"]["table"]["area"]) == {0.0, 1.0}
    assert a["fixed_points"]["start"][0] == "rest"
    ours = (run / "analysis" / "spectra.csv").read_text()
    cli("analyze", run)
    assert (run / "analysis" / "spectra.csv").read_text() == ours
    with pytest.raises(biornn.Error, match="--net"):
        biornn.analyze(run, net=1)
    # a multi-area network on this front end, scored on fresh test trials as the CLI scores it
    ma = tmp_path / "m.toml"
    ma.write_text(
        f'name = "m"\n[network]\nkind = "multiarea"\n[front_end]\nmodel = "{run / "model.npz"}"\n'
        f'spontaneous_steps = 5\n[model]\nn_rec = 16\n[task]\npath = "{data}"\nfixation_ms = 4.0\n'
        f"sample_ms = 6.0\ndelay_ms = 6.0\ntest_ms = 8.0\ngrace_ms = 2.0\nboundary = 2\neval_trials = 8\n"
        f"[train]\nmax_steps = 4\nbatch_size = 4\neval_every = 2\n"
    )
    cli("train", "--quiet", "--runs", tmp_path, ma)
    ev = biornn.evaluate(tmp_path / "m", trials=12)
    (net,) = ev["networks"]
    assert set(net) >= {"match", "non_match"} and net["trials"] == 12
    assert ev["tasks"]["dmc"]["perf"] == net["perf"]
    cli_json = json.loads(cli("eval", tmp_path / "m", "--trials", 12, "--json").stdout)
    assert ev["networks"] == cli_json["networks"]


def test_training_releases_the_gil(tmp_path):
    cfg = small_config()
    cfg["train"]["max_steps"] = 60
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    start = time.perf_counter()
    biornn.train(cfg, runs=tmp_path, seed=1, verbose=False)
    took = time.perf_counter() - start
    done.set()
    t.join()
    during = [x for x in ticks if start < x < start + took]
    # a held GIL would let the other thread tick a few times at most (Python's switch interval
    # gives it no turn inside a native call)
    assert len(during) >= 0.3 * took / 0.005 - 2, (len(during), took)


def test_errors_are_python_exceptions_with_the_cli_messages(tmp_path):
    cfg = small_config()
    cfg["model"]["n_recc"] = 3
    with pytest.raises(biornn.Error, match="n_recc"):
        biornn.train(cfg, runs=tmp_path)
    cfg = small_config()
    cfg["model"]["activation"] = "swish"
    with pytest.raises(biornn.Error, match="activation") as e:
        biornn.check_config(cfg)
    assert "relu" in str(e.value)  # names what is allowed
    with pytest.raises(biornn.Error, match="no_such_task"):
        biornn.task_batch("no_such_task")
    with pytest.raises(biornn.Error, match="battery"):
        biornn.task_batch("fdgo", battery="nope")
    with pytest.raises(biornn.Error, match="batch"):
        biornn.task_batch("fdgo", batch=0)
    with pytest.raises(biornn.Error, match="RUN"):
        biornn.load(tmp_path / "missing")
    # a directory that holds runs is not one
    (tmp_path / "runs").mkdir()
    with pytest.raises(biornn.Error, match="not a run directory"):
        biornn.Run(tmp_path / "runs")
    # numpy's bool is a bool, a Python int past TOML's range names its key
    with pytest.raises(biornn.Error, match="model.n_rec"):
        biornn.check_config({"model": {"n_rec": 2**70}})
    cfg = small_config()
    cfg["model"]["trainable"]["w_in"] = np.bool_(False)
    assert biornn.check_config(cfg)["model"]["trainable"]["w_in"] is False
    with pytest.raises(biornn.Error):
        biornn.Network(tmp_path / "missing")
    with pytest.raises(biornn.Error, match="kind"):
        biornn.default_config("transformer")
    with pytest.raises(biornn.Error, match="config"):
        biornn.train({"model": {"n_rec": object()}}, runs=tmp_path)
    # biornn.Error is a ValueError, so generic handlers catch it
    assert issubclass(biornn.Error, ValueError)


def test_wrong_input_shape_names_x(tiny_run):
    net = tiny_run.network()
    with pytest.raises(biornn.Error, match=r"x: shape \[5, 2, 3\]"):
        net.run(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(biornn.Error, match="x: an array of int64 with 2 dimensions"):
        net.run(np.zeros((5, 2), np.int64))


def test_config_forms_agree(tmp_path):
    cfg = small_config()
    from_dict = biornn.check_config(cfg)
    path = tmp_path / "c.toml"
    path.write_text((biornn.train(cfg, runs=tmp_path, max_steps=1, verbose=False).path / "config.toml").read_text())
    from_file = biornn.check_config(path)
    from_text = biornn.check_config(path.read_text())
    assert from_file == from_text
    assert from_dict["model"] == from_file["model"] and from_dict["task"] == from_file["task"]


def test_help_reads_well():
    doc = biornn.train.__doc__
    for word in ("config", "seed", "max_steps", "GIL", "resume"):
        assert word in doc
    assert "T, B" in biornn.Network.run.__doc__
    assert "x_loc" not in biornn.task_batch.__doc__ and "class" in biornn.task_batch.__doc__


def test_psychometric_curves_come_back_as_columns(tmp_path):
    cfg = small_config()
    cfg["task"]["rules"] = ["dm1"]
    run = biornn.train(cfg, runs=tmp_path, seed=1, max_steps=2, verbose=False)
    psy = run.analyze("psychometric")
    curves, fits = psy["psychometric"], psy["psychometric_fit"]
    assert set(curves["task"]) == {"dm1"}
    p = curves["p_choice1"]
    assert len(p) == len(curves["stim_difference"]) > 4 and np.all((p >= 0) & (p <= 1))
    assert len(fits["bias"]) >= 1


def test_verbose_training_reports_each_evaluation_on_stdout(tmp_path, capsys):
    cfg = small_config()
    biornn.train(cfg, runs=tmp_path, seed=1, verbose=True)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("step")]
    # evaluations before the first update, at 6 and at 12
    assert [l.split()[1] for l in lines] == ["0", "6", "12"], lines
    assert all("min perf" in l for l in lines)
    biornn.train(cfg, runs=tmp_path, seed=1, verbose=False)
    assert "step" not in capsys.readouterr().out


def test_tensorboard_applies_to_its_own_call_only(tmp_path):
    cfg = small_config()
    biornn.train(cfg, runs=tmp_path / "a", seed=1, verbose=False, tensorboard=tmp_path / "tb")
    biornn.train(cfg, runs=tmp_path / "b", seed=1, verbose=False)
    runs = sorted(str(p.parent.relative_to(tmp_path / "tb")) for p in (tmp_path / "tb").rglob("events.out.tfevents.*"))
    # the first run's events (runs a/tiny), none of the second's
    assert runs == ["a/tiny"], runs


def test_ctrl_c_stops_at_the_last_evaluation_and_the_run_resumes_bit_for_bit(tmp_path):
    import _thread

    cfg = small_config()
    # a criterion it cannot meet in a second: it runs until interrupted
    cfg["task"]["rules"] = ["dm1", "dm2"]
    cfg["train"].update(max_steps=10_000_000, target_perf=1.0)
    # Python's own Ctrl-C handler, whatever the test was started with: a process started in the
    # background by a shell inherits SIGINT ignored, and interrupt_main then does nothing
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer = threading.Timer(1.0, _thread.interrupt_main)
        timer.start()
        start = time.perf_counter()
        with pytest.raises(KeyboardInterrupt, match="saved at step"):
            biornn.train(cfg, dir=tmp_path / "cut", seed=2, verbose=False)
        assert time.perf_counter() - start < 30
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    cut = biornn.load(tmp_path / "cut")
    stopped = int(cut.metrics()["step"][-1])
    assert stopped > 0 and stopped % 6 == 0
    # resumed to a budget, it equals the same run trained to that budget at once
    budget = stopped + 12
    resumed = biornn.resume(cut, max_steps=budget, verbose=False)
    direct = biornn.train(cfg, dir=tmp_path / "direct", seed=2, max_steps=budget, verbose=False)
    assert resumed.result["steps"] == direct.result["steps"] == budget
    a, b = resumed.weights(), direct.weights()
    for k in ("W_rec", "W_in", "W_out", "b_rec", "b_out"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
