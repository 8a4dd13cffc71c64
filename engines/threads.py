"""CPU budget of an engine: ``threads: auto`` measured at load, explicit numbers as given.

``auto`` times a few inferences per candidate setting (intra-op threads x
spinning for ONNX Runtime, threads for torch), round-robin so a burst of load
from a neighbour hurts every candidate alike, and keeps the fastest. The
choice is cached per model file + input + machine in ~/.cache/streamdet/threads/
so later runs start without calibrating. Stages that do not run a model get one
OpenCV / OpenMP thread each so they do not fight the inference threads.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from engines.core.cpu import cpu_label

log = logging.getLogger("streamdet.threads")
AUTO = "auto"
CACHE_VERSION = 1
MIN_THREAD_SCALING = 1.15   # all cores vs one thread, below which a calibration is not cached
BUSY_CHECK_MIN_MS = 20.0    # ... when one thread takes at least this long per call (cores_were_busy)


class ThreadsError(ValueError):
    """A threads value that is neither a positive integer nor 'auto'."""


@dataclass(frozen=True)
class CpuBudget:
    """What an engine runs with on the CPU."""
    intra_op: int
    spinning: bool = False
    inter_op: int = 1

    def label(self) -> str:
        return f"{self.intra_op} thread(s), spinning {'on' if self.spinning else 'off'}"


def check_threads(value, name: str = "threads", error: type[ValueError] = ThreadsError) -> int | str:
    """A positive int or 'auto'; anything else raises ``error`` (one line naming ``name``)."""
    if value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be a positive integer or 'auto', got {value!r}")
    if value < 1:
        raise error(f"{name} must be a positive integer or 'auto', got {value}")
    return value


def threads_option(text: str) -> int | str:
    """argparse type of --threads: an int when it is one, else the text (the config check names it)."""
    try:
        return int(text)
    except ValueError:
        return text


def usable_cores() -> int:
    """Cores this process may run on (affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_candidates(cores: int | None = None) -> list[int]:
    """1, all cores, and all but one (the other stages' share): at most three values."""
    cores = cores or usable_cores()
    return sorted({1, max(1, cores - 1), cores})


def ort_candidates(cores: int | None = None) -> list[CpuBudget]:
    return [CpuBudget(n, spin) for n in thread_candidates(cores) for spin in (False, True)]


def torch_candidates(cores: int | None = None) -> list[CpuBudget]:
    return [CpuBudget(n) for n in thread_candidates(cores)]


def calibrate(candidates: list[CpuBudget], make_runner: Callable[[CpuBudget], Callable[[], None]], *,
              rounds: int = 3, per_round: int = 2, warmup: int = 1,
              budget_s: float = 2.0) -> tuple[CpuBudget, dict[str, float]]:
    """Time every candidate; -> (fastest, {label: median ms per call}).

    The median per candidate, over rounds that interleave the candidates: a
    neighbour's load then weighs on every candidate alike, and a setting that is
    only fast when the cores happen to be free (all threads, spinning) loses to
    one that stays fast while other stages run, as they will in the pipeline.

    ``make_runner(candidate)`` returns a function that runs one inference with
    that setting. Rounds go over all candidates in turn; once ``budget_s`` is
    spent the rounds stop early (at least one timed round always runs).
    """
    if not candidates:
        raise ValueError("calibrate: no candidates")
    runners = {}
    for cand in candidates:
        runner = make_runner(cand)
        for _ in range(warmup):
            runner()
        runners[cand] = runner
    times: dict[CpuBudget, list[float]] = {cand: [] for cand in candidates}
    start = time.perf_counter()
    for round_index in range(rounds):
        for cand, runner in runners.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                runner()
                times[cand].append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > budget_s:
            break
    fastest = {cand: statistics.median(values) for cand, values in times.items()}
    best = min(candidates, key=lambda cand: (fastest[cand], cand.intra_op, cand.spinning))
    return best, {cand.label(): round(ms, 3) for cand, ms in fastest.items()}


# -- cache ---------------------------------------------------------------------------------
def cache_dir() -> Path:
    root = os.environ.get("STREAMDET_CACHE")
    return Path(root) / "threads" if root else Path.home() / ".cache" / "streamdet" / "threads"


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def machine_key() -> str:
    """The CPU (family, model, stepping, vector extensions: engines/core/cpu.py) and the usable cores."""
    return f"{cpu_label()}|cores={usable_cores()}"


def cache_key(engine: str, model_id: str, extra: Iterable = ()) -> str:
    text = "|".join([str(CACHE_VERSION), engine, model_id, machine_key(), *map(str, extra)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load_cached(key: str) -> CpuBudget | None:
    return load_cached_entry(key)[0]


def load_cached_entry(key: str) -> tuple[CpuBudget | None, dict]:
    """(budget, the whole cached record) or (None, {})."""
    path = cache_dir() / f"{key}.json"
    try:
        data = json.loads(path.read_text())
        budget = CpuBudget(intra_op=int(data["intra_op"]), spinning=bool(data["spinning"]),
                           inter_op=int(data.get("inter_op", 1)))
    except (OSError, ValueError, KeyError, TypeError):
        return None, {}
    if not 1 <= budget.intra_op <= usable_cores() or budget.inter_op < 1:
        return None, {}
    return budget, data


def store_cached(key: str, budget: CpuBudget, timings: dict) -> None:
    path = cache_dir() / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**asdict(budget), "timings_ms": timings, "machine": machine_key()}))
        tmp.replace(path)
    except OSError as exc:      # a read-only home must not stop the run
        log.warning("could not cache the thread choice in %s: %s", path, exc)


def choose_budget(engine: str, model_id: str, extra: Iterable, candidates: list[CpuBudget],
                  make_runner: Callable[[CpuBudget], Callable[[], None]]) -> tuple[CpuBudget, dict]:
    """The cached choice, else calibrate and cache; -> (budget, info for engine meta)."""
    key = cache_key(engine, model_id, extra)
    cached = load_cached(key)
    if cached is not None:
        return cached, {"threads": AUTO, "source": "cache", "cores": usable_cores(), **asdict(cached)}
    t0 = time.perf_counter()
    best, timings = calibrate(candidates, make_runner)
    scaling = thread_scaling(candidates, timings)
    busy = cores_were_busy(candidates, timings, scaling)
    if not busy:
        store_cached(key, best, timings)
    info = {"threads": AUTO, "source": "calibrated", "cores": usable_cores(), **asdict(best),
            "timings_ms": timings, "calibration_s": round(time.perf_counter() - t0, 3),
            "thread_scaling": scaling, "cached": not busy}
    log.info("%s threads auto: calibrated %s in %.2f s -> %s", engine, timings, info["calibration_s"],
             best.label())
    if busy:
        log.warning("%s threads auto: %d threads ran only %.2fx as fast as 1 (free cores give 1.3-1.9x): "
                    "the cores were busy while calibrating; %s is used now but not cached, the next start "
                    "measures again", engine, max(c.intra_op for c in candidates), scaling, best.label())
    return best, info


def thread_scaling(candidates: list[CpuBudget], timings: dict[str, float]) -> float | None:
    """How much faster the most threads ran than one (each at its better spinning); None with one count."""
    by_threads: dict[int, float] = {}
    for cand in candidates:
        ms = timings[cand.label()]
        by_threads[cand.intra_op] = min(ms, by_threads.get(cand.intra_op, ms))
    most = max(by_threads)
    if most == 1 or 1 not in by_threads or by_threads[most] <= 0:
        return None
    return round(by_threads[1] / by_threads[most], 3)


def cores_were_busy(candidates: list[CpuBudget], timings: dict[str, float], scaling: float | None) -> bool:
    """A calibration not to keep: a network slow enough for threads to pay (one thread took at least
    BUSY_CHECK_MIN_MS) that ran less than MIN_THREAD_SCALING times faster on all cores (``scaling``, from
    thread_scaling). Measured on 2-core VMs: YOLOv8n 320/640 and the shipped model scaled 1.3-1.9x on free cores and
    1.11x beside a process that kept one core busy; one calibration of YOLOv8n 640 in a slow spell of the VM timed
    2 threads at 0.98x of 1, and its cached choice (1 thread) then ran every later start at about half
    the speed of 2 threads. Tiny networks (ms per call) may not scale at all: they are not judged."""
    one_thread = min((timings[c.label()] for c in candidates if c.intra_op == 1), default=0.0)
    return scaling is not None and one_thread >= BUSY_CHECK_MIN_MS and scaling < MIN_THREAD_SCALING


# -- the other stages ----------------------------------------------------------------------
def stage_thread_env(kind: str, threads) -> dict[str, str]:
    """Environment for a stage process: OMP threads for the inference stage, one elsewhere."""
    if kind == "inference":
        count = usable_cores() if threads == AUTO else int(threads)
        return {"OMP_NUM_THREADS": str(count)}
    return {"OMP_NUM_THREADS": "1"}


def limit_opencv_threads(kind: str) -> None:
    """Capture, preprocess and the rest: one OpenCV thread (small images; inference owns the cores)."""
    if kind == "inference":
        return
    try:
        import cv2
    except ImportError:
        return
    cv2.setNumThreads(1)
