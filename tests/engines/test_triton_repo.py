"""``export --format triton``: the repository parses as Triton's ModelConfig and the real server accepts it.

The server bundled with PyTriton has only the Python backend, so it cannot run
the ONNX model; it does read and validate config.pbtxt before it looks for the
backend, so "unable to find backend library for backend 'onnxruntime'" means
the configuration itself was accepted (a broken one fails earlier, as the
control case shows).
"""
import shutil
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

from engines.detectors import make_detector
from engines.triton_repo import write_repository

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    out = tmp_path_factory.mktemp("triton_repo")
    folder = write_repository(make_detector("yolo"), out, max_batch=8, max_queue_delay_us=1500)
    return out, folder


def parsed(folder):
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def test_layout_and_config_parse_as_model_config(repo):
    out, folder = repo
    assert folder == out / "yolo" and (folder / "1" / "model.onnx").is_file()
    config = parsed(folder)
    assert config.name == "yolo" and config.backend == "onnxruntime" and config.max_batch_size == 8
    assert config.dynamic_batching.max_queue_delay_microseconds == 1500
    assert [(t.name, list(t.dims), t.data_type) for t in config.input] == [
        ("images", [3, 320, 320], model_config_pb2.TYPE_FP32)]
    assert [t.name for t in config.output] == ["output0"]
    assert not config.optimization.execution_accelerators.gpu_execution_accelerator


def test_config_dims_match_what_the_onnx_file_computes(repo):
    _, folder = repo
    config = parsed(folder)
    session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"images": np.zeros((3, 3, 320, 320), np.float32)})   # dynamic batch axis
    assert [list(t.dims) for t in config.output] == [list(o.shape[1:]) for o in outputs]
    assert all(o.shape[0] == 3 for o in outputs)


def test_tensorrt_block(tmp_path):
    folder = write_repository(make_detector("yolo"), tmp_path, name="yolo_trt", tensorrt=True, half=True)
    config = parsed(folder)
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    assert config.input[0].data_type == model_config_pb2.TYPE_FP16


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="max_batch"):
        write_repository(make_detector("yolo"), tmp_path, max_batch=0)


def _load_with_tritonserver(repository) -> str:
    from tests.helpers.triton import free_ports, tritonserver_binary
    binary, backends = tritonserver_binary()
    http, grpc, metrics = free_ports(3)
    run = subprocess.run([str(binary), f"--model-repository={repository}", f"--backend-directory={backends}",
                          f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}",
                          "--exit-timeout-secs=2"], capture_output=True, text=True, timeout=120)
    return run.stdout + run.stderr


@pytest.mark.slow
def test_the_real_server_accepts_the_config_and_asks_only_for_the_onnxruntime_backend(repo, tmp_path):
    out, folder = repo
    log = _load_with_tritonserver(out)
    assert "unable to find backend library for backend 'onnxruntime'" in log, log[-3000:]
    assert "failed to read text proto" not in log and "Poll failed" not in log
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken / "yolo")
    text = (broken / "yolo" / "config.pbtxt").read_text()
    (broken / "yolo" / "config.pbtxt").write_text(text.replace("max_batch_size: 8", "max_batch_size: -3"))
    assert "'max_batch_size' must be non-negative" in _load_with_tritonserver(broken)
