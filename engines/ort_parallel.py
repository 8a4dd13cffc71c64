"""Several batches at once on the CPU: ONNX Runtime's ``parallel`` runs (``engine.parallel``).

A session with two intra-op threads splits every operator of one inference
across the cores; every operator ends at a barrier, so a core taken for a
moment by another stage stalls the whole run. Under load (a backlog, or several
cameras) running batches side by side on single-thread calls of one shared
session (``submit``: a pool of ``parallel_runs`` threads) does the same work with
no barriers: each call runs on its own thread, and ONNX Runtime releases the
GIL while it runs. ``infer`` keeps the main session with the ``threads`` budget,
for a paced camera's latency (the stage decides which: pipeline/stages/overlap.py).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from engines.base import host_float32
from engines.threads import AUTO, CpuBudget, check_threads, usable_cores

SOLO = CpuBudget(1, spinning=False)    # the budget of one of the side-by-side calls


class ParallelError(ValueError):
    """A parallel value that is neither a positive integer nor 'auto'."""


def check_parallel(value) -> int | str:
    return check_threads(value, "parallel", ParallelError)


def resolve_parallel(parallel: int | str, threads: int | str, device: str) -> int:
    """How many batches may run at once: 1 off the CPU; ``auto`` = the usable cores when the
    threads are 'auto' too (explicit threads ask for one intra-op budget: it is kept)."""
    if device != "cpu":
        return 1
    if parallel == AUTO:
        return usable_cores() if threads == AUTO else 1
    return int(parallel)


class ParallelRuns:
    """Mixed into the ONNX Runtime engine; needs ``self._new_session(budget)``, ``self.session``,
    ``self.budget`` and ``self._run_session(session, batch)``."""
    parallel_runs = 1
    _solo = None
    _pool: ThreadPoolExecutor | None = None

    def _start_parallel(self, runs: int) -> None:
        self.parallel_runs = runs
        if runs <= 1:
            return
        self._solo = self.session if self.budget == SOLO else self._new_session(SOLO)
        self._pool = ThreadPoolExecutor(max_workers=runs, thread_name_prefix="ort-parallel")

    def submit(self, batch) -> Future:
        """Start one batch on a single-thread call; the future's result is its outputs (as ``infer``).
        Up to ``parallel_runs`` run at once, later ones queue."""
        if self._pool is None:
            raise RuntimeError(f"{self.name} engine: submit needs parallel runs (parallel > 1 on the CPU)")
        self.check_batch(batch)
        return self._pool.submit(self._solo_infer, batch)

    def _solo_infer(self, batch) -> dict:
        return {name: host_float32(value) for name, value in self._run_session(self._solo, batch).items()}

    def _close_parallel(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._pool, self._solo, self.parallel_runs = None, None, 1
