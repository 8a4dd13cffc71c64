"""Export a detector's torch module to ONNX, checked for what TensorRT's parser and ONNX Runtime accept.

The ONNX files use standard ONNX operators only, opset <= 17, and a batch axis
that is either fixed or explicitly named "batch". We use torch's
TorchScript-based exporter (``dynamo=False``): in torch 2.14 it writes opset 17
natively and fast, while the dynamo exporter writes opset 18 and then converts
down. The dynamo exporter is the fallback when the TorchScript one fails.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger("streamdet.engine")
MAX_OPSET = 17
STANDARD_DOMAINS = ("", "ai.onnx")


def export_settings(detector, *, batch: int, dynamic_batch: bool, half: bool, opset: int) -> dict:
    import torch
    spec = detector.spec
    return {"model": detector.name, "input": [3, spec.height, spec.width],
            "outputs": list(detector.output_names), "names": list(detector.class_names),
            "batch": batch, "dynamic_batch": dynamic_batch, "half": half, "opset": opset,
            "torch": torch.__version__}


def export_onnx(detector, path, *, batch: int = 1, dynamic_batch: bool = False, half: bool = False,
                opset: int = MAX_OPSET, module=None, exporter: str = "auto") -> Path:
    """Export ``detector.build_module()`` to ``path``; checks the result; returns the path.

    Input "images" (B, 3, H, W); outputs named ``detector.output_names``; batch
    fixed at ``batch`` or, with ``dynamic_batch``, a named dynamic axis. Metadata
    keeps the class names (as an Ultralytics-style dict literal), model and settings.
    """
    import onnx
    import torch
    if not 1 <= opset <= MAX_OPSET:
        raise ValueError(f"export_onnx: opset must be between 1 and {MAX_OPSET} (TensorRT), got {opset}")
    if exporter not in ("auto", "torchscript", "dynamo"):
        raise ValueError(f"export_onnx: exporter must be 'auto', 'torchscript' or 'dynamo', not {exporter!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = copy.deepcopy(module) if module is not None else detector.build_module()
    module = module.eval().cpu()
    dtype = torch.float16 if half else torch.float32
    module = module.to(dtype)
    dummy = torch.zeros(batch, 3, detector.spec.height, detector.spec.width, dtype=dtype)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _run_exporter(module, dummy, tmp, list(detector.output_names), dynamic_batch, opset, exporter)
        model = onnx.load(str(tmp))
        fix_output_dims(model, module, dummy)
        problems = onnx_problems(model, opset=opset)
        if problems:
            raise ValueError(f"export_onnx: {detector.name} -> {path}: {'; '.join(problems)}")
        settings = export_settings(detector, batch=batch, dynamic_batch=dynamic_batch, half=half, opset=opset)
        set_metadata(model, detector, settings)
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _run_exporter(module, dummy, path: Path, output_names: list[str], dynamic_batch: bool,
                  opset: int, exporter: str) -> None:
    import torch
    names = {"input_names": ["images"], "output_names": output_names, "opset_version": opset}
    if exporter in ("auto", "torchscript"):
        axes = {name: {0: "batch"} for name in ["images", *output_names]} if dynamic_batch else None
        try:
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                warnings.simplefilter("ignore")   # the TorchScript exporter's deprecation notice
                torch.onnx.export(module, (dummy,), str(path), dynamo=False, dynamic_axes=axes, **names)
            return
        except Exception as exc:
            if exporter == "torchscript":
                raise
            log.warning("TorchScript ONNX exporter failed (%s); trying the dynamo exporter", exc)
    shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(module, (dummy,), str(path), dynamo=True, dynamic_shapes=shapes,
                          external_data=False, verbose=False, **names)


def fix_output_dims(model, module, dummy) -> None:
    """Write the outputs' non-batch sizes into the graph (the exporter can leave them symbolic).

    Our networks' outputs have fixed sizes for a fixed input, and readers of the file (the
    Ultralytics layout detection, Triton's config) need them; the batch axis is left as exported.
    """
    import torch
    with torch.no_grad():
        outputs = module(dummy)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    for value, tensor in zip(model.graph.output, outputs):
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if axis > 0 and not dim.dim_value and axis < tensor.dim():
                dim.dim_value = int(tensor.shape[axis])


def onnx_problems(model, *, opset: int = MAX_OPSET) -> list[str]:
    """What would stop TensorRT's ONNX parser or ORT: checker errors, opset, custom ops, batch axis."""
    import onnx
    problems = []
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:   # checker errors come as several exception types
        problems.append(f"ONNX checker: {exc}".splitlines()[0])
    versions = {entry.domain: entry.version for entry in model.opset_import}
    if versions.get("", versions.get("ai.onnx", 0)) > opset:
        problems.append(f"opset {versions.get('', versions.get('ai.onnx'))} is above {opset}")
    custom = sorted({f"{node.domain}::{node.op_type}" for node in model.graph.node
                     if node.domain not in STANDARD_DOMAINS})
    if custom:
        problems.append(f"custom operators {', '.join(custom)}")
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if not dims or not (dims[0].dim_value > 0 or dims[0].dim_param):
            problems.append(f"{value.name}: batch axis is neither fixed nor named")
    return problems


def set_metadata(model, detector, settings: dict) -> None:
    names = {index: name for index, name in enumerate(detector.class_names)}
    entries = {"names": repr(names), "model": detector.name, "task": "detect",
               "imgsz": repr([detector.spec.height, detector.spec.width]),
               "streamdet_export": json.dumps(settings, sort_keys=True)}
    kept = [prop for prop in model.metadata_props if prop.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    model.producer_name = "streamdet"
