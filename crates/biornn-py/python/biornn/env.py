"""A gymnasium-style environment over biornn's tasks, for agents that act step by step (NeuroGym's
``TrialEnv`` conventions).

Each trial is trial 0 of batch ``k`` of :func:`biornn.task_batch` (``batch=1``, ``index=k``), so the
environment shows exactly the trials the batch generator makes. At every step the agent sees the
inputs ``x[t]`` and answers with a class: 0 holds fixation, ``k + 1`` chooses ring unit ``k``.

Rewards follow NeuroGym's defaults:

- breaking fixation while the task asks to fixate (``gt == 0``) aborts the trial: -0.1;
- the first non-fixation answer where the task asks for one (``gt != 0``) ends the trial: +1 when
  it is the right class, 0 otherwise;
- a trial that reaches its end unanswered ends with +1 if it never asked for an answer (holding
  fixation was right, e.g. a no-go trial), else 0.

A new trial starts at once after a trial ends (``info["new_trial"]``), so ``step`` never returns
``terminated``; wrap it in ``gymnasium.wrappers.TimeLimit`` for episodes of fixed length.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

try:  # gymnasium's spaces and base class when installed, so check_env and wrappers accept it
    import gymnasium as _gym
    from gymnasium import spaces as _spaces

    _Base: Any = _gym.Env
except ImportError:  # pragma: no cover - exercised where gymnasium is absent
    _gym = None
    _spaces = None
    _Base = object

ABORT, CORRECT, FAIL = -0.1, 1.0, 0.0


class _Box:
    """A minimal stand-in for ``gymnasium.spaces.Box`` when gymnasium is not installed."""

    def __init__(self, low: float, high: float, shape: Tuple[int, ...], dtype: Any):
        self.low, self.high, self.shape, self.dtype = low, high, shape, np.dtype(dtype)

    def contains(self, x: Any) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and bool(np.all((x >= self.low) & (x <= self.high)))

    def __repr__(self) -> str:
        return f"Box({self.low}, {self.high}, {self.shape}, {self.dtype})"


class _Discrete:
    """A minimal stand-in for ``gymnasium.spaces.Discrete`` when gymnasium is not installed."""

    def __init__(self, n: int, seed: Optional[int] = None):
        self.n, self.shape, self.dtype = n, (), np.dtype(np.int64)
        self._rng = np.random.default_rng(seed)

    def sample(self) -> int:
        return int(self._rng.integers(self.n))

    def contains(self, a: Any) -> bool:
        return isinstance(a, (int, np.integer)) and 0 <= int(a) < self.n

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


class TaskEnv(_Base):  # type: ignore[misc]
    """One task of a battery as a step-by-step environment (``reset``/``step``).

    Parameters
    ----------
    task, battery:
        a task name as :func:`biornn.tasks` lists it, and its battery (``yang20``, ``modcog``, ...).
    dt:
        the step in ms.
    seed:
        the root seed of the trials (``reset(seed=...)`` replaces it and starts again at trial 0).
    noise:
        input noise as in training; off gives the noiseless trials.
    timing:
        ``"per_trial"`` (NeuroGym's, the default here) or ``"per_batch"`` epoch durations.
    modcog:
        Mod-Cog's options, as a config's ``[task.modcog]`` (battery ``modcog`` only).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        task: str,
        battery: str = "yang20",
        *,
        dt: float = 20.0,
        seed: int = 0,
        noise: bool = True,
        timing: str = "per_trial",
        easy: bool = False,
        modcog: Optional[Dict[str, Any]] = None,
    ):
        from . import task_batch

        self._task_batch = task_batch
        self.task, self.battery, self.dt = task, battery, dt
        self.noise, self.timing, self.easy = noise, timing, easy
        self.modcog = dict(modcog or {})
        self.seed_value = seed
        self.trial_index = 0
        self.started = False  # the first reset() shows trial 0
        first = self._trial(0)
        n_in = first["x"].shape[2]
        n_out = first["y"].shape[2]
        if _spaces is not None:
            self.observation_space = _spaces.Box(-np.inf, np.inf, (n_in,), np.float32)
            self.action_space = _spaces.Discrete(n_out)
        else:
            self.observation_space = _Box(-np.inf, np.inf, (n_in,), np.float32)
            self.action_space = _Discrete(n_out)
        self._load(first)

    def _trial(self, k: int) -> Dict[str, Any]:
        return self._task_batch(
            self.task,
            battery=self.battery,
            batch=1,
            seed=self.seed_value,
            index=k,
            dt=self.dt,
            noise=self.noise,
            timing=self.timing,
            easy=self.easy,
            modcog=self.modcog,
        )

    def _load(self, b: Dict[str, Any]) -> None:
        n = int(b["lengths"][0])
        self.ob = np.ascontiguousarray(b["x"][:n, 0])
        self.gt = b["class"][:n, 0].astype(np.int64)
        # the trial's latent parameters and epochs as Python scalars; NaN marks a latent that does
        # not apply to this task (a second stimulus of a one-stimulus task), left out
        self.trial = {}
        for k, v in b.items():
            if k in ("x", "y", "mask", "y_loc", "class", "lengths"):
                continue
            v = v.reshape(-1)[0].item() if isinstance(v, np.ndarray) else v
            if not (isinstance(v, float) and np.isnan(v)):
                self.trial[k] = v
        self.t = 0

    def new_trial(self) -> None:
        """Start the next trial (``trial_index`` + 1)."""
        self.trial_index += 1
        self._load(self._trial(self.trial_index))

    def reset(self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Begin an episode at a new trial: with ``seed``, trial 0 of that seed (the same trials
        again for the same seed); without, the trial after the current one (so episodes cut by
        ``TimeLimit`` do not replay the same trials). Returns the first observation and info."""
        if _gym is not None:
            super().reset(seed=seed)  # gymnasium's own generator (np_random), for action sampling
        if seed is not None:
            self.seed_value = int(seed)
            self.trial_index = 0
            self._load(self._trial(0))
        elif self.started:
            self.new_trial()
        self.started = True
        return self.ob[0].copy(), {"gt": int(self.gt[0]), "new_trial": False, "trial": dict(self.trial)}

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        """Answer the current step with ``action`` (a class). Returns ``(observation, reward,
        terminated, truncated, info)`` with ``info = {"gt", "new_trial", "trial"}``; the observation
        is the next step's, the next trial's first when this one ended."""
        a = int(action)
        if not 0 <= a < self.action_space.n:
            raise ValueError(f"action: {action!r}; allowed: 0 to {self.action_space.n - 1}")
        gt = int(self.gt[self.t])
        trial = self.trial
        reward, done = 0.0, False
        if gt == 0 and a != 0:
            reward, done = ABORT, True
        elif gt != 0 and a != 0:
            reward, done = (CORRECT if a == gt else FAIL), True
        elif self.t == len(self.gt) - 1:
            done = True
            reward = CORRECT if not np.any(self.gt != 0) else FAIL
        if done:
            self.new_trial()
        else:
            self.t += 1
        info = {"gt": gt, "new_trial": done, "trial": dict(trial)}
        return self.ob[self.t].copy(), reward, False, False, info
