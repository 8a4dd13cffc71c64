"""ONNX Runtime engine: CPU by default, CUDA / TensorRT execution providers with onnxruntime-gpu.

On CPU the session runs ``threads`` intra-op threads (``auto``: measured at
load among 1 / all-but-one / all cores, spinning off and on, cached per model
and machine: engines/threads.py), one inter-op thread, sequential execution,
all graph optimisations and the memory arena. On CUDA, IO binding
keeps device inputs and outputs on the GPU (preallocated torch buffers).
The ONNX file is the detector's own (``onnx_path``) or an export of its torch
module from the cache (engines/cache.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engines.base import Engine, EngineMeta, EngineUnavailable, cuda_index, to_device_array
from engines.ort_parallel import ParallelRuns, check_parallel, resolve_parallel
from engines.ort_tuning import PipelineTuning
from engines.threads import AUTO, CpuBudget, choose_budget, file_digest, ort_candidates

ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
             "tensor(uint8)": np.uint8}


def ort_gpu_missing(providers) -> str:
    return (f"engine 'onnxruntime' on CUDA needs onnxruntime-gpu (CUDAExecutionProvider); found providers "
            f"{', '.join(providers) or 'none'}: pip uninstall -y onnxruntime && pip install onnxruntime-gpu")


class OnnxRuntimeEngine(ParallelRuns, PipelineTuning, Engine):
    name = "onnxruntime"

    def __init__(self, detector, *, device: str = "auto", half: bool = False, max_batch: int = 1,
                 threads: int | str = 1, onnx_path: str | Path | None = None, tensorrt_ep: bool = False,
                 io_binding: bool | None = None, spin: bool | None = None, cache_root: Path | None = None,
                 parallel: int | str = 1) -> None:
        super().__init__(detector, device=device, half=half, max_batch=max_batch, threads=threads)
        self.parallel = check_parallel(parallel)   # batches at once on the CPU (engines/ort_parallel.py)
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.tensorrt_ep = bool(tensorrt_ep)
        self.io_binding = io_binding
        self.spin = spin                 # None: off with explicit threads, measured with 'auto'
        self.budget: CpuBudget | None = None
        self.budget_info: dict = {}
        self.cache_root = cache_root
        self.session = None
        self._stream = None
        self._static_batch: int | None = None
        self._auto: dict | None = None     # threads 'auto' on CPU: what tuning in a pipeline needs

    # -- loading -------------------------------------------------------------------------
    def load(self) -> "OnnxRuntimeEngine":
        import onnxruntime as ort
        available = tuple(ort.get_available_providers())
        device = self._resolve_device(available)
        notes: list[str] = []
        half = self.half and device != "cpu"
        if self.half and not half:
            notes.append("half ignored on CPU")
        path = self._model_file(half, notes)
        providers = self._providers(device, available)
        self._new_session = lambda budget: ort.InferenceSession(str(path), self._session_options(ort, budget),
                                                                providers=providers)
        self.budget = self._choose_budget(ort, path, device)
        notes.append(f"CPU: {self.budget.label()} ({self.budget_info['source']})")
        self.session = self._new_session(self.budget)
        self._start_parallel(resolve_parallel(self.parallel, self.threads, device))
        self.budget_info["parallel"] = self.parallel_runs
        if self.parallel_runs > 1:
            notes.append(f"up to {self.parallel_runs} batches at once on 1 thread each when more wait")
        self._meta = self._describe_session(device, notes)
        self._meta.cpu_budget = dict(self.budget_info)
        if self.io_binding is None:
            self.io_binding = device != "cpu"
        return self

    def _resolve_device(self, available: tuple[str, ...]) -> str:
        has_ep = "CUDAExecutionProvider" in available
        if self.device == "auto":
            return "cuda:0" if has_ep and _torch_sees_gpu() else "cpu"
        if self.device.startswith("cuda") and not has_ep:
            raise EngineUnavailable(ort_gpu_missing(available))
        if self.device.startswith("cuda") and not _torch_sees_gpu():
            raise EngineUnavailable(f"engine 'onnxruntime' on {self.device} needs a visible NVIDIA GPU "
                                    f"(torch.cuda.is_available() is False): use device 'cpu'")
        return self.device

    def _model_file(self, half: bool, notes: list[str]) -> Path:
        path = self.onnx_path or getattr(self.detector, "onnx_path", None)
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise FileNotFoundError(f"onnxruntime engine: ONNX file {path} does not exist")
            if half:
                notes.append("half: the ONNX file's own dtype is used")
            notes.append(f"model {path}")
            return path
        from engines.cache import cached_onnx
        path = cached_onnx(self.detector, batch=1, dynamic_batch=self.max_batch > 1, half=half,
                           root=self.cache_root)
        notes.append(f"model {path} (exported)")
        return path

    def _choose_budget(self, ort, path: Path, device: str) -> CpuBudget:
        """Explicit threads as given; 'auto' on CPU measured (or read from the cache)."""
        if self.threads != AUTO or device != "cpu":
            count = 1 if self.threads == AUTO else self.threads
            budget = CpuBudget(count, bool(self.spin))
            self.budget_info = {"threads": self.threads, "source": "config", "intra_op": count,
                                "spinning": budget.spinning, "inter_op": 1}
            return budget
        spec = self.detector.spec
        shape = (1, 3, spec.height, spec.width)
        candidates = ort_candidates()
        if self.spin is not None:       # spinning given explicitly: only the thread count is measured
            candidates = [c for c in candidates if c.spinning == bool(self.spin)]

        def make_runner(budget: CpuBudget):
            session = self._new_session(budget)
            model_input = session.get_inputs()[0]
            dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
            feed = {model_input.name: np.random.default_rng(0).random(shape).astype(dtype)}
            return lambda: session.run(None, feed)
        extra = (shape, _ort_version(ort), self.spin)
        digest = file_digest(path)
        budget, self.budget_info = choose_budget(self.name, digest, extra, candidates, make_runner)
        self._auto = {"candidates": candidates, "model_id": digest, "extra": extra}
        return budget

    def _session_options(self, ort, budget: CpuBudget):
        options = ort.SessionOptions()
        options.intra_op_num_threads = budget.intra_op
        options.inter_op_num_threads = budget.inter_op
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena = True
        options.enable_mem_pattern = True
        spin = "1" if budget.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        return options

    def _providers(self, device: str, available: tuple[str, ...]) -> list:
        if device == "cpu":
            return ["CPUExecutionProvider"]
        index = cuda_index(device)
        providers: list = []
        if self.tensorrt_ep and "TensorrtExecutionProvider" in available:
            from engines.cache import cache_root
            trt_cache = str((self.cache_root or cache_root()) / "ort_tensorrt")
            providers.append(("TensorrtExecutionProvider", {
                "device_id": index, "trt_fp16_enable": self.half, "trt_engine_cache_enable": True,
                "trt_engine_cache_path": trt_cache}))
        import torch
        self._stream = torch.cuda.Stream(device=device)
        providers.append(("CUDAExecutionProvider", {
            "device_id": index, "user_compute_stream": str(self._stream.cuda_stream)}))
        providers.append("CPUExecutionProvider")
        return providers

    def _describe_session(self, device: str, notes: list[str]) -> EngineMeta:
        model_input = self.session.get_inputs()[0]
        shape = list(model_input.shape)
        spec = self.detector.spec
        expected = (3, spec.height, spec.width)
        for axis, want in enumerate(expected, start=1):
            if isinstance(shape[axis], int) and shape[axis] != want:
                raise ValueError(f"onnxruntime engine: model input {model_input.name} has shape {shape}, "
                                 f"expected (B, {', '.join(map(str, expected))}) from {self.detector.name}")
        outputs = {out.name for out in self.session.get_outputs()}
        missing = [name for name in self.detector.output_names if name not in outputs]
        if missing:
            raise ValueError(f"onnxruntime engine: model has outputs {sorted(outputs)}, "
                             f"missing {missing} that {self.detector.name} decodes")
        static_batch = shape[0] if isinstance(shape[0], int) else None
        if static_batch is not None and static_batch != 1 and static_batch != self.max_batch:
            raise ValueError(f"onnxruntime engine: model batch is fixed at {static_batch}, "
                             f"but max_batch is {self.max_batch}")
        self._static_batch = static_batch
        if static_batch == 1 and self.max_batch > 1:
            notes.append("model batch fixed at 1: batches run image by image")
        dtype = "float16" if model_input.type == "tensor(float16)" else "float32"
        return EngineMeta(name=self.name, device=device, input_name=model_input.name,
                          input_shape=expected, dtype=dtype, max_batch=self.max_batch,
                          dynamic_batch=static_batch is None, output_names=tuple(self.detector.output_names),
                          providers=tuple(self.session.get_providers()), notes=notes)

    def close(self) -> None:
        self._close_parallel()
        self.session, self._stream = None, None
        super().close()

    # -- running -------------------------------------------------------------------------
    def _infer_host(self, batch: Any) -> dict[str, Any]:
        if self.io_binding:
            return self._run_bound(self._as_torch(batch))
        return self._run_session(self.session, batch)

    def _run_session(self, session, batch: Any) -> dict[str, np.ndarray]:
        array = _host_array(batch, np.dtype(self.meta.dtype))
        names = list(self.meta.output_names)
        if self._static_batch == 1 and len(array) > 1:
            parts = [session.run(names, {self.meta.input_name: array[i:i + 1]}) for i in range(len(array))]
            return {name: np.concatenate([part[k] for part in parts]) for k, name in enumerate(names)}
        return dict(zip(names, session.run(names, {self.meta.input_name: array})))

    def infer_device(self, batch: Any, *, array_type: str = "torch") -> dict[str, Any]:
        if self.meta.device == "cpu":
            return super().infer_device(batch, array_type=array_type)
        self.check_batch(batch)
        outputs = self._run_bound(self._as_torch(batch))
        return {name: to_device_array(value, array_type) for name, value in outputs.items()}

    def _as_torch(self, batch: Any):
        import torch
        if isinstance(batch, np.ndarray):
            tensor = torch.from_numpy(np.ascontiguousarray(batch))
        elif isinstance(batch, torch.Tensor):
            tensor = batch
        else:
            tensor = torch.from_dlpack(batch)
        dtype = torch.float16 if self.meta.dtype == "float16" else torch.float32
        return tensor.to(device=self.meta.device, dtype=dtype).contiguous()

    def _run_bound(self, x) -> dict[str, Any]:
        """Run with IO binding: input read in place, outputs written into preallocated torch buffers."""
        import torch
        if self._static_batch == 1 and len(x) > 1:
            parts = [self._run_bound(x[i:i + 1]) for i in range(len(x))]
            return {name: torch.cat([part[name] for part in parts]) for name in self.meta.output_names}
        device_type, device_id = ("cpu", 0) if x.device.type == "cpu" else ("cuda", x.device.index or 0)
        binding = self.session.io_binding()
        binding.bind_input(self.meta.input_name, device_type, device_id, np.dtype(self.meta.dtype),
                           tuple(x.shape), x.data_ptr())
        outputs, bound = {}, []
        for out in self.session.get_outputs():
            if out.name not in self.meta.output_names:
                continue
            dtype = np.dtype(ORT_TYPES.get(out.type, np.float32))
            shape = [len(x)] + list(out.shape[1:])
            if not all(isinstance(dim, int) for dim in shape):   # unknown sizes: let ORT allocate
                binding.bind_output(out.name, device_type, device_id)
                bound.append(out.name)
                continue
            buffer = torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype, device=x.device)
            binding.bind_output(out.name, device_type, device_id, dtype, shape, buffer.data_ptr())
            outputs[out.name] = buffer
            bound.append(out.name)
        if self._stream is not None:
            self._stream.wait_stream(torch.cuda.current_stream(x.device))   # input written on torch's stream
        self.session.run_with_iobinding(binding)
        for name, value in zip(bound, binding.get_outputs()):
            if name not in outputs:
                outputs[name] = torch.as_tensor(value.numpy(), device=x.device)
        return {name: outputs[name] for name in self.meta.output_names}


def _ort_version(ort) -> str:
    return getattr(ort, "__version__", "?")


def _torch_sees_gpu() -> bool:
    import torch
    return torch.cuda.is_available()


def _host_array(batch: Any, dtype: np.dtype) -> np.ndarray:
    if hasattr(batch, "detach"):
        batch = batch.detach().cpu().numpy()
    elif hasattr(batch, "get") and not isinstance(batch, np.ndarray):
        batch = batch.get()
    return np.ascontiguousarray(batch, dtype=dtype)
