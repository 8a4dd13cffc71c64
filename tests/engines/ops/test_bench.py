"""The micro-benchmark runs, reports what it promises and both paths agree."""
import numpy as np
import torch

from engines.ops.bench import bench_decode_nms, realistic_yolo_v8_output
from engines.ops.yolo_decode import yolo_decode

torch.set_num_threads(1)


def test_realistic_output_has_about_twenty_objects():
    pred = realistic_yolo_v8_output(seed=3)
    assert pred.shape == (84, 8400) and pred.dtype == np.float32
    survivors = int((pred[4:].max(axis=0) > 0.25).sum())
    assert 100 < survivors < 1000
    assert 15 <= len(yolo_decode(pred, layout="v8")[0]) <= 40


def test_bench_reports_medians_and_same_result():
    result = bench_decode_nms(repeats=5, seed=1)
    assert result["same_result"] is True
    assert (result["candidates"], result["classes"]) == (8400, 80)
    for key in ("numpy_ms", "torch_ms"):
        assert 0 < result[key]["median"] <= result[key]["p95"]
    assert result["ratio_numpy_over_torch"] > 0
