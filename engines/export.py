"""Export a detector's torch module to ONNX (and ONNX to a TensorRT engine), with a disk cache.

The ONNX files are what ONNX Runtime runs and what TensorRT's parser reads, so
they use standard ONNX operators only, opset <= 17, and a batch axis that is
either fixed or explicitly named "batch". We use torch's TorchScript-based
exporter (``dynamo=False``): in torch 2.14 it writes opset 17 natively and fast,
while the dynamo exporter writes opset 18 and then converts down. The dynamo
exporter is the fallback when the TorchScript one fails.

Exports are cached under ``$STREAMDET_CACHE`` (default ``~/.cache/streamdet``)
in ``onnx/``, keyed by a hash of the weights, the module's code and the export
settings, and reused on the next start.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import json
import logging
import os
import re
import warnings
from pathlib import Path

log = logging.getLogger("streamdet.engine")
MAX_OPSET = 17
KEEP_PER_MODEL = 8           # cached exports kept per model name (settings x weights versions)
STANDARD_DOMAINS = ("", "ai.onnx")


def cache_root() -> Path:
    """$STREAMDET_CACHE, or ~/.cache/streamdet."""
    return Path(os.environ.get("STREAMDET_CACHE") or Path.home() / ".cache" / "streamdet")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def module_fingerprint(module) -> str:
    """sha256 over the module's state dict (names, dtypes, shapes, bytes), architecture and code."""
    import torch
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(repr(module).encode())
    try:
        digest.update(Path(inspect.getsourcefile(type(module))).read_bytes())
    except (TypeError, OSError):
        pass
    return digest.hexdigest()


def export_settings(detector, *, batch: int, dynamic_batch: bool, half: bool, opset: int) -> dict:
    import torch
    spec = detector.spec
    return {"model": detector.name, "input": [3, spec.height, spec.width],
            "outputs": list(detector.output_names), "names": list(detector.class_names),
            "batch": batch, "dynamic_batch": dynamic_batch, "half": half, "opset": opset,
            "torch": torch.__version__}


def cached_onnx(detector, *, batch: int = 1, dynamic_batch: bool = False, half: bool = False,
                opset: int = MAX_OPSET, root: Path | None = None) -> Path:
    """The detector's ONNX file from the cache, exporting it first when missing."""
    module = detector.build_module()
    settings = export_settings(detector, batch=batch, dynamic_batch=dynamic_batch, half=half, opset=opset)
    key = hashlib.sha256((module_fingerprint(module) + json.dumps(settings, sort_keys=True)).encode())
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in detector.name)
    path = (root or cache_root()) / "onnx" / f"{safe_name}-{key.hexdigest()[:20]}.onnx"
    if path.is_file():
        log.info("ONNX export of %s reused from the cache: %s", detector.name, path)
        return path
    log.info("exporting %s to ONNX (batch %s%s, %s): %s", detector.name, batch,
             " dynamic" if dynamic_batch else "", "fp16" if half else "fp32", path)
    export_onnx(detector, path, batch=batch, dynamic_batch=dynamic_batch, half=half, opset=opset, module=module)
    prune_cache(path.parent, f"{safe_name}-", keep=KEEP_PER_MODEL)
    return path


def prune_cache(directory: Path, prefix: str, *, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``prefix*.onnx`` files (old weights' exports); returns them."""
    ours = re.compile(re.escape(prefix) + r"[0-9a-f]{20}\.onnx")      # not "<prefix>v2-<key>.onnx"
    files = sorted((item for item in directory.glob(f"{prefix}*.onnx") if ours.fullmatch(item.name)),
                   key=lambda item: item.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)
        log.info("removed old ONNX export from the cache: %s", old)
    return files[keep:]


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


def export_tensorrt(onnx_path, engine_path, *, half: bool = True, max_batch: int = 1) -> Path:
    """Build a TensorRT engine from an ONNX file (same builder code as the engine's own cache)."""
    from engines.tensorrt_engine import build_serialized_engine
    plan = build_serialized_engine(Path(onnx_path), half=half, max_batch=max_batch)
    engine_path = Path(engine_path)
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_path.with_name(f".{engine_path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(plan)
    os.replace(tmp, engine_path)
    return engine_path


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
    return export_tensorrt(onnx_path, plan, half=half, max_batch=batch)
