"""Live default with and without ONNX Runtime spinning: latency against the inference process's CPU.

Runs ``run_pipeline.py run --max-frames 450`` (the embedded default: paced 30 FPS, newest frame wins),
alternating the default spinning choice and ``--spinning off``, ROUNDS times each, and prints per run the
end-to-end p50/p99 and inference p50 read from the published messages (``bench --suite default-run``'s
``one_run``) and the cores the inference process used between published frames 60 and 420 (/proc).
Usage: ``python benchmarks/spinning_live.py [ROUNDS]``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.bench.cpu_usage import run_cpu_s        # noqa: E402
from pipeline.bench.default_run import one_run        # noqa: E402

FRAMES, FIRST, LAST = 450, 60, 420


def measure(extra: tuple[str, ...]) -> str:
    marks: dict[int, tuple[float, float]] = {}     # messages seen -> (inference CPU s, wall s)

    def watch(messages: int, run_pid: int) -> None:
        if messages in (FIRST, LAST):
            marks[messages] = (run_cpu_s(run_pid).get("inference", 0.0), time.monotonic())

    report = one_run(FRAMES, None, extra_args=extra, watch=watch)
    (cpu0, t0), (cpu1, t1) = marks[FIRST], marks[LAST]
    return (f"{list(extra) or ['auto']} e2e p50 {report['e2e_p50_ms']:.2f} p99 {report['e2e_p99_ms']:.2f} "
            f"inf p50 {report['inference_p50_ms']:.2f} | inference process {(cpu1 - cpu0) / (t1 - t0):.2f} cores")


if __name__ == "__main__":
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2):
        for extra in ((), ("--spinning", "off")):
            print(measure(extra), flush=True)
