"""Micro-benchmark of YOLO decode + NMS: NumPy vs torch on the CPU (and CuPy vs torch on a GPU).

``python -m engines.ops.bench`` prints the result dict. The input imitates a
YOLOv8 head on a 640x640 image: 8400 candidates x 80 classes, ~20 objects each
seen by a cluster of overlapping high-score candidates, everything else with
low scores, so a conf threshold of 0.25 leaves a few hundred candidates for NMS.
NumPy runs on one core, so torch is timed with one thread too (restored after):
on a shared machine extra torch threads mostly measure the neighbours' load.
"""
from __future__ import annotations

import json
import time

import numpy as np

CANDIDATES, CLASSES, OBJECTS, INPUT_SIZE = 8400, 80, 20, 640
WARMUP = 20


def realistic_yolo_v8_output(seed: int = 0, candidates: int = CANDIDATES,
                             classes: int = CLASSES, objects: int = OBJECTS) -> np.ndarray:
    """(4 + classes, candidates) float32 in the v8 layout with ``objects`` clustered detections."""
    rng = np.random.default_rng(seed)
    pred = np.empty((4 + classes, candidates), dtype=np.float32)
    pred[0:2] = rng.uniform(0, INPUT_SIZE, (2, candidates))
    pred[2:4] = rng.uniform(8, 160, (2, candidates))
    pred[4:] = rng.beta(0.3, 60, (classes, candidates))          # background: mostly < 0.05
    members = rng.permutation(candidates)[: objects * 25]
    for obj, cluster in enumerate(np.array_split(members, objects)):
        centre = rng.uniform(60, INPUT_SIZE - 60, 2)
        size = rng.uniform(30, 200, 2)
        pred[0:2, cluster] = (centre[:, None] + rng.normal(0, 0.06, (2, len(cluster))) * size[:, None])
        pred[2:4, cluster] = size[:, None] * rng.uniform(0.85, 1.15, (2, len(cluster)))
        pred[4 + (obj * 3) % classes, cluster] = rng.uniform(0.3, 0.95, len(cluster))
    return pred


def bench_decode_nms(repeats: int = 300, seed: int = 0) -> dict:
    """Median / p95 milliseconds of the NumPy and torch-CPU decoders on one realistic output."""
    import torch

    from engines.ops.torch_ops import yolo_decode_torch
    from engines.ops.yolo_decode import yolo_decode

    pred = realistic_yolo_v8_output(seed)
    pred_t = torch.from_numpy(pred)
    numpy_result = yolo_decode(pred, layout="v8")
    torch_result = [t.numpy() for t in yolo_decode_torch(pred_t, layout="v8")]
    numpy_ms = _time_ms(lambda: yolo_decode(pred, layout="v8"), repeats)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch_ms = _time_ms(lambda: yolo_decode_torch(pred_t, layout="v8"), repeats)
    finally:
        torch.set_num_threads(threads)
    result = {
        "numpy_ms": numpy_ms,
        "torch_ms": torch_ms,
        "ratio_numpy_over_torch": numpy_ms["median"] / torch_ms["median"],
        "same_result": _same(numpy_result, torch_result),
        "candidates": CANDIDATES,
        "classes": CLASSES,
        "detections": int(len(numpy_result[0])),
        "torch_threads": 1,
    }
    if torch.cuda.is_available() and _has_cupy():
        result["gpu"] = _bench_gpu(pred, repeats)
    return result


def _bench_gpu(pred: np.ndarray, repeats: int) -> dict:
    import cupy
    import torch

    from engines.ops.torch_ops import yolo_decode_torch
    from engines.ops.yolo_decode_cupy import yolo_decode as yolo_decode_cupy

    pred_c, pred_t = cupy.asarray(pred), torch.from_numpy(pred).cuda()
    cupy_result = [cupy.asnumpy(a) for a in yolo_decode_cupy(pred_c, layout="v8")]
    torch_result = [t.cpu().numpy() for t in yolo_decode_torch(pred_t, layout="v8")]

    def run_cupy():
        yolo_decode_cupy(pred_c, layout="v8")
        cupy.cuda.get_current_stream().synchronize()

    def run_torch():
        yolo_decode_torch(pred_t, layout="v8")
        torch.cuda.synchronize()

    cupy_ms, torch_ms = _time_ms(run_cupy, repeats), _time_ms(run_torch, repeats)
    return {"cupy_ms": cupy_ms, "torch_cuda_ms": torch_ms,
            "ratio_cupy_over_torch": cupy_ms["median"] / torch_ms["median"],
            "same_result": _same(cupy_result, torch_result),
            "device": torch.cuda.get_device_name()}


def _time_ms(fn, repeats: int) -> dict:
    for _ in range(WARMUP):
        fn()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    times *= 1e3
    return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95)),
            "min": float(times.min())}


def _same(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


def _has_cupy() -> bool:
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


if __name__ == "__main__":
    print(json.dumps(bench_decode_nms(), indent=2))
