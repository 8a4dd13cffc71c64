"""The disk cache of exported files: ONNX exports of torch modules (TensorRT plans live beside them).

Exports are cached under ``$STREAMDET_CACHE`` (default ``~/.cache/streamdet``)
in ``onnx/``, keyed by a hash of the weights, the module's code and the export
settings, and reused on the next start. Engines use this module; the export
command (engines/export.py) is a separate user of the same exporter.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
from pathlib import Path

from engines.onnx_export import MAX_OPSET, export_onnx, export_settings

log = logging.getLogger("streamdet.engine")
KEEP_PER_MODEL = 8           # cached exports kept per model name (settings x weights versions)


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
