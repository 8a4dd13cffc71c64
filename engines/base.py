"""The engine protocol: one interface over PyTorch, ONNX Runtime and TensorRT.

An engine runs a detector's network on batches of preprocessed images and
returns the raw outputs by name; decoding stays with the detector. Engines are
found through the ``ENGINES`` registry and imported only when asked for, so
``import engines`` works on a machine without CUDA, CuPy or TensorRT.

Host outputs (``infer``) are NumPy arrays with a leading batch axis; floating
outputs come back as float32 whatever the network ran in, so decoders see one
dtype. Device outputs (``infer_device``) stay on the GPU in the network's dtype.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ENGINES: dict[str, str] = {
    "torch": "engines.torch_engine:TorchEngine",
    "onnxruntime": "engines.onnxruntime_engine:OnnxRuntimeEngine",
    "tensorrt": "engines.tensorrt_engine:TensorRTEngine",
    "triton": "engines.triton_engine:TritonEngine",
}
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class EngineUnavailable(RuntimeError):
    """An engine cannot run here; the message says what is missing and how to install it."""


class EngineOffline(RuntimeError):
    """A remote engine cannot be reached right now: this batch is dropped, a later one retries."""


@dataclass
class EngineMeta:
    name: str                          # engine name, a key of ENGINES
    device: str                        # "cpu" or "cuda:N"
    input_name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    dtype: str                         # "float32" or "float16": what the network runs in
    max_batch: int
    dynamic_batch: bool
    output_names: tuple[str, ...]
    providers: tuple[str, ...] = ()    # ONNX Runtime execution providers, in priority order
    notes: list[str] = field(default_factory=list)  # choices made at load, for the start log
    cpu_budget: dict = field(default_factory=dict)  # CPU threads chosen (engines/threads.py), for bench/logs

    def describe(self) -> str:
        c, h, w = self.input_shape
        text = (f"{self.name} on {self.device}, input {self.input_name} {c}x{h}x{w} {self.dtype}, "
                f"batch 1..{self.max_batch}")
        if self.providers:
            text += f", providers {', '.join(self.providers)}"
        return text + "".join(f"; {note}" for note in self.notes)


def normalise_device(device: str) -> str:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> the same with 'cuda' spelled 'cuda:0'."""
    text = str(device).strip().lower()
    if not DEVICE_PATTERN.match(text):
        raise ValueError(f"engine device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not {device!r}")
    return "cuda:0" if text == "cuda" else text


def cuda_index(device: str) -> int:
    """'cuda:N' -> N."""
    return int(device.split(":", 1)[1]) if ":" in device else 0


def engine_class(name: str) -> type["Engine"]:
    """Import the engine registered under ``name`` (lazily: only now)."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: expected one of {', '.join(ENGINES)}")
    module_name, class_name = ENGINES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


class Engine:
    """Base class. Subclasses implement ``load`` and ``_infer_host``, optionally ``infer_device``."""
    name = "engine"
    parallel_runs = 1     # batches an engine with submit() runs at once (engines/ort_parallel.py)

    def __init__(self, detector, *, device: str = "auto", half: bool = False,
                 max_batch: int = 1, threads: int | str = 1) -> None:
        from engines.threads import ThreadsError, check_threads
        if int(max_batch) < 1:
            raise ValueError(f"{self.name} engine: max_batch must be >= 1, got {max_batch}")
        try:
            threads = check_threads(threads)
        except ThreadsError as exc:
            raise ValueError(f"{self.name} engine: {exc}") from None
        self.detector = detector
        self.device = normalise_device(device)
        self.half = bool(half)
        self.max_batch = int(max_batch)
        self.threads = threads                # a positive int or 'auto'
        self._meta: EngineMeta | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def load(self) -> "Engine":
        raise NotImplementedError

    def close(self) -> None:
        self._meta = None

    def __enter__(self) -> "Engine":
        if self._meta is None:
            self.load()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ready(self) -> bool:
        """Can this engine take a batch now? Local engines: once loaded; remote ones ask their server."""
        return self._meta is not None

    @property
    def meta(self) -> EngineMeta:
        if self._meta is None:
            raise RuntimeError(f"{self.name} engine for {self.detector.name}: call load() first")
        return self._meta

    def warmup(self, iters: int = 3) -> None:
        """Run a few zero batches of each ``warmup_sizes()`` (first calls allocate and tune)."""
        meta = self.meta
        for size in self.warmup_sizes():
            zeros = np.zeros((size, *meta.input_shape), dtype=np.dtype(meta.dtype))
            for _ in range(max(1, iters)):
                self.infer(zeros)

    def warmup_sizes(self) -> list[int]:
        """The batch sizes warm-up runs: 1 and max_batch."""
        return sorted({1, self.meta.max_batch})

    # -- running -------------------------------------------------------------------------
    def infer(self, batch: Any) -> dict[str, np.ndarray]:
        """(B, C, H, W) batch -> {output name: host NumPy array with batch axis}."""
        self.check_batch(batch)
        outputs = self._infer_host(batch)
        return {name: host_float32(value) for name, value in outputs.items()}

    def _infer_host(self, batch: Any) -> dict[str, Any]:
        raise NotImplementedError

    def infer_device(self, batch: Any, *, array_type: str = "torch") -> dict[str, Any]:
        """Like ``infer`` but outputs stay on the GPU as torch tensors or CuPy arrays."""
        raise EngineUnavailable(f"{self.name} engine on {self.meta.device} has no device outputs: "
                                f"use infer(), or run on a CUDA device")

    def check_batch(self, batch: Any) -> None:
        meta = self.meta
        shape = tuple(getattr(batch, "shape", ()))
        if len(shape) != 4 or tuple(shape[1:]) != meta.input_shape or not 1 <= shape[0] <= meta.max_batch:
            c, h, w = meta.input_shape
            raise ValueError(f"{self.name} engine ({self.detector.name}): batch must be (B, {c}, {h}, {w}) "
                             f"with 1 <= B <= {meta.max_batch}, got {shape}")

    def __repr__(self) -> str:
        state = self._meta.describe() if self._meta else f"{self.name} (not loaded)"
        return f"<{type(self).__name__} {self.detector.name}: {state}>"


def host_float32(value: Any) -> np.ndarray:
    """Torch tensor / CuPy array / NumPy array -> NumPy, floating types as float32."""
    if hasattr(value, "detach"):            # torch
        value = value.detach().cpu().numpy()
    elif hasattr(value, "get") and not isinstance(value, np.ndarray):   # CuPy
        value = value.get()
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    return array


def to_device_array(tensor: Any, array_type: str) -> Any:
    """A CUDA torch tensor -> itself ('torch') or a zero-copy CuPy view ('cupy')."""
    if array_type == "torch":
        return tensor
    if array_type == "cupy":
        import cupy
        return cupy.from_dlpack(tensor)
    raise ValueError(f"array_type must be 'torch' or 'cupy', not {array_type!r}")
