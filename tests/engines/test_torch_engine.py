"""Tests for engines/torch_engine.py on CPU, plus GPU tests (fp16, CUDA graphs, device outputs)."""
import numpy as np
import pytest
import torch

from engines.base import EngineUnavailable
from engines.torch_engine import TorchEngine
from tests.engines.engine_toys import (FP16_LOGIT_SCALE, OnnxOnlyDetector, ToyDetector, assert_same_detections, clear_threshold,
                                       random_batch, torch_reference)


def test_cpu_outputs_match_the_module():
    detector = ToyDetector(two_outputs=True)
    batch = random_batch(2)
    engine = TorchEngine(detector, device="cpu", max_batch=2).load()
    out = engine.infer(batch)
    assert list(out) == ["output0", "features"]
    for got, want in zip(out.values(), torch_reference(detector, batch)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_cpu_meta_threads_and_half_note():
    try:
        engine = TorchEngine(ToyDetector(), device="cpu", half=True, threads=2).load()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    meta = engine.meta
    assert (meta.device, meta.dtype, meta.input_shape) == ("cpu", "float32", (3, 32, 32))
    assert any("half ignored on CPU" in note for note in meta.notes)


def test_accepts_torch_tensor_batches():
    engine = TorchEngine(ToyDetector(), device="cpu").load()
    batch = random_batch(1)
    np.testing.assert_array_equal(engine.infer(torch.from_numpy(batch))["output0"],
                                  engine.infer(batch)["output0"])


def test_rejects_other_batch_types():
    engine = TorchEngine(ToyDetector(), device="cpu").load()

    class Shaped:
        shape = (1, 3, 32, 32)
    with pytest.raises(ValueError, match="must be a NumPy array, torch tensor or CuPy array"):
        engine.infer(Shaped())


def test_onnx_only_detector_is_unavailable(tmp_path):
    with pytest.raises(EngineUnavailable, match="engine 'torch' cannot run onnx-only"):
        TorchEngine(OnnxOnlyDetector(tmp_path / "m.onnx"), device="cpu").load()


def test_wrong_number_of_outputs_is_named():
    detector = ToyDetector()
    detector.output_names = ("output0", "extra")
    with pytest.raises(ValueError, match="module returned 1 outputs, expected 2"):
        TorchEngine(detector, device="cpu").load().infer(random_batch(1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_unavailable():
    with pytest.raises(EngineUnavailable, match=r"torch.cuda.is_available\(\) is False"):
        TorchEngine(ToyDetector(), device="cuda").load()


def test_auto_device_on_this_machine():
    engine = TorchEngine(ToyDetector()).load()
    assert engine.meta.device == ("cuda:0" if torch.cuda.is_available() else "cpu")


@pytest.mark.slow
def test_compiled_module_matches_eager():
    batch = random_batch(1)
    eager = TorchEngine(ToyDetector(), device="cpu").load().infer(batch)["output0"]
    compiled = TorchEngine(ToyDetector(), device="cpu", compile=True).load()
    assert any("torch.compile" in note for note in compiled.meta.notes)
    np.testing.assert_allclose(compiled.infer(batch)["output0"], eager, rtol=1e-4, atol=1e-4)


# -- GPU ---------------------------------------------------------------------------------
@pytest.mark.gpu
def test_gpu_fp16_is_close_to_cpu_fp32():
    batch = random_batch(2)
    cpu = TorchEngine(ToyDetector(), device="cpu", max_batch=2).load().infer(batch)["output0"]
    gpu = TorchEngine(ToyDetector(), device="cuda", half=True, max_batch=2).load()
    assert gpu.meta.dtype == "float16"
    np.testing.assert_allclose(gpu.infer(batch)["output0"], cpu, rtol=1e-2, atol=2e-2)


@pytest.mark.gpu
def test_cuda_graph_replay_matches_eager_for_several_inputs():
    eager = TorchEngine(ToyDetector(), device="cuda", max_batch=2).load()
    graphed = TorchEngine(ToyDetector(), device="cuda", max_batch=2, cuda_graph=True).load()
    for seed in range(3):
        batch = random_batch(2, seed=seed)
        np.testing.assert_allclose(graphed.infer(batch)["output0"], eager.infer(batch)["output0"],
                                   rtol=1e-5, atol=1e-5)
    assert len(graphed._graphs) == 1


@pytest.mark.gpu
def test_device_outputs_stay_on_the_gpu_and_survive_the_next_replay():
    engine = TorchEngine(ToyDetector(), device="cuda", cuda_graph=True).load()
    first = engine.infer_device(torch.from_numpy(random_batch(1, seed=1)).cuda())
    kept = first["output0"].clone()
    engine.infer_device(torch.from_numpy(random_batch(1, seed=2)).cuda())
    assert first["output0"].is_cuda
    assert torch.equal(first["output0"], kept)


@pytest.mark.gpu
def test_same_detections_fp16_and_fp32():
    detector, batch = ToyDetector(size=64, logit_scale=FP16_LOGIT_SCALE), random_batch(1, size=64, seed=3)
    full = TorchEngine(detector, device="cuda").load().infer(batch)
    half = TorchEngine(detector, device="cuda", half=True).load().infer(batch)
    threshold = clear_threshold(full["output0"][0, 4:])
    a = detector.decode(full, 0, conf_threshold=threshold)
    assert len(a) > 0
    assert_same_detections(a, detector.decode(half, 0, conf_threshold=threshold), atol=0.2)


@pytest.mark.parametrize("seed", [3, 4, 5])   # the seeds of the torch, ONNX Runtime and TensorRT fp16 tests
def test_the_fp16_tests_threshold_keeps_a_detection_far_from_every_score(seed):
    """On the H200 (2026-12-04) test_same_detections_fp16_and_fp32 found no fp32 detection: every
    toy score lay in 0.44-0.54 and the threshold was 0.65. Checked here on the CPU, fp16 included."""
    detector, batch = ToyDetector(size=64, logit_scale=FP16_LOGIT_SCALE), random_batch(1, size=64, seed=seed)
    full = TorchEngine(detector, device="cpu").load().infer(batch)
    scores = full["output0"][0, 4:]
    threshold = clear_threshold(scores)
    expected = detector.decode(full, 0, conf_threshold=threshold)
    assert len(expected) > 0
    with torch.inference_mode():
        half = detector.build_module().half()(torch.from_numpy(batch).half())[0].float().numpy()
    fp16_error = np.abs(half[0, 4:] - scores).max()
    assert np.abs(scores - threshold).min() > 4 * fp16_error
    assert_same_detections(expected, detector.decode({"output0": half}, 0, conf_threshold=threshold), atol=0.2)


# -- cuda_graph 'auto' (the config default) ----------------------------------------------------
def test_cuda_graph_auto_is_off_on_cpu_without_a_note():
    engine = TorchEngine(ToyDetector(), device="cpu", cuda_graph="auto").load()
    assert engine.cuda_graph is False
    assert not any("cuda_graph" in note or "CUDA graph" in note for note in engine.meta.notes)


def test_cuda_graph_takes_only_true_false_or_auto():
    with pytest.raises(ValueError, match="cuda_graph must be true, false or 'auto'"):
        TorchEngine(ToyDetector(), device="cpu", cuda_graph="sometimes")


class _Dynamic(ToyDetector):
    graph_capturable = False


@pytest.mark.parametrize("detector, compile, wanted", [(ToyDetector(), False, True), (_Dynamic(), False, False),
                                                       (ToyDetector(), True, False)])
def test_cuda_graph_auto_on_cuda_only_for_fixed_shapes_and_without_compile(detector, compile, wanted):
    engine = TorchEngine(detector, device="cpu", cuda_graph="auto", compile=compile)
    engine._maybe_compile(torch, detector.build_module(), "cuda:0", [])   # the rule alone, no CUDA touched
    assert engine.cuda_graph is wanted


def test_a_failed_capture_under_auto_falls_back_to_eager_and_says_so():
    batch = random_batch(1)
    eager = TorchEngine(ToyDetector(), device="cpu").load().infer(batch)["output0"]
    engine = TorchEngine(ToyDetector(), device="cpu", cuda_graph="auto").load()
    engine.cuda_graph = True                    # as if on CUDA: the capture fails here (no CUDA stream on a CPU)
    np.testing.assert_allclose(engine.infer(batch)["output0"], eager, rtol=1e-6)
    assert engine.cuda_graph is False and engine._graphs == {}
    assert any(note.startswith("CUDA graph capture failed, running eagerly") for note in engine.meta.notes)


def test_a_failed_capture_when_asked_for_explicitly_is_an_error():
    engine = TorchEngine(ToyDetector(), device="cpu", cuda_graph=True).load()
    engine.cuda_graph = True
    with pytest.raises(ValueError, match="Expected a cuda device"):
        engine.infer(random_batch(1))


@pytest.mark.gpu
def test_cuda_graph_auto_captures_on_cuda_and_matches_eager():
    batch = random_batch(2, seed=4)
    eager = TorchEngine(ToyDetector(), device="cuda", max_batch=2).load().infer(batch)["output0"]
    auto = TorchEngine(ToyDetector(), device="cuda", max_batch=2, cuda_graph="auto").load()
    np.testing.assert_allclose(auto.infer(batch)["output0"], eager, rtol=1e-5, atol=1e-5)
    assert auto.cuda_graph is True and len(auto._graphs) == 1


def test_warmup_with_cuda_graphs_runs_every_batch_size_so_none_is_captured_mid_run():
    engine = TorchEngine(ToyDetector(), device="cpu", max_batch=4).load()
    engine.cuda_graph = True                   # as on CUDA; _replay records instead of capturing
    seen = []

    def replay(x):
        seen.append(x.shape[0])
        return engine.module(x)
    engine._replay = replay
    engine.warmup(1)
    assert seen == [1, 2, 3, 4]


@pytest.mark.gpu
def test_warmup_captures_a_graph_per_batch_size():
    engine = TorchEngine(ToyDetector(), device="cuda", max_batch=3, cuda_graph=True).load()
    engine.warmup(1)
    assert sorted(shape[0] for shape, _ in engine._graphs) == [1, 2, 3]
