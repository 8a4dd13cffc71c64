"""``run_pipeline.py export``: a detector from the registry -> an ONNX file or a TensorRT plan.

The ONNX exporter is engines/onnx_export.py and the TensorRT builder
engines/tensorrt_engine.py; the engines' own disk cache is engines/cache.py.
"""
from __future__ import annotations

from pathlib import Path

from engines.onnx_export import export_onnx


def export_model(model: str, weights=None, *, size: str | None = None, fmt: str = "onnx",
                 half: bool = False, batch: int = 1, out=None, tensorrt_block: bool = False) -> Path:
    """``run_pipeline.py export``: a detector from the registry -> an ONNX file or a TensorRT plan.

    ``batch`` > 1 exports a dynamic batch axis (1..batch) so the engines can batch streams.
    TensorRT plans are built from an ONNX exported on the way (kept beside the plan).
    """
    from engines.detectors import make_detector
    if fmt not in ("onnx", "tensorrt", "triton"):
        raise ValueError(f"export format must be 'onnx', 'tensorrt' or 'triton', not {fmt!r}")
    detector = make_detector(model, weights, size)
    if fmt == "triton":      # a model repository: REPO/<model>/config.pbtxt + 1/model.onnx
        from engines.triton_repo import write_repository
        return write_repository(detector, out or "runs/export/triton", name=model, max_batch=batch,
                                tensorrt=tensorrt_block, half=half)
    stem = f"{model}_{getattr(detector, 'size', None) or 'custom'}{'_fp16' if half else ''}_b{batch}"
    onnx_path = Path(out) if (out and fmt == "onnx") else Path("runs/export") / f"{stem}.onnx"
    export_onnx(detector, onnx_path, batch=batch, dynamic_batch=batch > 1, half=half)
    if fmt == "onnx":
        return onnx_path
    plan = Path(out) if out else onnx_path.with_suffix(".plan")
    from engines.tensorrt_engine import write_plan
    return write_plan(onnx_path, plan, half=half, max_batch=batch)
