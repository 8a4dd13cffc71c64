"""PyTorch engine: runs the detector's torch module eagerly, optionally compiled or graph-replayed.

On CPU it uses ``threads`` intra-op threads (``auto``: the fastest of 1 /
all-but-one / all cores, timed at load and cached: engines/threads.py) and one
inter-op thread.
On CUDA it can run in fp16 (``half``), under ``torch.compile`` (``compile``),
and replay a captured CUDA graph per input shape (``cuda_graph``), which
removes the per-layer launch cost for the fixed shapes a video pipeline sees.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from engines.base import Engine, EngineMeta, EngineUnavailable, to_device_array
from engines.threads import AUTO, CpuBudget, choose_budget, file_digest, torch_candidates

log = logging.getLogger("streamdet.engine")


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, detector, *, device: str = "auto", half: bool = False, max_batch: int = 1,
                 threads: int | str = 1, compile: bool | str = False, cuda_graph: bool | str = False) -> None:
        """``cuda_graph``: True, False or 'auto' (on CUDA, uncompiled, for a detector with fixed
        shapes; a capture that fails falls back to eager with a warning)."""
        super().__init__(detector, device=device, half=half, max_batch=max_batch, threads=threads)
        if cuda_graph not in (True, False, "auto"):
            raise ValueError(f"torch engine: cuda_graph must be true, false or 'auto', got {cuda_graph!r}")
        self.compile = compile
        self.cuda_graph = cuda_graph          # resolved to a bool at load
        self._graph_auto = cuda_graph == "auto"
        self.module = None
        self._dtype = None
        self._graphs: dict[tuple, tuple] = {}
        self.budget_info: dict = {}

    def load(self) -> "TorchEngine":
        import torch
        device, notes = self._resolve_device(torch), []
        try:
            module = self.detector.build_module()
        except NotImplementedError as exc:
            raise EngineUnavailable(f"engine 'torch' cannot run {self.detector.name}: {exc}") from None
        half = self.half and device != "cpu"
        if self.half and not half:
            notes.append("half ignored on CPU (fp16 is slow there)")
        self._dtype = torch.float16 if half else torch.float32
        module = module.eval().to(device=device, dtype=self._dtype)
        if device == "cpu":
            budget = self._cpu_budget(torch, module)
            torch.set_num_threads(budget.intra_op)
            notes.append(f"{budget.intra_op} CPU thread(s) ({self.budget_info['source']})")
        self.module = self._maybe_compile(torch, module, device, notes)
        spec = self.detector.spec
        self._meta = EngineMeta(
            name=self.name, device=device, input_name="images", input_shape=(3, spec.height, spec.width),
            dtype="float16" if half else "float32", max_batch=self.max_batch, dynamic_batch=True,
            output_names=tuple(self.detector.output_names), notes=notes, cpu_budget=dict(self.budget_info))
        return self

    def _cpu_budget(self, torch, module) -> CpuBudget:
        """Explicit threads as given; 'auto' timed on the eager module (or read from the cache)."""
        _one_interop_thread(torch)
        if self.threads != AUTO:
            self.budget_info = {"threads": self.threads, "source": "config", "intra_op": self.threads,
                                "spinning": False, "inter_op": torch.get_num_interop_threads()}
            return CpuBudget(self.threads)
        spec = self.detector.spec
        x = torch.zeros((1, 3, spec.height, spec.width), dtype=self._dtype)

        def make_runner(budget: CpuBudget):
            def run() -> None:
                torch.set_num_threads(budget.intra_op)
                with torch.inference_mode():
                    module(x)
            return run
        weights = self.detector.weights_path
        model_id = file_digest(weights) if weights and weights.is_file() else "untrained"
        extra = (self.detector.name, spec.width, spec.height, torch.__version__)
        budget, self.budget_info = choose_budget(self.name, model_id, extra, torch_candidates(), make_runner)
        return budget

    def _resolve_device(self, torch) -> str:
        if self.device == "auto":
            return "cuda:0" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineUnavailable(
                f"engine 'torch' on {self.device} needs a CUDA build of torch and a visible NVIDIA GPU "
                f"(torch.cuda.is_available() is False): install a CUDA wheel from pytorch.org or use device 'cpu'")
        return self.device

    def _maybe_compile(self, torch, module, device: str, notes: list[str]):
        if self._graph_auto:
            use_graph = device != "cpu" and not self.compile and self.detector.graph_capturable
        else:
            use_graph = bool(self.cuda_graph) and device != "cpu"
            if self.cuda_graph and not use_graph:
                notes.append("cuda_graph ignored on CPU")
        self.cuda_graph = use_graph
        if not self.compile:
            if use_graph:
                notes.append("CUDA graph replay per input shape")
            return module
        mode = self.compile if isinstance(self.compile, str) else None
        if use_graph and mode is None:
            mode, self.cuda_graph = "reduce-overhead", False   # torch.compile captures the graphs itself
        notes.append(f"torch.compile(mode={mode or 'default'})")
        return torch.compile(module, mode=mode)

    def close(self) -> None:
        self.module, self._graphs = None, {}
        super().close()

    def warmup_sizes(self) -> list[int]:
        """With CUDA graphs, every batch size 1..max_batch, so each graph is captured at warm-up: a size
        first seen mid-run stalls every queued frame for a capture (the H200 8-stream run: e2e p99
        167 ms against a p95 of 34 ms with sizes 1 and 8 only, 38 against 33 with all of them)."""
        if not self.cuda_graph:
            return super().warmup_sizes()
        return list(range(1, self.meta.max_batch + 1))

    # -- running -------------------------------------------------------------------------
    def _to_tensor(self, batch: Any):
        import torch
        if isinstance(batch, np.ndarray):
            tensor = torch.from_numpy(np.ascontiguousarray(batch))
        elif isinstance(batch, torch.Tensor):
            tensor = batch
        elif hasattr(batch, "__dlpack__"):            # CuPy and other DLPack producers
            tensor = torch.from_dlpack(batch)
        else:
            raise ValueError(f"torch engine: batch must be a NumPy array, torch tensor or CuPy array, "
                             f"not {type(batch).__name__}")
        non_blocking = tensor.device.type == "cpu" and tensor.is_pinned()
        return tensor.to(device=self.meta.device, dtype=self._dtype, non_blocking=non_blocking)

    def _run(self, batch: Any) -> dict[str, Any]:
        import torch
        x = self._to_tensor(batch)
        with torch.inference_mode():
            if not self.cuda_graph:
                return self._name_outputs(self.module(x))
            try:
                raw = self._replay(x)
            except Exception as exc:        # noqa: BLE001 - 'auto' must never stop a run
                if not self._graph_auto:
                    raise
                self._stop_graphs(exc)
                raw = self.module(x)
        return self._name_outputs(raw)

    def _stop_graphs(self, exc: Exception) -> None:
        """cuda_graph 'auto': the capture failed, so this engine runs eagerly from now on."""
        self.cuda_graph, self._graphs = False, {}
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self.meta.notes.append(f"CUDA graph capture failed, running eagerly ({reason})")
        log.warning("torch engine (%s): CUDA graph capture failed, running eagerly: %s", self.detector.name, reason)

    def _name_outputs(self, raw) -> dict[str, Any]:
        outputs = (raw,) if hasattr(raw, "shape") else tuple(raw)
        names = self.meta.output_names
        if len(outputs) != len(names):
            raise ValueError(f"{self.detector.name}: module returned {len(outputs)} outputs, "
                             f"expected {len(names)} ({', '.join(names)})")
        return dict(zip(names, outputs))

    def _replay(self, x):
        """Capture one CUDA graph per input shape on first sight, then replay it."""
        import torch
        key = (tuple(x.shape), x.dtype)
        if key not in self._graphs:
            static_in = x.clone()
            side = torch.cuda.Stream(device=x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side):
                for _ in range(3):          # warm the allocator and kernels before capture
                    self.module(static_in)
            torch.cuda.current_stream(x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.module(static_in)
            self._graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _infer_host(self, batch: Any) -> dict[str, Any]:
        return self._run(batch)

    def infer_device(self, batch: Any, *, array_type: str = "torch") -> dict[str, Any]:
        if not self.meta.device.startswith("cuda"):
            return super().infer_device(batch, array_type=array_type)
        self.check_batch(batch)
        outputs = self._run(batch)
        # graph outputs are static buffers overwritten by the next replay: hand out copies
        return {name: to_device_array(value.clone() if self.cuda_graph else value, array_type)
                for name, value in outputs.items()}


def _one_interop_thread(torch) -> None:
    """One inter-op thread (settable once per process, before any parallel work)."""
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
