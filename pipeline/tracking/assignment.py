"""SciPy's ``linear_sum_assignment``, imported on a background thread.

Importing ``scipy.optimize`` took 0.7-1.1 s of CPU on a 2 GHz core (2026-12-04's VM): with every
stage started from the fork server, it was what the postprocess stage waited for last before it
was ready, and the default run's first message waited for it. ``preload()`` (called when a
tracker is made) starts the import so that it runs while the inference stage loads its model;
the postprocess stage waits for it (``wait_loaded``) before it says it is ready: frames that came
while the import still ran waited for it (2026-12-04, Xeon VM: the default run's frames 0-2 took
30-65 ms against 11 ms, which alone made its p99).
"""
from __future__ import annotations

import threading

import numpy as np

_lock = threading.Lock()
_loaded = threading.Event()
_loader: threading.Thread | None = None
_solver = None
_error: BaseException | None = None


def preload() -> None:
    """Start importing SciPy's solver (once per process); returns at once."""
    global _loader
    with _lock:
        if _loader is None:
            _loader = threading.Thread(target=_load, name="scipy-import", daemon=True)
            _loader.start()


def wait_loaded() -> None:
    """Start the import if nothing has, and block until it has ended (an error is raised by the
    first call of ``linear_sum_assignment``, in the stage's own thread)."""
    preload()
    _loaded.wait()


def _load() -> None:
    global _solver, _error
    try:
        from scipy.optimize import linear_sum_assignment as solver
        _solver = solver
    except BaseException as exc:      # raised again by the first call, in the stage's own thread
        _error = exc
    finally:
        _loaded.set()


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the minimum-cost assignment of ``cost`` (as SciPy's)."""
    if _solver is None:
        preload()
        _loaded.wait()
        if _error is not None:
            raise ImportError(f"the tracker's assignment needs scipy: {_error}") from _error
    return _solver(cost)
