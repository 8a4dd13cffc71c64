"""The GPU measurements of issue 15, one step at a time (benchmarks/gpu_check.sh runs each
under its own time limit) or all at once (``run_pipeline.py bench --suite gpu``).

``python -m pipeline.bench.gpu_suite STEP --out DIR [--dry-run]`` writes DIR/STEP.json:
  env       device, driver, library versions, ONNX Runtime providers
  fp16      held-out COCO mAP of the shipped tiny YOLO and CenterNet, torch fp32 vs fp16
  nms       CuPy bitmask NMS vs torchvision CUDA NMS, 1k / 10k / 100k boxes, CUDA-event medians
  pipeline  YOLO-n 640 pipeline on the GPU: 1 stream fp16 with and without CUDA graphs,
            8 streams batched, ONNX Runtime CUDA when its provider is there
  maskrcnn  Mask R-CNN R50-FPN FPS at batch 1 (fp32, fp16) and the side branch's cost
  summary   the numbers above against the issue's targets (summary.json, summary.md)
``--dry-run`` imports what the step needs and writes the plan it would run, without a GPU.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline.bench import gpu_steps
from pipeline.bench.gpu_summary import summary

STEPS = ("env", "fp16", "nms", "pipeline", "maskrcnn", "summary")


def run_step(step: str, out: Path, dry_run: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if step == "summary":
        result = summary(out)
    else:
        result = getattr(gpu_steps, f"plan_{step}" if dry_run else f"step_{step}")(out)
    result = {"step": step, "dry_run": dry_run, "seconds": round(time.time() - started, 1), **result}
    (out / f"{step}.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def bench_gpu(args) -> dict:
    """``bench --suite gpu``: every step in this process, into args.out."""
    import torch
    if not torch.cuda.is_available():
        from pipeline.config import ConfigError
        raise ConfigError("bench --suite gpu: no CUDA GPU on this machine "
                          "(bash benchmarks/gpu_check.sh --dry-run checks the suite without one)")
    out = Path(args.out)
    results = {}
    for step in STEPS:
        try:
            results[step] = run_step(step, out)
        except Exception as exc:  # one broken step must not hide the others' numbers
            results[step] = {"step": step, "error": f"{type(exc).__name__}: {exc}"}
            print(f"gpu suite: step {step} failed: {exc}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench.gpu_suite")
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("--out", required=True, help="results folder (benchmarks/results/<device>-<date>)")
    parser.add_argument("--dry-run", action="store_true", help="check imports and plan, no GPU needed")
    args = parser.parse_args(argv)
    result = run_step(args.step, Path(args.out), args.dry_run)
    print(json.dumps(result, default=str)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
