"""Tests for engines/select.py: the auto order over every installed combination, errors, make_engine."""
import logging

import pytest
import torch

from engines.base import EngineUnavailable
from engines.select import Installed, choose_engine, make_engine, probe_installed
from engines.tensorrt_engine import TRT_MISSING
from tests.engines.engine_toys import OnnxOnlyDetector, ToyDetector, random_batch

CPU_ONLY = Installed()
ORT_GPU = ("CUDAExecutionProvider", "CPUExecutionProvider")
EVERYTHING = Installed(torch_cuda=True, ort_providers=ORT_GPU, tensorrt=True)


@pytest.mark.parametrize("installed, expected", [
    (EVERYTHING, ("tensorrt", "cuda:0")),
    (Installed(torch_cuda=True, ort_providers=ORT_GPU), ("onnxruntime", "cuda:0")),
    (Installed(torch_cuda=True, tensorrt=True, onnxruntime=False), ("tensorrt", "cuda:0")),
    (Installed(tensorrt=True), ("onnxruntime", "cpu")),          # TensorRT without a GPU is no use
    (Installed(torch_cuda=True), ("torch", "cuda:0")),
    (Installed(ort_providers=ORT_GPU), ("onnxruntime", "cpu")),   # onnxruntime-gpu but no GPU
    (CPU_ONLY, ("onnxruntime", "cpu")),
    (Installed(onnxruntime=False, ort_providers=()), ("torch", "cpu")),
    (Installed(onnx=False), ("torch", "cpu")),                    # cannot export without onnx
])
def test_auto_order_for_a_torch_detector(installed, expected):
    name, device, reason = choose_engine("auto", ToyDetector(), installed=installed)
    assert (name, device) == expected
    assert reason.startswith("auto: first usable of tensorrt > onnxruntime GPU")


def test_auto_reason_lists_what_was_skipped():
    _, _, reason = choose_engine("auto", ToyDetector(), installed=Installed(torch_cuda=True))
    assert "tensorrt on cuda:0 skipped (TensorRT engine needs the 'tensorrt' Python package" in reason
    assert "onnxruntime on cuda:0 skipped (engine 'onnxruntime' on CUDA needs onnxruntime-gpu" in reason


def test_onnx_only_detector_never_gets_torch(tmp_path):
    detector = OnnxOnlyDetector(tmp_path / "m.onnx")
    assert choose_engine("auto", detector, installed=Installed(torch_cuda=True))[:2] == ("onnxruntime", "cpu")
    with pytest.raises(EngineUnavailable, match="no engine can run here: .*exists only as ONNX"):
        choose_engine("auto", detector, installed=Installed(onnxruntime=False, torch_cuda=True))
    with pytest.raises(EngineUnavailable, match="engine 'torch' cannot run onnx-only, which exists only as ONNX"):
        choose_engine("torch", detector, installed=EVERYTHING)


def test_onnx_only_detector_needs_no_onnx_package(tmp_path):
    detector = OnnxOnlyDetector(tmp_path / "m.onnx")
    assert choose_engine("onnxruntime", detector, installed=Installed(onnx=False))[:2] == ("onnxruntime", "cpu")


def test_device_restricts_the_auto_order():
    assert choose_engine("auto", ToyDetector(), device="cpu", installed=EVERYTHING)[:2] == ("onnxruntime", "cpu")
    assert choose_engine("auto", ToyDetector(), device="cuda:1",
                         installed=Installed(torch_cuda=True))[:2] == ("torch", "cuda:1")
    with pytest.raises(EngineUnavailable, match="no engine can run here"):
        choose_engine("auto", ToyDetector(), device="cuda", installed=CPU_ONLY)


@pytest.mark.parametrize("requested, installed, device, expected", [
    ("tensorrt", EVERYTHING, "auto", ("tensorrt", "cuda:0")),
    ("onnxruntime", EVERYTHING, "auto", ("onnxruntime", "cuda:0")),
    ("onnxruntime", CPU_ONLY, "auto", ("onnxruntime", "cpu")),
    ("torch", EVERYTHING, "cpu", ("torch", "cpu")),
    ("torch", Installed(torch_cuda=True), "auto", ("torch", "cuda:0")),
])
def test_explicit_requests(requested, installed, device, expected):
    name, dev, reason = choose_engine(requested, ToyDetector(), device=device, installed=installed)
    assert (name, dev) == expected and reason == f"requested engine {requested}"


@pytest.mark.parametrize("requested, installed, device, message", [
    ("tensorrt", CPU_ONLY, "auto", TRT_MISSING),
    ("tensorrt", Installed(tensorrt=True), "auto", TRT_MISSING),
    ("tensorrt", EVERYTHING, "cpu", "engine 'tensorrt' runs only on an NVIDIA GPU, not on device 'cpu'"),
    ("onnxruntime", CPU_ONLY, "cuda", "needs onnxruntime-gpu (CUDAExecutionProvider); found providers "
                                      "CPUExecutionProvider: pip uninstall -y onnxruntime && pip install "
                                      "onnxruntime-gpu"),
    ("onnxruntime", Installed(onnxruntime=False), "auto", "needs the 'onnxruntime' package: pip install onnxruntime"),
    ("torch", CPU_ONLY, "cuda:0", "torch.cuda.is_available() is False"),
    ("onnxruntime", Installed(ort_providers=ORT_GPU), "cuda", "onnxruntime' on CUDA needs a visible NVIDIA GPU"),
    ("onnxruntime", Installed(onnx=False), "cpu", "needs torch and onnx to export toy to ONNX: pip install 'streamdet[torch]'"),
])
def test_unusable_requests_say_what_is_missing(requested, installed, device, message):
    with pytest.raises(EngineUnavailable) as caught:
        choose_engine(requested, ToyDetector(), device=device, installed=installed)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, RuntimeError)


def test_bad_requests():
    with pytest.raises(ValueError, match="engine must be 'auto' or one of torch, onnxruntime, tensorrt"):
        choose_engine("openvino", ToyDetector(), installed=CPU_ONLY)
    with pytest.raises(ValueError, match="engine device must be"):
        choose_engine("auto", ToyDetector(), device="tpu", installed=CPU_ONLY)


def test_probe_sees_this_machine():
    installed = probe_installed()
    assert installed.torch_cuda == torch.cuda.is_available()
    assert "CPUExecutionProvider" in installed.ort_providers and installed.onnx


def test_make_engine_logs_the_choice_and_loads(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("STREAMDET_CACHE", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="streamdet.engine"):
        engine = make_engine("auto", ToyDetector(), installed=CPU_ONLY, threads=1, max_batch=2, cuda_graph=True)
    assert (engine.name, engine.meta.device, engine.meta.max_batch) == ("onnxruntime", "cpu", 2)
    assert engine.infer(random_batch(2))["output0"].shape == (2, 6, 64)
    assert "engine onnxruntime on cpu for toy: auto: first usable" in caplog.text
    assert "engine ready: onnxruntime on cpu" in caplog.text


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_make_engine_auto_falls_back_when_loading_fails(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("STREAMDET_CACHE", str(tmp_path))
    claims_everything = Installed(torch_cuda=True, ort_providers=ORT_GPU, tensorrt=True)   # but nothing works
    with caplog.at_level(logging.INFO, logger="streamdet.engine"):
        engine = make_engine("auto", ToyDetector(), installed=claims_everything)
    assert (engine.name, engine.meta.device) == ("onnxruntime", "cpu")
    assert caplog.text.count("could not load") == 3


def test_make_engine_explicit_failure_is_not_hidden(tmp_path):
    with pytest.raises(EngineUnavailable, match="exists only as ONNX"):
        make_engine("torch", OnnxOnlyDetector(tmp_path / "m.onnx"), installed=CPU_ONLY)


def test_make_engine_rejects_unknown_options():
    with pytest.raises(TypeError, match="unknown engine option\\(s\\) hlaf"):
        make_engine("torch", ToyDetector(), installed=CPU_ONLY, hlaf=True)


def test_make_engine_without_load_returns_an_unloaded_engine():
    engine = make_engine("torch", ToyDetector(), installed=CPU_ONLY, load=False, compile=False)
    assert engine.device == "cpu" and "not loaded" in repr(engine)
