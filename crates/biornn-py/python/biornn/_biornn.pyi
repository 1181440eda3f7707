"""Type stubs of biornn's compiled module (the Rust engine). Use the `biornn` package's functions."""

from os import PathLike
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

class Error(ValueError):
    """What biornn refused; the message names the field, its value and what is allowed."""

_Path = Union[str, PathLike[str]]

def default_config(kind: Optional[str] = None) -> Dict[str, Any]: ...
def check_config(config: Any = None) -> Dict[str, Any]: ...
def read_toml(path: _Path) -> Dict[str, Any]: ...
def train(
    config: Any = None,
    runs: _Path = "runs",
    dir: Optional[_Path] = None,
    seed: Optional[int] = None,
    max_steps: Optional[int] = None,
    name: Optional[str] = None,
    verbose: bool = True,
    tensorboard: Optional[_Path] = None,
) -> Dict[str, Any]: ...
def request_stop() -> None: ...
def clear_stop() -> None: ...
def resume(run: _Path, max_steps: Optional[int] = None, verbose: bool = True) -> Dict[str, Any]: ...
def run_kind(run: _Path) -> Tuple[str, str]: ...
def read_arrays(path: _Path) -> Dict[str, Any]: ...
def run_files(run: _Path) -> Dict[str, Optional[Path]]: ...
def evaluate(run: _Path, trials: int = 256, recurrent_noise: Optional[bool] = None) -> Dict[str, Any]: ...
def analyze(
    run: _Path,
    what: str = "fixed-points,pca,psychometric,variance,lesion",
    task: Optional[str] = None,
    inits: int = 256,
    seed: int = 0,
    lesions: List[str] = ...,
    net: Optional[int] = None,
) -> List[Path]: ...
def tasks(battery: Optional[str] = None) -> List[Dict[str, Any]]: ...
def task_batch(
    task: str,
    battery: str = "yang20",
    batch: int = 16,
    seed: int = 0,
    index: int = 0,
    dt: float = 20.0,
    noise: bool = True,
    per_trial_timing: bool = False,
    easy: bool = False,
    modcog: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]: ...

class Network:
    """A trained continuous-time rate network, loaded from a run or a weights file."""

    def __init__(self, path: _Path) -> None: ...
    def run(self, x: npt.NDArray[np.float32], noise: bool = False, seed: int = 0) -> Dict[str, npt.NDArray[np.float32]]:
        """Run on x [T, B, n_in]; outputs, states, rates as [T, B, dim] arrays."""
    @property
    def n_in(self) -> int: ...
    @property
    def n_rec(self) -> int: ...
    @property
    def n_out(self) -> int: ...
    @property
    def dt(self) -> float: ...
    @property
    def tau(self) -> npt.NDArray[np.float64]: ...
    @property
    def step(self) -> int: ...
