"""``run_pipeline.py serve``: bad input in one line, the served ONNX described without torch."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from engines.triton_model import OnnxModel
from engines.triton_serve import check_serve_args

REPO = Path(__file__).resolve().parents[2]


def serve_args(**changes):
    args = dict(max_batch=8, max_queue_delay_us=2000, threads=1, address="127.0.0.1", allow_remote=False, device="cpu",
                grpc_port=8001, http_port=8000, metrics_port=8002)
    return SimpleNamespace(**{**args, **changes})


@pytest.mark.parametrize("changes, fragment", [
    ({"address": "0.0.0.0"}, "--allow-remote"), ({"max_batch": 0}, "--max-batch"),
    ({"grpc_port": 70000}, "port 70000"), ({"max_queue_delay_us": -1}, "--max-queue-delay-us"),
])
def test_bad_serve_options(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        check_serve_args(serve_args(**changes))
    check_serve_args(serve_args(address="0.0.0.0", allow_remote=True))   # said explicitly: allowed


def _serve_cli(*args, env=None):
    return subprocess.run([sys.executable, str(REPO / "run_pipeline.py"), "serve", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_remote_address_without_allow_remote_is_one_line_exit_2():
    result = _serve_cli("--address", "0.0.0.0")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "--allow-remote" in result.stderr


def test_no_triton_interpreter_says_how_to_make_one(tmp_path):
    pytest.importorskip("torch")
    if __import__("importlib").util.find_spec("pytriton") is not None:
        pytest.skip("pytriton is importable here: serve would run in this interpreter")
    result = _serve_cli(env={"STREAMDET_TRITON_PYTHON": str(tmp_path / "none")})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines[-1].startswith("error:") and ".venv-triton" in lines[-1], result.stderr


def test_onnx_model_reads_input_size_and_outputs(tmp_path):
    from engines.detectors import make_detector
    from engines.onnx_export import export_onnx
    path = export_onnx(make_detector("centernet"), tmp_path / "c.onnx", batch=1, dynamic_batch=True)
    model = OnnxModel.from_file(path, "centernet")
    assert (model.spec.height, model.spec.width) == (320, 320) and model.output_names == ("hm", "wh", "reg")
    with pytest.raises(FileNotFoundError):
        OnnxModel.from_file(tmp_path / "missing.onnx", "x")


def test_serve_imports_no_torch_in_the_triton_interpreter():
    from engines.triton_serve import triton_python
    python = triton_python()
    if python is None:
        pytest.skip("no Triton interpreter (.venv-triton): .ci/test.sh builds it")
    code = ("import sys, run_pipeline, engines.triton_serve, engines.triton_model, engines.onnxruntime_engine; "
            "run_pipeline.build_parser(); assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([str(python), "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
