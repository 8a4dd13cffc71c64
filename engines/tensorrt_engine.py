"""TensorRT engine: builds (once, cached on disk) and runs a TensorRT plan from the detector's ONNX.

Written against the TensorRT >= 10 Python API: ONNX parser -> builder config
(FP16 flag where the version has one, an optimisation profile for batch
1..max_batch) -> serialized plan -> runtime -> execution context run with
``execute_async_v3`` on a CUDA stream. Buffers are torch CUDA tensors, so the
outputs are shared with torch (and CuPy, zero-copy) without host copies.

Plans are cached under ``<cache>/tensorrt/`` keyed by ``engine_cache_key``: the
ONNX file's hash, GPU name, compute capability, TensorRT version, fp16 and the
batch profile, since a plan is only valid for the GPU and version that built it.
TensorRT is imported lazily; without it the engine says how to install it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import Engine, EngineMeta, EngineUnavailable, cuda_index, to_device_array

log = logging.getLogger("streamdet.engine")
TRT_MISSING = ("TensorRT engine needs the 'tensorrt' Python package and an NVIDIA GPU: pip install tensorrt "
               "(from NVIDIA's index: pip install --extra-index-url https://pypi.nvidia.com tensorrt), "
               "or use engine 'onnxruntime' or 'torch'")


def tensorrt_installed() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def import_tensorrt():
    """The tensorrt module, or EngineUnavailable with the install line."""
    try:
        import tensorrt
    except ImportError:
        raise EngineUnavailable(TRT_MISSING) from None
    return tensorrt


def engine_cache_key(onnx_sha256: str, gpu_name: str, compute_capability: str, trt_version: str,
                     fp16: bool, max_batch: int, min_batch: int = 1, opt_batch: int | None = None) -> str:
    """A hex digest naming one TensorRT plan; changes with every input that invalidates a plan."""
    fields = {"onnx": onnx_sha256, "gpu": gpu_name.strip(), "sm": str(compute_capability),
              "trt": trt_version, "fp16": bool(fp16),
              "batch": [int(min_batch), int(opt_batch or max_batch), int(max_batch)]}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


# -- building ------------------------------------------------------------------------------
def _make_logger(trt):
    class ForwardingLogger(trt.ILogger):
        """TensorRT's messages into the streamdet.engine logger."""
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity, msg) -> None:
            level = {trt.ILogger.INTERNAL_ERROR: logging.ERROR, trt.ILogger.ERROR: logging.ERROR,
                     trt.ILogger.WARNING: logging.WARNING}.get(severity, logging.DEBUG)
            log.log(level, "TensorRT: %s", msg)
    return ForwardingLogger()


def _make_progress_monitor(trt):
    class PhaseLogger(trt.IProgressMonitor):
        """A log line per top-level builder phase (TensorRT calls this from several threads)."""
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.started: dict[str, float] = {}

        def phase_start(self, phase_name, parent_phase, num_steps) -> None:
            self.started[phase_name] = time.monotonic()
            if parent_phase is None:
                log.info("TensorRT build: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name, step) -> bool:
            return True   # never cancel

        def phase_finish(self, phase_name) -> None:
            took = time.monotonic() - self.started.pop(phase_name, time.monotonic())
            if took > 1.0:
                log.info("TensorRT build: %s done in %.0f s", phase_name, took)
    return PhaseLogger()


class _Ticker:
    """A progress line every ``every`` seconds while a long build runs."""
    def __init__(self, what: str, every: float = 15.0) -> None:
        self.what, self.every, self.stop = what, every, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self.stop.wait(self.every):
            log.info("%s ... %.0f s", self.what, time.monotonic() - start)

    def __enter__(self) -> "_Ticker":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()


def _network_flags(trt, strongly_typed: bool) -> int:
    flags = 0
    creation = trt.NetworkDefinitionCreationFlag
    if int(trt.__version__.split(".")[0]) < 10:
        flags |= 1 << int(creation.EXPLICIT_BATCH)
    if strongly_typed and hasattr(creation, "STRONGLY_TYPED"):
        flags |= 1 << int(creation.STRONGLY_TYPED)
    return flags


def _add_batch_profile(trt, builder, network, config, max_batch: int) -> None:
    profile = builder.create_optimization_profile()
    dynamic = False
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        shape = tuple(tensor.shape)
        if any(dim < 0 for dim in shape[1:]):
            raise ValueError(f"TensorRT: input {tensor.name} has dynamic sizes {shape}: "
                             f"export the ONNX with a fixed height and width")
        if shape[0] < 0:
            dynamic = True
            rest = shape[1:]
            profile.set_shape(tensor.name, (1, *rest), (max_batch, *rest), (max_batch, *rest))
    if dynamic:
        config.add_optimization_profile(profile)


def build_serialized_engine(onnx_path: Path, *, half: bool, max_batch: int,
                            workspace_gib: float = 4.0) -> bytes:
    """Parse ``onnx_path`` and build a serialized TensorRT plan (takes minutes on real models)."""
    trt = import_tensorrt()
    logger = _make_logger(trt)
    fp16_flag = hasattr(trt.BuilderFlag, "FP16")          # removed in TensorRT 11 (strong typing only)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, strongly_typed=not fp16_flag))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT could not parse {onnx_path}: {errors or 'unknown error'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if half and fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    elif half:
        log.warning("TensorRT %s has no FP16 builder flag: precision follows %s's own types",
                    trt.__version__, onnx_path)
    _add_batch_profile(trt, builder, network, config, max_batch)
    monitor = None
    if hasattr(trt, "IProgressMonitor"):
        monitor = _make_progress_monitor(trt)
        config.progress_monitor = monitor
    log.info("building TensorRT engine from %s (fp16 %s, batch 1..%d); this takes minutes",
             onnx_path, half, max_batch)
    with _Ticker(f"building TensorRT engine from {Path(onnx_path).name}"):
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}; see the TensorRT log above")
    return bytes(plan)


# -- running -------------------------------------------------------------------------------
class TensorRTEngine(Engine):
    name = "tensorrt"

    def __init__(self, detector, *, device: str = "auto", half: bool = False, max_batch: int = 1,
                 threads: int = 1, onnx_path: str | Path | None = None, cache_root: Path | None = None,
                 workspace_gib: float = 4.0) -> None:
        super().__init__(detector, device=device, half=half, max_batch=max_batch, threads=threads)
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.cache_root = cache_root
        self.workspace_gib = workspace_gib
        self._runtime = self._engine = self._context = self._stream = None
        self._dtypes: dict[str, Any] = {}
        self._output_tensors: list[str] = []

    def load(self) -> "TensorRTEngine":
        trt = import_tensorrt()
        import torch
        if not torch.cuda.is_available() or self.device == "cpu":
            raise EngineUnavailable(TRT_MISSING)
        device = "cuda:0" if self.device == "auto" else self.device
        torch.cuda.set_device(cuda_index(device))
        fp16_flag = hasattr(trt.BuilderFlag, "FP16")
        onnx_path = self._model_file(half_onnx=self.half and not fp16_flag)
        plan_path = self.plan_path(trt, onnx_path, device)
        if not plan_path.is_file():
            write_plan(onnx_path, plan_path, half=self.half, max_batch=self.max_batch)
        else:
            log.info("TensorRT engine reused from the cache: %s", plan_path)
        self._runtime = trt.Runtime(_make_logger(trt))
        self._engine = self._runtime.deserialize_cuda_engine(plan_path.read_bytes())
        if self._engine is None:
            raise RuntimeError(f"TensorRT could not load {plan_path}: delete it to rebuild")
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream(device=device)
        self._meta = self._describe(trt, torch, device, [f"plan {plan_path}"])
        return self

    def _model_file(self, *, half_onnx: bool) -> Path:
        path = self.onnx_path or getattr(self.detector, "onnx_path", None)
        if path is not None:
            if not Path(path).is_file():
                raise FileNotFoundError(f"tensorrt engine: ONNX file {path} does not exist")
            return Path(path)
        from engines.cache import cached_onnx
        return cached_onnx(self.detector, batch=1, dynamic_batch=self.max_batch > 1, half=half_onnx,
                           root=self.cache_root)

    def plan_path(self, trt, onnx_path: Path, device: str) -> Path:
        import torch
        from engines.cache import cache_root, file_sha256
        props = torch.cuda.get_device_properties(cuda_index(device))
        key = engine_cache_key(file_sha256(onnx_path), props.name, f"{props.major}.{props.minor}",
                               trt.__version__, self.half, self.max_batch)
        return (self.cache_root or cache_root()) / "tensorrt" / f"{onnx_path.stem}-{key[:20]}.engine"

    def _describe(self, trt, torch, device: str, notes: list[str]) -> EngineMeta:
        engine, inputs, outputs = self._engine, [], []
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            numpy_type = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            self._dtypes[name] = torch.from_numpy(np.empty(0, numpy_type)).dtype
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (inputs if is_input else outputs).append(name)
        self._output_tensors = outputs
        missing = [name for name in self.detector.output_names if name not in outputs]
        if len(inputs) != 1 or missing:
            raise ValueError(f"tensorrt engine: plan has inputs {inputs} and outputs {outputs}; expected one "
                             f"input and outputs {list(self.detector.output_names)}")
        shape = tuple(engine.get_tensor_shape(inputs[0]))
        spec = self.detector.spec
        return EngineMeta(name=self.name, device=device, input_name=inputs[0],
                          input_shape=(3, spec.height, spec.width),
                          dtype="float16" if self._dtypes[inputs[0]] == torch.float16 else "float32",
                          max_batch=self.max_batch if shape[0] < 0 else shape[0], dynamic_batch=shape[0] < 0,
                          output_names=tuple(self.detector.output_names), notes=notes)

    def close(self) -> None:
        self._context = self._engine = self._runtime = self._stream = None
        super().close()

    def _infer_host(self, batch: Any) -> dict[str, Any]:
        return self._execute(batch)

    def infer_device(self, batch: Any, *, array_type: str = "torch") -> dict[str, Any]:
        self.check_batch(batch)
        return {name: to_device_array(value, array_type) for name, value in self._execute(batch).items()}

    def _execute(self, batch: Any) -> dict[str, Any]:
        """Bind input and fresh output buffers by address, enqueue on our stream, order torch after it."""
        import torch
        meta, context = self.meta, self._context
        x = _as_cuda_tensor(torch, batch, meta.device, self._dtypes[meta.input_name])
        context.set_input_shape(meta.input_name, tuple(x.shape))
        context.set_tensor_address(meta.input_name, x.data_ptr())
        outputs = {}
        for name in self._output_tensors:  # all must be bound; allocated on torch's stream, where read
            shape = tuple(context.get_tensor_shape(name))
            outputs[name] = torch.empty(shape, dtype=self._dtypes[name], device=x.device)
            context.set_tensor_address(name, outputs[name].data_ptr())
        current = torch.cuda.current_stream(x.device)
        self._stream.wait_stream(current)                  # the input may still be being written
        if not context.execute_async_v3(self._stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution failed for batch {tuple(x.shape)}")
        for tensor in (x, *outputs.values()):              # keep the allocator from reusing them early
            tensor.record_stream(self._stream)
        current.wait_stream(self._stream)
        return {name: outputs[name] for name in meta.output_names}


def _as_cuda_tensor(torch, batch: Any, device: str, dtype) -> Any:
    if isinstance(batch, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(batch))
    elif isinstance(batch, torch.Tensor):
        tensor = batch
    else:
        tensor = torch.from_dlpack(batch)   # CuPy
    return tensor.to(device=device, dtype=dtype).contiguous()


def write_plan(onnx_path, engine_path, *, half: bool = True, max_batch: int = 1) -> Path:
    """Build a TensorRT engine from an ONNX file and write it atomically (engine cache and export)."""
    plan = build_serialized_engine(Path(onnx_path), half=half, max_batch=max_batch)
    engine_path = Path(engine_path)
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_path.with_name(f".{engine_path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(plan)
    os.replace(tmp, engine_path)
    return engine_path
