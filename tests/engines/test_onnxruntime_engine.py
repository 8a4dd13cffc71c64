"""Tests for engines/onnxruntime_engine.py: parity with PyTorch on CPU, session settings, IO binding.

Parity tolerance for fp32 on CPU: atol 1e-4, rtol 1e-3 (ORT fuses batch norm into
the convolutions, which reorders float sums). GPU tests need onnxruntime-gpu.
"""
import numpy as np
import onnxruntime as ort
import pytest
import torch

from engines.base import EngineUnavailable
from engines.onnx_export import export_onnx
from engines.onnxruntime_engine import OnnxRuntimeEngine
from tests.engines.engine_toys import (FP16_LOGIT_SCALE, OnnxOnlyDetector, ToyDetector, assert_same_detections, clear_threshold,
                                       random_batch, torch_reference)

ATOL, RTOL = 1e-4, 1e-3
HAS_CUDA_EP = "CUDAExecutionProvider" in ort.get_available_providers()


def _engine(detector, tmp_path, **options):
    return OnnxRuntimeEngine(detector, device=options.pop("device", "cpu"), cache_root=tmp_path, **options).load()


@pytest.mark.parametrize("batch_size", [1, 3])
def test_parity_with_pytorch_on_cpu(tmp_path, batch_size):
    detector = ToyDetector(two_outputs=True)
    batch = random_batch(batch_size, seed=batch_size)
    out = _engine(detector, tmp_path, max_batch=4).infer(batch)
    for got, want in zip(out.values(), torch_reference(detector, batch)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_session_is_tuned_for_a_shared_cpu(tmp_path):
    engine = _engine(ToyDetector(), tmp_path, threads=1)
    options = engine.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert engine.meta.providers == ("CPUExecutionProvider",)


def test_meta_static_and_dynamic_batch(tmp_path):
    single = _engine(ToyDetector(), tmp_path)
    assert (single.meta.max_batch, single.meta.dynamic_batch) == (1, False)
    multi = _engine(ToyDetector(), tmp_path, max_batch=4)
    assert (multi.meta.max_batch, multi.meta.dynamic_batch) == (4, True)
    assert multi.meta.input_name == "images" and multi.meta.output_names == ("output0",)


def test_io_binding_path_matches_plain_run(tmp_path):
    detector, batch = ToyDetector(two_outputs=True), random_batch(2)
    plain = _engine(detector, tmp_path, max_batch=2).infer(batch)
    bound = _engine(detector, tmp_path, max_batch=2, io_binding=True).infer(batch)
    for name in plain:
        np.testing.assert_array_equal(plain[name], bound[name])


def test_half_is_ignored_on_cpu(tmp_path):
    engine = _engine(ToyDetector(), tmp_path, half=True)
    assert engine.meta.dtype == "float32"
    assert any("half ignored on CPU" in note for note in engine.meta.notes)


def test_onnx_only_detector_with_fixed_batch_runs_item_by_item(tmp_path):
    path = export_onnx(ToyDetector(), tmp_path / "fixed.onnx", batch=1)
    batch = random_batch(3)
    engine = _engine(OnnxOnlyDetector(path), tmp_path, max_batch=3)
    assert any("image by image" in note for note in engine.meta.notes)
    np.testing.assert_allclose(engine.infer(batch)["output0"], torch_reference(ToyDetector(), batch)[0],
                               rtol=RTOL, atol=ATOL)
    bound = _engine(OnnxOnlyDetector(path), tmp_path, max_batch=3, io_binding=True)
    assert bound.infer(batch)["output0"].shape == (3, 6, 64)


def test_model_input_size_must_match_the_detector(tmp_path):
    path = export_onnx(ToyDetector(size=64), tmp_path / "big.onnx")
    with pytest.raises(ValueError, match=r"expected \(B, 3, 32, 32\) from onnx-only"):
        _engine(OnnxOnlyDetector(path, size=32), tmp_path)


def test_missing_output_is_named(tmp_path):
    path = export_onnx(ToyDetector(), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"missing \['boxes'\]"):
        _engine(OnnxOnlyDetector(path, output_names=("boxes",)), tmp_path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.onnx does not exist"):
        _engine(OnnxOnlyDetector(tmp_path / "nothere.onnx"), tmp_path)


@pytest.mark.skipif(HAS_CUDA_EP, reason="onnxruntime-gpu is installed")
def test_cuda_without_onnxruntime_gpu_says_how_to_install(tmp_path):
    with pytest.raises(EngineUnavailable, match="needs onnxruntime-gpu .*pip install onnxruntime-gpu"):
        _engine(ToyDetector(), tmp_path, device="cuda")


# -- GPU (onnxruntime-gpu) -----------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA_EP, reason="needs onnxruntime-gpu")
def test_gpu_io_binding_keeps_outputs_on_device(tmp_path):
    engine = _engine(ToyDetector(), tmp_path, device="cuda", max_batch=2)
    assert engine.meta.providers[0] == "CUDAExecutionProvider"
    out = engine.infer_device(torch.from_numpy(random_batch(2)).cuda())
    assert out["output0"].is_cuda and tuple(out["output0"].shape) == (2, 6, 64)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA_EP, reason="needs onnxruntime-gpu")
def test_gpu_matches_cpu_and_fp16_gives_the_same_detections(tmp_path):
    detector, batch = ToyDetector(size=64, logit_scale=FP16_LOGIT_SCALE), random_batch(1, size=64, seed=5)
    cpu = _engine(detector, tmp_path).infer(batch)
    gpu = _engine(detector, tmp_path, device="cuda").infer(batch)
    np.testing.assert_allclose(gpu["output0"], cpu["output0"], rtol=RTOL, atol=1e-3)
    half = _engine(detector, tmp_path, device="cuda", half=True)
    assert half.meta.dtype == "float16"
    threshold = clear_threshold(cpu["output0"][0, 4:])
    expected = detector.decode(cpu, 0, conf_threshold=threshold)
    assert len(expected) > 0
    assert_same_detections(expected, detector.decode(half.infer(batch), 0, conf_threshold=threshold), atol=0.2)
