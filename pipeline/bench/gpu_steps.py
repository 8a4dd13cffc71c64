"""The steps of pipeline/bench/gpu_suite.py: ``step_X()`` measures on the GPU, ``plan_X()``
checks imports and configs without one (dry run). Each returns a JSON-able dict."""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from pipeline import config

DEVICE = "cuda:0"
HELD_OUT_SEED, EVAL_FRAMES = 7, 200            # engines/training/evaluate.py's held-out scene
NMS_SIZES = {1_000: 50, 10_000: 20, 100_000: 5}  # boxes -> timed repeats
PIPELINE_FRAMES, WARMUP = 600, 60


def step_env(out: Path) -> dict:
    import torch
    from pipeline.bench.machine import machine_info
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                          "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    return {"nvidia_smi": smi.stdout.strip(), "torch_cuda": torch.version.cuda,
            "device_name": torch.cuda.get_device_name(0), "machine": machine_info(),
            "cupy": _version("cupy"), "onnxruntime_providers": _ort_providers()}


def plan_env(out: Path) -> dict:
    import torch
    return {"torch": torch.__version__, "cupy": _version("cupy"), "onnxruntime_providers": _ort_providers()}


def held_out_map(model: str, device: str, half: bool, frames: int = EVAL_FRAMES) -> dict:
    """Held-out COCO box metrics of the shipped tiny ``model`` on the torch engine (evaluate's batch)."""
    from engines.detectors import make_detector
    from engines.select import make_engine
    from engines.training.evaluate import BATCH, evaluate
    from pipeline.sources.synthetic import SyntheticScene
    engine = make_engine("torch", make_detector(model, None, "tiny"), device=device, half=half, max_batch=BATCH)
    try:
        return evaluate(model, size="tiny", seed=HELD_OUT_SEED, frames=frames, engine=engine,
                        scenes=SyntheticScene)["bbox"]
    finally:
        engine.close()


def step_fp16(out: Path) -> dict:
    rows = {}
    for model in ("yolo", "centernet"):
        metrics = {label: held_out_map(model, DEVICE, half) for label, half in (("fp32", False), ("fp16", True))}
        drop = {k: round(metrics["fp32"][k] - metrics["fp16"][k], 4) for k in ("mAP", "mAP50")}
        rows[model] = {**metrics, "fp32_minus_fp16": drop,
                       "within_0.01": all(abs(v) <= 0.01 for v in drop.values())}
    return {"seed": HELD_OUT_SEED, "frames": EVAL_FRAMES, "models": rows}


def plan_fp16(out: Path) -> dict:
    from engines.detectors import make_detector
    from engines.training.evaluate import evaluate  # noqa: F401  (import check)
    return {"seed": HELD_OUT_SEED, "frames": EVAL_FRAMES,
            "weights": {m: str(make_detector(m, None, "tiny").weights_path) for m in ("yolo", "centernet")}}


def nms_boxes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n clustered xyxy boxes on a 2000 x 2000 canvas and distinct scores (a unique answer)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2000, (max(1, n // 20), 2))[rng.integers(0, max(1, n // 20), n)]
    centre = centres + rng.normal(0, 6, (n, 2))
    size = rng.uniform(10, 80, (n, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
    return boxes, (rng.permutation(n).astype(np.float32) / n)


def _median_ms(fn, repeats: int, sync) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return round(statistics.median(times), 3)


def step_nms(out: Path) -> dict:
    import cupy
    import torch
    import torchvision
    from engines.ops import nms_cupy

    def sync():
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()
    rows = []
    for n, repeats in NMS_SIZES.items():
        boxes, scores = nms_boxes(n)
        cb, cs = cupy.asarray(boxes), cupy.asarray(scores)
        tb, ts = torch.from_numpy(boxes).to(DEVICE), torch.from_numpy(scores).to(DEVICE)
        ours = cupy.asnumpy(nms_cupy.nms(cb, cs, 0.5))
        theirs = torchvision.ops.nms(tb, ts, 0.5).cpu().numpy()
        rows.append({"boxes": n, "kept": len(ours), "same_keep": bool(np.array_equal(ours, theirs)),
                     "differing": int(len(set(ours.tolist()) ^ set(theirs.tolist()))),
                     "cupy_ms": _median_ms(lambda: nms_cupy.nms(cb, cs, 0.5), repeats, sync),
                     "torchvision_cuda_ms": _median_ms(lambda: torchvision.ops.nms(tb, ts, 0.5), repeats, sync)})
        rows[-1]["cupy_over_torchvision"] = round(rows[-1]["cupy_ms"] / rows[-1]["torchvision_cuda_ms"], 3)
    return {"iou_threshold": 0.5, "timing": "host clock around one call, device synchronised", "sizes": rows}


def plan_nms(out: Path) -> dict:
    import torchvision  # noqa: F401
    from engines.ops import nms_cupy  # noqa: F401
    boxes, scores = nms_boxes(1000)
    return {"sizes": list(NMS_SIZES), "example": [list(boxes.shape), float(scores.max())],
            "cupy": _version("cupy")}


LIVE_FPS = 30                                   # the paced run: a camera's rate, latency without a backlog


def pipeline_variants() -> list[tuple[str, dict, int, int]]:
    """(label, config overrides, streams, max_batch) of every pipeline run."""
    base = {"model.name": "yolo", "model.size": "n", "engine.name": "torch", "engine.device": DEVICE,
            "engine.half": True, "engine.cuda_graph": False}
    graph = {**base, "engine.cuda_graph": True}
    variants = [("torch_fp16_1_stream", base, 1, 1),
                ("torch_fp16_cuda_graph_1_stream", graph, 1, 1),
                (f"torch_fp16_cuda_graph_1_stream_live_{LIVE_FPS}", graph, 1, 1),
                ("torch_fp16_cuda_graph_8_streams_batch_8", graph, 8, 8),
                ("torch_fp16_8_streams_batch_8", base, 8, 8)]
    if "CUDAExecutionProvider" in _ort_providers():
        variants.append(("onnxruntime_cuda_1_stream", {**base, "engine.name": "onnxruntime",
                                                       "engine.half": False}, 1, 1))
    return variants


def _bench_args(label: str, streams: int, max_batch: int) -> argparse.Namespace:
    live = label.endswith(f"_live_{LIVE_FPS}")
    frames = PIPELINE_FRAMES // 2 if streams > 1 or live else PIPELINE_FRAMES     # live: 300 frames, 10 s
    return argparse.Namespace(frames=frames, warmup=WARMUP, streams=streams, max_batch=max_batch,
                              live_rate=LIVE_FPS if live else None, slots=3, repeat=1)


def step_pipeline(out: Path) -> dict:
    from pipeline.bench.pipeline_bench import bench_pipeline
    runs = {}
    for label, overrides, streams, max_batch in pipeline_variants():
        try:
            result = bench_pipeline(_bench_args(label, streams, max_batch), config.override(config.load(None), overrides))
            runs[label] = {k: result[k] for k in ("settings", "fps", "dropped", "stages", "end_to_end", "baselines")}
        except Exception as exc:  # keep the other variants' numbers
            runs[label] = {"error": f"{type(exc).__name__}: {exc}"}
        # what is done so far survives the step's time limit
        (out / "pipeline.partial.json").write_text(json.dumps(runs, indent=1, default=str))
    return {"runs": runs, "onnxruntime_providers": _ort_providers()}


def plan_pipeline(out: Path) -> dict:
    from pipeline.bench.pipeline_bench import bench_config
    plans = {}
    for label, overrides, streams, max_batch in pipeline_variants():
        args = _bench_args(label, streams, max_batch)
        cfg = bench_config(config.override(config.load(None), overrides), frames=args.frames,
                           warmup=args.warmup, streams=streams, max_batch=max_batch, slots=args.slots,
                           live_rate=args.live_rate)
        plans[label] = {"engine": cfg["engine"], "streams": cfg["source"]["streams"],
                        "fps": cfg["source"]["fps"] if args.live_rate else "as fast as it goes"}
    return {"runs": plans, "onnxruntime_providers": _ort_providers()}


def step_maskrcnn(out: Path) -> dict:
    from pipeline.bench.maskrcnn_bench import r50_latency, side_branch_cost
    fast = config.override(config.load(None), _fast_path())
    return {"r50_fp32": r50_latency(DEVICE, iterations=20), "r50_fp16": r50_latency(DEVICE, iterations=20, half=True),
            "side_branch": side_branch_cost(fast, PIPELINE_FRAMES, WARMUP, every_n=10, slots=3)}


def plan_maskrcnn(out: Path) -> dict:
    from pipeline.bench.maskrcnn_bench import r50_latency  # noqa: F401
    cfg = config.override(config.load(None), {**_fast_path(), "branch.model": "maskrcnn", "branch.every_n": 10})
    return {"fast_path": cfg["engine"], "branch": cfg["branch"]}


def _fast_path() -> dict:
    return {"model.name": "yolo", "model.size": "n", "engine.name": "torch", "engine.device": DEVICE,
            "engine.half": True, "branch.device": DEVICE}


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception as exc:  # absent or broken: say which
        return f"unavailable ({type(exc).__name__})"


def _ort_providers() -> list[str]:
    try:
        import onnxruntime
        return list(onnxruntime.get_available_providers())
    except Exception:
        return []

