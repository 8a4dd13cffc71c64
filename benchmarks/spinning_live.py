"""Live default with and without ONNX Runtime spinning: latency against the inference process's CPU.

Runs ``run_pipeline.py run --max-frames 450`` (the embedded default: paced 30 FPS, newest frame wins),
alternating the default spinning choice and ``--spinning off``, ROUNDS times each, and prints per run the
end-to-end and inference p50/p99 read from the published messages and the cores the ``sd:inference``
process used between published frames 60 and 420 (/proc). Usage: ``python benchmarks/spinning_live.py [ROUNDS]``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from pipeline.bench.default_run import free_port   # noqa: E402
from pipeline.client import Subscriber              # noqa: E402

FRAMES, FIRST, LAST = 450, 60, 420


def process_cpu_s(comm_prefix: str) -> float | None:
    """utime + stime in seconds of the first process whose name starts with ``comm_prefix``."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")].startswith(comm_prefix):
            fields = stat[stat.rindex(")") + 2:].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def one_run(extra: list[str]) -> str:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cmd = [sys.executable, str(REPO / "run_pipeline.py"), "run", "--max-frames", str(FRAMES),
           "--publish", endpoint, "--no-status", *extra]
    totals, inference, marks = [], [], {}
    with Subscriber(endpoint, timeout_s=0.5) as sub:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while (message := sub.recv()) is not None or proc.poll() is None:
            if message is None:
                continue
            totals.append(message["latency_ms"]["total"])
            inference.append(message["latency_ms"]["inference"])
            if len(totals) in (FIRST, LAST):
                marks[len(totals)] = (process_cpu_s("sd:inference"), time.monotonic())
        proc.wait()
    (cpu0, t0), (cpu1, t1) = marks[FIRST], marks[LAST]
    return (f"{extra or ['auto']} e2e p50 {np.percentile(totals, 50):.2f} p99 {np.percentile(totals, 99):.2f} "
            f"inf p50 {np.median(inference):.2f} | inference process {(cpu1 - cpu0) / (t1 - t0):.2f} cores")


if __name__ == "__main__":
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2):
        for extra in ([], ["--spinning", "off"]):
            print(one_run(extra), flush=True)
