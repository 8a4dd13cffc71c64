"""Tests for engines/tensorrt_engine.py.

TensorRT cannot be installed on these machines: the cache key, the error text
and the builder's control flow (against a small fake of the tensorrt module)
are tested here; the tests marked ``tensorrt`` build and run real engines and
skip with the install line when TensorRT or a GPU is missing.
"""
import sys
import types

import numpy as np
import pytest
import torch

from engines.base import EngineUnavailable
from engines.onnx_export import export_onnx
from engines.tensorrt_engine import (TRT_MISSING, TensorRTEngine, build_serialized_engine, engine_cache_key,
                                     tensorrt_installed)
from tests.engines.engine_toys import (FP16_LOGIT_SCALE, ToyDetector, assert_same_detections, clear_threshold, random_batch,
                                       torch_reference)

TRT_USABLE = tensorrt_installed() and torch.cuda.is_available()
KEY_ARGS = dict(onnx_sha256="ab" * 32, gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                trt_version="10.3.0", fp16=True, max_batch=4)


def test_cache_key_is_a_pure_function():
    assert engine_cache_key(**KEY_ARGS) == engine_cache_key(**KEY_ARGS)
    assert len(engine_cache_key(**KEY_ARGS)) == 64


@pytest.mark.parametrize("field, other", [("onnx_sha256", "cd" * 32), ("gpu_name", "NVIDIA L4"),
                                          ("compute_capability", "8.9"), ("trt_version", "10.4.0"),
                                          ("fp16", False), ("max_batch", 8)])
def test_cache_key_changes_with_each_field(field, other):
    assert engine_cache_key(**{**KEY_ARGS, field: other}) != engine_cache_key(**KEY_ARGS)


def test_cache_key_batch_profile_defaults():
    explicit = engine_cache_key(**KEY_ARGS, min_batch=1, opt_batch=4)
    assert explicit == engine_cache_key(**KEY_ARGS)
    assert engine_cache_key(**KEY_ARGS, opt_batch=2) != explicit


def test_missing_message_is_one_line_with_the_install_command():
    assert "\n" not in TRT_MISSING
    assert TRT_MISSING.startswith("TensorRT engine needs the 'tensorrt' Python package and an NVIDIA GPU: "
                                  "pip install tensorrt (from NVIDIA's index")


@pytest.mark.skipif(TRT_USABLE, reason="TensorRT is usable here")
def test_load_without_tensorrt_or_gpu_is_unavailable():
    with pytest.raises(EngineUnavailable) as caught:
        TensorRTEngine(ToyDetector()).load()
    assert str(caught.value) == TRT_MISSING


# -- the builder against a fake tensorrt module --------------------------------------------
class _Recorder:
    """What the fake builder was told, and how it should answer."""
    def __init__(self, parse_ok=True, plan=b"plan", input_shape=(-1, 3, 32, 32)):
        self.parse_ok, self.plan, self.input_shape = parse_ok, plan, input_shape
        self.flags, self.profiles, self.network_flags, self.monitor, self.workspace = [], [], None, None, None


def _fake_classes(calls: _Recorder):
    class Config:
        def set_memory_pool_limit(self, pool, size):
            calls.workspace = size

        def set_flag(self, flag):
            calls.flags.append(flag)

        def add_optimization_profile(self, profile):
            calls.profiles.append(profile.shapes)

        def __setattr__(self, name, value):
            if name == "progress_monitor":
                calls.monitor = value

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, low, opt, high):
            self.shapes[name] = (low, opt, high)

    class Builder:
        def __init__(self, logger):
            self.network = types.SimpleNamespace(num_inputs=1, get_input=lambda i: types.SimpleNamespace(
                name="images", shape=calls.input_shape))

        def create_network(self, flags):
            calls.network_flags = flags
            return self.network

        create_builder_config, create_optimization_profile = staticmethod(Config), staticmethod(Profile)

        def build_serialized_network(self, network, config):
            return calls.plan

    class Parser:
        def __init__(self, network, logger):
            self.num_errors = 0 if calls.parse_ok else 1

        def parse_from_file(self, path):
            return calls.parse_ok

        def get_error(self, index):
            return "In node 3 (Foo): unsupported operator"
    return Builder, Parser


class _Interface:
    INTERNAL_ERROR, ERROR, WARNING = 0, 1, 2

    def __init__(self):
        pass


def _fake_tensorrt(*, version="10.3.0", fp16_flag=True, **answers):
    """A stand-in for the tensorrt module with just the builder API that build_serialized_engine uses."""
    calls = _Recorder(**answers)
    builder, parser = _fake_classes(calls)
    flags = {"FP16": "FP16"} if fp16_flag else {}
    fake = types.SimpleNamespace(
        __version__=version, ILogger=_Interface, IProgressMonitor=_Interface, Builder=builder, OnnxParser=parser,
        BuilderFlag=types.SimpleNamespace(**flags), MemoryPoolType=types.SimpleNamespace(WORKSPACE="ws"),
        NetworkDefinitionCreationFlag=types.SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=1))
    return fake, calls


def test_build_sets_fp16_and_the_batch_profile(monkeypatch, tmp_path):
    fake, calls = _fake_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    assert build_serialized_engine(tmp_path / "m.onnx", half=True, max_batch=4, workspace_gib=1) == b"plan"
    assert calls.flags == ["FP16"] and calls.workspace == 1 << 30
    assert calls.profiles == [{"images": ((1, 3, 32, 32), (4, 3, 32, 32), (4, 3, 32, 32))}]
    assert calls.network_flags == 0 and calls.monitor is not None


def test_build_with_fixed_batch_adds_no_profile(monkeypatch, tmp_path):
    fake, calls = _fake_tensorrt(input_shape=(1, 3, 32, 32))
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    build_serialized_engine(tmp_path / "m.onnx", half=False, max_batch=1)
    assert calls.profiles == [] and calls.flags == []


def test_tensorrt_11_builds_strongly_typed(monkeypatch, tmp_path):
    fake, calls = _fake_tensorrt(version="11.0.0", fp16_flag=False)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    build_serialized_engine(tmp_path / "m.onnx", half=True, max_batch=2)
    assert calls.network_flags == 1 << 1 and calls.flags == []


def test_parser_errors_are_reported(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(parse_ok=False)[0])
    with pytest.raises(ValueError, match=r"TensorRT could not parse .*m.onnx: In node 3 \(Foo\)"):
        build_serialized_engine(tmp_path / "m.onnx", half=False, max_batch=1)


def test_failed_build_is_reported(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(plan=None)[0])
    with pytest.raises(RuntimeError, match="TensorRT failed to build an engine"):
        build_serialized_engine(tmp_path / "m.onnx", half=False, max_batch=1)


def test_dynamic_image_size_is_refused(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(input_shape=(-1, 3, -1, -1))[0])
    with pytest.raises(ValueError, match="dynamic sizes .*fixed height and width"):
        build_serialized_engine(tmp_path / "m.onnx", half=False, max_batch=2)


# -- real TensorRT (skipped here) ----------------------------------------------------------
@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.skipif(not TRT_USABLE, reason=TRT_MISSING)
@pytest.mark.parametrize("max_batch", [1, 3])
def test_real_engine_matches_pytorch(tmp_path, max_batch):
    detector, batch = ToyDetector(), random_batch(max_batch)
    engine = TensorRTEngine(detector, max_batch=max_batch, cache_root=tmp_path).load()
    np.testing.assert_allclose(engine.infer(batch)["output0"], torch_reference(detector, batch)[0],
                               rtol=1e-3, atol=1e-3)
    again = TensorRTEngine(detector, max_batch=max_batch, cache_root=tmp_path).load()   # from the cache
    assert len(list((tmp_path / "tensorrt").glob("*.engine"))) == 1
    assert again.infer_device(torch.from_numpy(batch).cuda())["output0"].is_cuda


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.skipif(not TRT_USABLE, reason=TRT_MISSING)
def test_real_fp16_engine_gives_the_same_detections(tmp_path):
    detector, batch = ToyDetector(size=64, logit_scale=FP16_LOGIT_SCALE), random_batch(1, size=64, seed=4)
    reference = {"output0": torch_reference(detector, batch)[0]}
    threshold = clear_threshold(reference["output0"][0, 4:])
    engine = TensorRTEngine(detector, half=True, cache_root=tmp_path).load()
    expected = detector.decode(reference, 0, conf_threshold=threshold)
    assert len(expected) > 0
    assert_same_detections(expected, detector.decode(engine.infer(batch), 0, conf_threshold=threshold), atol=0.2)


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.skipif(not TRT_USABLE, reason=TRT_MISSING)
def test_real_export_tensorrt_writes_a_plan(tmp_path):
    from engines.tensorrt_engine import write_plan as export_tensorrt
    onnx_path = export_onnx(ToyDetector(), tmp_path / "toy.onnx", dynamic_batch=True)
    plan = export_tensorrt(onnx_path, tmp_path / "toy.engine", half=True, max_batch=2)
    assert plan.stat().st_size > 0


def test_build_progress_is_logged(monkeypatch, caplog):
    import logging
    import time as clock
    from engines.tensorrt_engine import _make_progress_monitor, _Ticker
    monitor = _make_progress_monitor(_fake_tensorrt()[0])
    with caplog.at_level(logging.INFO, logger="streamdet.engine"):
        monitor.phase_start("Building engine", None, 3)
        monitor.phase_start("Tactic timing", "Building engine", 10)   # nested phases stay quiet
        assert monitor.step_complete("Tactic timing", 0) is True
        with _Ticker("building TensorRT engine from toy.onnx", every=0.01):
            clock.sleep(0.05)
    assert "TensorRT build: Building engine (3 steps)" in caplog.text
    assert "Tactic timing" not in caplog.text
    assert "building TensorRT engine from toy.onnx ... 0 s" in caplog.text
