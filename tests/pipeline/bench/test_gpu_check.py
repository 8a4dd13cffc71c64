"""benchmarks/gpu_check.sh and pipeline/bench/gpu_suite.py without a GPU: the refusal, the dry
run (every step's command resolves, imports and plans, the results folder layout), and the
summary's verdicts on made-up step results."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.bench.gpu_suite import STEPS
from pipeline.bench.gpu_summary import summary

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                          capture_output=True, text=True)
    return bool(done.stdout.strip())


def gpu_check(*args, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable, **env})


@pytest.mark.skipif(has_gpu(), reason="this machine has a GPU")
def test_without_a_gpu_one_line_and_exit_2():
    done = gpu_check()
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no NVIDIA GPU" in done.stderr


def test_unknown_argument_exit_2():
    done = gpu_check("--fast")
    assert done.returncode == 2 and "usage" in done.stderr


@pytest.mark.slow
def test_dry_run_checks_every_step_and_writes_the_layout(tmp_path):
    done = gpu_check("--dry-run", GPU_CHECK_RESULTS=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("dry-run-20")
    steps = [line.split("\t") for line in (folder / "steps.tsv").read_text().splitlines()]
    assert [s[0] for s in steps] == ["env", "pytest", *STEPS[1:]]
    assert all(s[1] == "0" for s in steps), steps
    for step in STEPS:
        assert json.loads((folder / f"{step}.json").read_text())["dry_run"] is True
    plan = json.loads((folder / "pipeline.json").read_text())["runs"]
    assert plan["torch_fp16_cuda_graph_8_streams_batch_8"]["engine"]["cuda_graph"] is True
    assert "tests collected" in (folder / "pytest.log").read_text()


def write(folder: Path, step: str, data: dict) -> None:
    (folder / f"{step}.json").write_text(json.dumps({"step": step, "dry_run": False, **data}))


def test_summary_compares_the_numbers_with_the_targets(tmp_path):
    run = {"fps": 320.0, "end_to_end": {"p50_ms": 4.0}}      # as fast as it goes: not the latency target
    write(tmp_path, "pipeline", {"runs": {"torch_fp16_1_stream": {**run, "fps": 250.0},
                                          "torch_fp16_cuda_graph_1_stream": run,
                                          "torch_fp16_cuda_graph_1_stream_live_30": {"fps": 30.0,
                                                                                     "end_to_end": {"p50_ms": 6.5}},
                                          "torch_fp16_8_streams_batch_8": {"error": "RuntimeError: x"},
                                          "torch_fp16_cuda_graph_8_streams_batch_8": {**run, "fps": 1200.0}}})
    write(tmp_path, "nms", {"sizes": [{"boxes": 1000, "cupy_over_torchvision": 0.5},
                                      {"boxes": 100000, "cupy_over_torchvision": 1.5}]})
    write(tmp_path, "fp16", {"models": {"yolo": {"fp32_minus_fp16": {"mAP": 0.002}, "within_0.01": True}}})
    (tmp_path / "pytest.xml").write_text('<testsuites><testsuite tests="5" skipped="1" failures="1" '
                                         'errors="0"/></testsuites>')
    met = {row["target"]: row["met"] for row in summary(tmp_path)["targets"]}
    assert met.pop("pytest -m gpu (kernel parity on the device, gpu tests): passed / run") is False
    assert met == {"YOLO-n 640 fp16, 1 stream, FPS": True, "YOLO-n 640 fp16, 1 stream, e2e p50 ms, live camera": False,
                   "YOLO-n 640 fp16, 8 streams, aggregate FPS": True,
                   "CuPy NMS / torchvision CUDA NMS, 1000 boxes": True,
                   "CuPy NMS / torchvision CUDA NMS, 100000 boxes": False, "yolo tiny mAP fp32 - fp16": True}
    assert "| YOLO-n 640 fp16, 1 stream, e2e p50 ms, live camera | <= 5 | 6.5 | NO |" in (tmp_path / "summary.md").read_text()


def test_dry_run_results_are_not_measurements(tmp_path):
    write(tmp_path, "nms", {"dry_run": True, "sizes": [1000]})
    assert all(row["met"] is None for row in summary(tmp_path)["targets"])


@pytest.mark.skipif(has_gpu(), reason="this machine has a GPU")
def test_bench_suite_gpu_without_a_gpu_is_a_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "bench", "--suite", "gpu",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "no CUDA GPU" in done.stderr


def test_the_fp16_steps_engine_takes_evaluates_batches():
    """On the H200 (2026-12-04) the fp16 step built a batch-1 torch engine and evaluate sent it
    batches of 8 (ValueError); the same code path on the CPU, fp32, 9 frames (a batch of 8 and one of 1)."""
    from pipeline.bench.gpu_steps import held_out_map
    metrics = held_out_map("yolo", "cpu", half=False, frames=9)
    assert metrics["mAP50"] > 0.3, metrics
