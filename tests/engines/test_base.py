"""Tests for engines/base.py: registry, device names, the batch check, host conversion, warmup."""
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engines.base import (ENGINES, Engine, EngineMeta, EngineUnavailable, cuda_index, engine_class,
                          host_float32, normalise_device)
from tests.engines.engine_toys import ToyDetector


class RecordingEngine(Engine):
    """An engine that records what it was asked to run and returns the batch mean per item."""
    name = "recording"

    def load(self):
        spec = self.detector.spec
        self._meta = EngineMeta(self.name, "cpu", "images", (3, spec.height, spec.width), "float32",
                                self.max_batch, True, ("output0",))
        self.seen = []
        return self

    def _infer_host(self, batch):
        self.seen.append(batch.shape)
        return {"output0": batch.reshape(len(batch), -1).mean(1).astype(np.float16)}


def test_importing_engines_needs_no_gpu_stack():
    code = ("import sys, engines, engines.base, engines.select, engines.tensorrt_engine, "
            "engines.onnxruntime_engine, engines.export, engines.triton_engine\n"
            "heavy = [m for m in ('tensorrt', 'cupy', 'torch', 'onnxruntime') if m in sys.modules]\n"
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_registry_names_and_lazy_classes():
    assert set(ENGINES) == {"torch", "onnxruntime", "tensorrt", "triton"}
    assert engine_class("torch").__name__ == "TorchEngine"
    assert engine_class("triton").name == "triton"
    assert engine_class("tensorrt").name == "tensorrt"
    with pytest.raises(ValueError, match="unknown engine 'openvino'"):
        engine_class("openvino")


@pytest.mark.parametrize("given, expected", [("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda:0"),
                                             ("cuda:1", "cuda:1")])
def test_normalise_device(given, expected):
    assert normalise_device(given) == expected


def test_bad_device_is_one_clear_line():
    with pytest.raises(ValueError, match="engine device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not 'gpu0'"):
        normalise_device("gpu0")
    assert cuda_index("cuda:3") == 3 and cuda_index("cuda") == 0


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="max_batch must be >= 1"):
        RecordingEngine(ToyDetector(), max_batch=0)
    with pytest.raises(ValueError, match="threads must be a positive integer or .auto."):
        RecordingEngine(ToyDetector(), threads=0)


def test_meta_before_load_says_what_to_do():
    with pytest.raises(RuntimeError, match="call load"):
        RecordingEngine(ToyDetector()).meta


def test_infer_checks_the_batch_shape():
    engine = RecordingEngine(ToyDetector(), max_batch=2).load()
    for bad in (np.zeros((3, 32, 32), np.float32), np.zeros((3, 3, 32, 32), np.float32),
                np.zeros((1, 3, 16, 32), np.float32)):
        with pytest.raises(ValueError, match=r"batch must be \(B, 3, 32, 32\) with 1 <= B <= 2"):
            engine.infer(bad)


def test_infer_returns_float32_host_arrays():
    engine = RecordingEngine(ToyDetector(), max_batch=2).load()
    out = engine.infer(np.ones((2, 3, 32, 32), np.float32))
    assert out["output0"].dtype == np.float32 and out["output0"].shape == (2,)


def test_host_float32_converts_torch_and_keeps_integers():
    assert host_float32(torch.ones(2, dtype=torch.float16)).dtype == np.float32
    assert host_float32(np.arange(3, dtype=np.int64)).dtype == np.int64


def test_warmup_runs_batch_one_and_max_batch():
    engine = RecordingEngine(ToyDetector(), max_batch=4).load()
    engine.warmup(iters=2)
    assert engine.seen == [(1, 3, 32, 32)] * 2 + [(4, 3, 32, 32)] * 2


def test_infer_device_on_a_cpu_engine_is_unavailable():
    engine = RecordingEngine(ToyDetector()).load()
    with pytest.raises(EngineUnavailable, match="no device outputs"):
        engine.infer_device(np.zeros((1, 3, 32, 32), np.float32))


def test_context_manager_loads_and_closes():
    with RecordingEngine(ToyDetector()) as engine:
        assert engine.meta.input_shape == (3, 32, 32)
    assert "not loaded" in repr(engine)


def test_meta_describe_lists_the_choices():
    meta = EngineMeta("onnxruntime", "cpu", "images", (3, 64, 96), "float32", 2, True, ("output0",),
                      providers=("CPUExecutionProvider",), notes=["1 thread"])
    assert meta.describe() == ("onnxruntime on cpu, input images 3x64x96 float32, batch 1..2, "
                               "providers CPUExecutionProvider; 1 thread")


def test_a_local_engine_is_ready_once_loaded():
    engine = Engine(SimpleNamespace(name="toy"))
    assert not engine.ready()
    engine._meta = object()
    assert engine.ready()
