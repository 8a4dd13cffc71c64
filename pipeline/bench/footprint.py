"""Start-up time and memory of a real run, measured from outside the process tree.

``bench --suite footprint`` starts ``run_pipeline.py run`` as a user would (in
``--repo``, default this checkout, so an older checkout can be measured the
same way), times the first published message from the moment the command
starts, then reads every process of the run from /proc: its proportional set
size (PSS: shared pages split between the processes that map them, so the sum
is what the run costs) and whether it maps libtorch. Two runs: the embedded
default and an Ultralytics-layout ONNX model (``--weights x.onnx``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import zmq

ENDPOINT = "tcp://127.0.0.1:5571"
SETTLE_S = 4.0            # after the first message: every stage is in its steady state


def children_of(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc/*/stat."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def process_footprint(pid: int) -> dict | None:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        maps = Path(f"/proc/{pid}/maps").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    pss_kb = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    kind = "resource_tracker" if "resource_tracker" in cmdline else \
        "stage" if "multiprocessing" in cmdline else "supervisor"
    return {"pid": pid, "kind": kind, "pss_mb": round(pss_kb / 1024, 1), "libtorch": "libtorch" in maps}


def measure_run(repo: Path, run_args: list[str], timeout_s: float = 120.0) -> dict:
    """Start a run, wait for its first message, read its processes, stop it (SIGINT)."""
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.subscribe(b"")
    sub.connect(ENDPOINT)
    command = [sys.executable, "run_pipeline.py", "run", "--publish", ENDPOINT, "--no-status", *run_args]
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(repo)))
    try:
        if not sub.poll(int(timeout_s * 1e3)):
            raise RuntimeError(f"no message within {timeout_s} s from: {' '.join(command)}")
        first_message_s = time.monotonic() - started
        time.sleep(SETTLE_S)
        processes = [p for p in map(process_footprint, children_of(proc.pid)) if p is not None]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        sub.close(0)
    return {"command": " ".join(command[1:]), "first_message_s": round(first_message_s, 2),
            "pss_mb_total": round(sum(p["pss_mb"] for p in processes), 1),
            "processes": len(processes), "libtorch_processes": sum(p["libtorch"] for p in processes),
            "per_process": processes}


def bench_footprint(repo: Path, onnx: Path, repeat: int = 1) -> dict:
    """The default run and an ONNX-model run of the checkout at ``repo`` (medians over ``repeat``)."""
    runs = {"default": [], "onnx_model": []}
    for _ in range(max(1, repeat)):
        runs["default"].append(measure_run(repo, []))
        runs["onnx_model"].append(measure_run(repo, ["--weights", str(onnx)]))
    return {name: _median_run(results) for name, results in runs.items()}


def _median_run(results: list[dict]) -> dict:
    ordered = sorted(results, key=lambda r: r["pss_mb_total"])
    middle = dict(ordered[len(ordered) // 2])
    middle["first_message_s_runs"] = [r["first_message_s"] for r in results]
    middle["pss_mb_total_runs"] = [r["pss_mb_total"] for r in results]
    return middle
