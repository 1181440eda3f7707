"""biornn from Python: train, load, run and analyse biologically plausible recurrent networks.

Everything runs in biornn's Rust engine with the GIL released; arrays come back as numpy arrays
shaped ``[T, B, dim]`` (time, trials, units), weights as ``(post, pre)`` matrices under PsychRNN's
key names (``W_in``, ``W_rec``, ``W_out``, ``b_rec``, ``b_out``).

>>> import biornn
>>> cfg = biornn.default_config()                 # the CLI's default, as a dict
>>> cfg["model"]["n_rec"] = 64
>>> run = biornn.train(cfg, runs="runs", seed=1, max_steps=200)
>>> batch = biornn.task_batch("fdgo", batch=8, seed=0, noise=False)
>>> out = run.network().run(batch["x"])          # outputs, states, rates: [T, B, dim]

A run trained here is the run ``biornn train`` makes for the same config and seed, bit for bit.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _biornn
from ._biornn import Error, Network, __version__

ConfigLike = Union[None, Mapping[str, Any], str, "os.PathLike[str]"]

__all__ = [
    "Error",
    "Network",
    "Run",
    "TaskEnv",
    "analyze",
    "check_config",
    "default_config",
    "evaluate",
    "load",
    "read_arrays",
    "read_csv",
    "resume",
    "task_batch",
    "tasks",
    "train",
    "__version__",
]


def default_config(kind: Optional[str] = None) -> Dict[str, Any]:
    """The default config of a system as a nested dict, as ``biornn config --kind KIND`` prints it.

    ``kind`` is one of ctrnn (the default: a CTRNN trained by BPTT), reservoir, r2n2, rflo, esn,
    ctrnn_rflo, ctrnn_force, elise, cordsnet, multiarea. Change entries and pass the dict to
    :func:`train`; unknown keys are errors there, as in a TOML file.
    """
    return _biornn.default_config(kind)


def check_config(config: ConfigLike = None) -> Dict[str, Any]:
    """Validate a config (dict, TOML text or path to a ``.toml``) and return it with every default
    filled in. Raises :class:`biornn.Error` naming the bad field, its value and what is allowed."""
    return _biornn.check_config(_config_arg(config))


def train(
    config: ConfigLike = None,
    *,
    runs: Union[str, "os.PathLike[str]"] = "runs",
    dir: Union[None, str, "os.PathLike[str]"] = None,
    seed: Optional[int] = None,
    max_steps: Optional[int] = None,
    name: Optional[str] = None,
    verbose: bool = True,
    tensorboard: Union[None, str, "os.PathLike[str]"] = None,
) -> "Run":
    """Train a network and return its :class:`Run`.

    Parameters
    ----------
    config:
        a dict (as :func:`default_config` returns), TOML text, or a path to a ``.toml`` file;
        None trains the default network (six go/anti tasks, 128 softplus units).
    runs:
        the folder under which a fresh run directory named after the config is made.
    dir:
        train exactly in this run directory instead (made if missing). When it holds this run
        already (the same config, ``max_steps`` aside), the run goes on: resumed after a kill,
        taken on to a larger ``max_steps``, or returned as it is once it met its criterion or
        budget (its ``result`` is then ``dir``, ``steps`` and ``done_before``). A run of other
        settings there is an error naming them: nothing is overwritten.
    seed, max_steps, name:
        override the config's ``seed``, ``train.max_steps`` and ``name`` (as the CLI's flags do).
    verbose:
        print a line at each evaluation (step, loss, scores, seconds) to ``sys.stdout``, so a
        notebook shows it as the run goes (and a progress bar on stderr in a terminal).
    tensorboard:
        also write the metrics as TensorBoard event files under this folder.

    Training releases the GIL, so other Python threads run meanwhile. ``verbose`` and
    ``tensorboard`` are settings of the process while a call trains: two calls training at once
    from different threads share them. Ctrl-C (in the main thread) stops the run at its last
    evaluation, saved, and raises ``KeyboardInterrupt``. Runs checkpoint as they go: an
    interrupted run continues with :func:`resume`, bit-identical to an uninterrupted one.
    """
    done = _interruptible(lambda: _biornn.train(
        _config_arg(config),
        runs=os.fspath(runs),
        dir=None if dir is None else os.fspath(dir),
        seed=seed,
        max_steps=max_steps,
        name=name,
        verbose=verbose,
        tensorboard=None if tensorboard is None else os.fspath(tensorboard),
    ))
    return Run(done["dir"], result=done)


def resume(run: Union[str, "os.PathLike[str]", "Run"], *, max_steps: Optional[int] = None, verbose: bool = True) -> "Run":
    """Continue a killed run where it stopped, or a finished one to a larger ``max_steps``."""
    path = run.path if isinstance(run, Run) else Path(run)
    done = _interruptible(lambda: _biornn.resume(os.fspath(path), max_steps=max_steps, verbose=verbose))
    return Run(done["dir"], result=done)


def load(path: Union[str, "os.PathLike[str]"]) -> "Run":
    """Open a run directory (made by ``biornn train``, a sweep, or :func:`train`)."""
    return Run(path)


def evaluate(run: Union[str, "os.PathLike[str]", "Run"], *, trials: int = 256, recurrent_noise: Optional[bool] = None) -> Dict[str, Any]:
    """Per-task performance of a run's weights (or a checkpoint file) on ``trials`` fresh trials per
    task: ``{"min_perf", "mean_perf", "step", "tasks": {task: {"perf", ...}}}``. For a long-term run
    (``biornn longterm``), each network on ``trials`` trials of its task instead: ``"networks"``, a
    list of ``{"network", "task", "perf", "fix1", "fix2", "res", "trials"}`` (the score and its
    parts: fixation held, released in the response window, direction right), ``"trimmed_mean"`` and
    ``"updates"`` (``"step"`` is then the round, and ``"tasks"`` is empty). A rule-reversal run
    (``biornn reversal``) gives the same, on whole batches of sequences holding at least ``trials``
    task trials, with the parts ``"after_switch"`` and ``"after_stay"``: the fractions of ideal
    answers on trials whose rule had just reversed and on those whose rule had not. A multi-area run
    gives its one network (``"match"`` and ``"non_match"``, or ``"right"`` and ``"left"``: the
    accuracy by the right answer) and its task's row in ``"tasks"``, on ``trials`` test trials."""
    path = run.path if isinstance(run, Run) else Path(run)
    return _biornn.evaluate(os.fspath(path), trials=trials, recurrent_noise=recurrent_noise)


def analyze(
    run: Union[str, "os.PathLike[str]", "Run"],
    what: Union[str, Sequence[str]] = ("fixed-points", "pca", "psychometric", "variance", "lesion"),
    *,
    task: Optional[str] = None,
    inits: int = 256,
    seed: int = 0,
    lesions: Iterable[str] = (),
    net: Optional[int] = None,
) -> Dict[str, Dict[str, Any]]:
    """Analyse a trained run as ``biornn analyze`` does, and return the results as numpy arrays.

    ``what`` names the analyses: fixed-points, pca, psychometric, variance, lesion. The result
    has one entry per result file written under ``RUN/analysis/``, named after it:

    - ``fixed_points``: ``xstar`` [K, N], ``qstar``, ``is_stable``, ``J_xstar``,
      ``eigval_re``/``_im``, ``pc_coords``, ... and ``table`` (the CSV: kind, stability, slowest
      time constant per point);
    - ``pca``: ``components`` [k, N], ``variance``, ``mean``, ``trajectories`` [conditions, T, 3],
      and ``table`` (explained variance ratios);
    - ``psychometric`` and ``psychometric_fit``: columns (task, duration, stimulus difference,
      choice probability; fitted bias and scale);
    - ``task_variance``: ``task_variance`` [N, tasks], ``cluster``, ``silhouette``, and ``table``;
    - ``lesion``: columns (lesion, units, and one performance column per task).

    A CordsNet run gets its own analysis whichever known parts ``what`` names (a misspelt one is
    still an error, as is ``net`` past its one network): ``spectra`` (each area's Arnoldi
    eigenvalues at the spontaneous fixed point, ``area<l>_eigenvalues`` [k, 2], the dominant
    eigenvector, and ``table``) and ``fixed_points`` (how the dynamics settled from rest and from
    random starts). A run of several networks is analysed one network at a time (``net``).

    CSV tables are dicts of columns: numeric columns as float arrays, others as lists of str.
    Figures are written beside them (``.png``, ``.svg``).
    """
    path = run.path if isinstance(run, Run) else Path(run)
    parts = what if isinstance(what, str) else ",".join(what)
    files = _biornn.analyze(
        os.fspath(path), what=parts, task=task, inits=inits, seed=seed, lesions=list(lesions), net=net
    )
    out: Dict[str, Dict[str, Any]] = {}
    for f in map(Path, files):
        entry = out.setdefault(f.stem, {})
        if f.suffix == ".npz":
            entry.update(_biornn.read_arrays(os.fspath(f)))
        else:
            entry["table"] = read_csv(f)
    # a result that is only a table is its columns
    return {k: (v["table"] if list(v) == ["table"] else v) for k, v in out.items()}


def tasks(battery: Optional[str] = None) -> List[Dict[str, Any]]:
    """The batteries (or the one named) with their sets and tasks: each task's name, epochs and a
    one-line description of its inputs and outputs."""
    return _biornn.tasks(battery)


def task_batch(
    task: str,
    *,
    battery: str = "yang20",
    batch: int = 16,
    seed: int = 0,
    index: int = 0,
    dt: float = 20.0,
    noise: bool = True,
    timing: str = "per_batch",
    easy: bool = False,
    modcog: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """A batch of trials of one task from the generator training uses (what `biornn task dump`
    writes), as numpy arrays.

    Returns ``x`` [T, B, n_in] (inputs), ``y`` [T, B, n_out] (targets), ``mask`` (the loss weight
    per step and output, 0 over padding), ``y_loc`` [T, B] (target angle, -1 to fixate), ``class``
    [T, B] (0 fixate, k + 1 for ring unit k, -1 over padding), ``lengths`` [B], the epochs as
    ``epoch_<name>_on``/``_off`` [B] (steps, -1 where absent), every latent trial parameter
    (e.g. ``stim1_loc``, ``stim1_mod1_strength``) as [B] arrays, and ``task`` and ``dt``.

    Batch ``index`` of ``seed`` is the same whatever was drawn before; ``timing`` is
    ``"per_batch"`` (gyyang: one set of epoch durations per batch) or ``"per_trial"`` (NeuroGym).
    ``modcog`` sets Mod-Cog's options as a config's ``[task.modcog]`` does (battery ``"modcog"``
    only), e.g. ``{"faithful_go_delay": True, "ring_order": "random"}``.
    """
    if timing not in ("per_batch", "per_trial"):
        raise Error(f"timing: {timing!r}; allowed: 'per_batch', 'per_trial'")
    return _biornn.task_batch(
        task,
        battery=battery,
        batch=batch,
        seed=seed,
        index=index,
        dt=dt,
        noise=noise,
        per_trial_timing=timing == "per_trial",
        easy=easy,
        modcog=modcog,
    )


def read_arrays(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """Every array of a ``.npz`` or ``.safetensors`` file as biornn reads it (text arrays as str)."""
    return _biornn.read_arrays(os.fspath(path))


def read_csv(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """A CSV file (``metrics.csv``, analysis tables, ``sweep.csv``) as a dict of columns: numeric
    columns as float arrays (empty cells NaN), the others as lists of str."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    columns: Dict[str, Any] = {}
    for i, name in enumerate(header):
        cells = [r[i] if i < len(r) else "" for r in body]
        try:
            columns[name] = np.array([float(c) if c != "" else np.nan for c in cells])
        except ValueError:
            columns[name] = cells
    return columns


class Run:
    """A run directory: its config, metrics, summary and weights, and the trained network.

    ``Run(path)`` opens an existing one; :func:`train` returns one with ``result`` set to what the
    training reached (``reached``, ``steps``, ``trials``, ``wall_s``, ``scores``, ``per_task``).
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], *, result: Optional[Dict[str, Any]] = None):
        self.path = Path(path)
        _biornn.run_files(os.fspath(self.path))  # an error now if it is not a run directory
        self.result = result

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def _files(self) -> Dict[str, Any]:
        return _biornn.run_files(os.fspath(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def config(self) -> Dict[str, Any]:
        """The run's ``config.toml`` as a dict: everything needed to train it again."""
        return _biornn.read_toml(self._files()["config"])

    @property
    def kind(self) -> "tuple[str, str]":
        """``(network kind, rule kind)``, e.g. ``("ctrnn", "bptt")``."""
        return _biornn.run_kind(os.fspath(self.path))

    @property
    def summary(self) -> Dict[str, Any]:
        """``summary.json``: what the run reached (present once it has finished)."""
        with open(self._files()["summary"]) as f:
            return json.load(f)

    def metrics(self) -> Dict[str, Any]:
        """``metrics.csv`` as columns (``step``, ``loss``, per-task performance, ...)."""
        return read_csv(self._files()["metrics"])

    def weights(self, *, all: bool = False) -> Dict[str, Any]:
        """The trained parameters from ``model.npz`` (or the newest checkpoint while training):
        ``W_in``, ``W_rec``, ``W_out``, ``b_rec``, ``b_out``, ``tau``, masks, ... With ``all``, also
        the optimiser's moments, the loop state and the config text."""
        weights = self._files()["weights"]
        if weights is None:
            raise Error(f"{self.path}: no model.npz and no checkpoints")
        arrays = _biornn.read_arrays(weights)
        if all:
            return arrays
        hidden = ("opt_", "state_")
        # a run of K networks keeps network k's under ``net<k>/``: its training state is hidden too
        return {k: v for k, v in arrays.items() if not k.rsplit("/", 1)[-1].startswith(hidden) and k not in ("config_toml", "checksum", "format")}

    def network(self) -> Network:
        """The trained network, ready to :meth:`Network.run` on numpy inputs."""
        return Network(os.fspath(self.path))

    def evaluate(self, trials: int = 256, recurrent_noise: Optional[bool] = None) -> Dict[str, Any]:
        """See :func:`biornn.evaluate`."""
        return evaluate(self, trials=trials, recurrent_noise=recurrent_noise)

    def analyze(self, what: Union[str, Sequence[str]] = ("fixed-points", "pca", "psychometric", "variance", "lesion"), **kwargs: Any) -> Dict[str, Dict[str, Any]]:
        """See :func:`biornn.analyze`."""
        return analyze(self, what, **kwargs)

    def resume(self, max_steps: Optional[int] = None, verbose: bool = True) -> "Run":
        """See :func:`biornn.resume`."""
        return resume(self, max_steps=max_steps, verbose=verbose)


def _interruptible(call: Any) -> Any:
    """Run a training call on a worker thread and wait for it in this one, so that Ctrl-C reaches
    Python while it trains: the run is asked to stop at its last evaluation (saved), and the
    ``KeyboardInterrupt`` is raised with where it stopped. Off the main thread, a plain call."""
    if threading.current_thread() is not threading.main_thread():
        return call()
    outcome: Dict[str, Any] = {}
    # an Event, not Thread.join: a join cut short by Ctrl-C can leave the thread looking finished
    done = threading.Event()

    def work() -> None:
        try:
            outcome["value"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = e
        finally:
            done.set()

    threading.Thread(target=work, name="biornn-train", daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        _biornn.request_stop()
        while not done.wait(0.1):
            pass
        # a request that came as the run ended must not stop the next one
        _biornn.clear_stop()
        stopped = outcome.get("error")
        raise KeyboardInterrupt(str(stopped) if stopped is not None else "interrupted") from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _config_arg(config: ConfigLike) -> Any:
    if config is None or isinstance(config, Mapping):
        return None if config is None else dict(config)
    return os.fspath(config)


from .env import TaskEnv  # noqa: E402  (it uses task_batch above)
