"""Several batches at once on the CPU: ONNX Runtime's ``parallel`` runs (``engine.parallel``).

A session with two intra-op threads splits every operator of one inference
across the cores; every operator ends at a barrier, so a core taken for a
moment by another stage stalls the whole run. When the inference stage has
more than one batch waiting (a backlog, or several cameras), running them side
by side on single-thread calls of one shared session does the same work with
no barriers: each call runs on its own thread, and ONNX Runtime releases the
GIL while it runs. One frame at a time still goes to the latency-chosen main
session, so a paced camera keeps its low latency.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from engines.threads import AUTO, CpuBudget, usable_cores

SOLO = CpuBudget(1, spinning=False)    # the budget of one of the side-by-side calls


class ParallelError(ValueError):
    """A parallel value that is neither a positive integer nor 'auto'."""


def check_parallel(value) -> int | str:
    if value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParallelError(f"parallel must be a positive integer or 'auto', got {value!r}")
    return value


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
        self._pool = ThreadPoolExecutor(max_workers=runs - 1, thread_name_prefix="ort-parallel")

    def infer_parallel(self, batches: list) -> list[dict]:
        """Each batch's outputs, in order; up to ``parallel_runs`` of them at once."""
        if self._pool is None or len(batches) < 2:
            return [self.infer(batch) for batch in batches]
        for batch in batches:
            self.check_batch(batch)
        results: list = [None] * len(batches)
        for start in range(0, len(batches), self.parallel_runs):
            group = batches[start:start + self.parallel_runs]
            futures = [self._pool.submit(self._solo_infer, batch) for batch in group[1:]]
            results[start] = self._solo_infer(group[0])        # the calling thread runs one itself
            for offset, future in enumerate(futures, start=1):
                results[start + offset] = future.result()
        return results

    def _solo_infer(self, batch) -> dict:
        from engines.base import host_float32
        return {name: host_float32(value) for name, value in self._run_session(self._solo, batch).items()}

    def _close_parallel(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._pool, self._solo, self.parallel_runs = None, None, 1
