"""The Triton engine against a real server started by ``run_pipeline.py serve`` (PyTriton, ONNX Runtime inside)."""
import numpy as np
import pytest

from engines.base import EngineOffline
from engines.detectors import make_detector
from engines.select import make_engine
from tests.helpers.triton import ServeProcess, require_triton

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_triton()
    serve = ServeProcess("--max-batch", "4", log=tmp_path_factory.mktemp("serve") / "serve.log").start()
    yield serve
    serve.stop()


@pytest.fixture(scope="module")
def detector():
    return make_detector("yolo")


@pytest.fixture(scope="module")
def batch_and_reference(detector):
    batch = np.random.default_rng(3).random((3, 3, 320, 320), dtype=np.float32)
    with make_engine("onnxruntime", detector, device="cpu", max_batch=4) as local:
        return batch, local.infer(batch)


@pytest.mark.parametrize("protocol, shared_memory", [("grpc", "auto"), ("grpc", "never"), ("http", "auto")])
def test_outputs_equal_the_local_engine(server, detector, batch_and_reference, protocol, shared_memory):
    batch, reference = batch_and_reference
    url = server.url if protocol == "grpc" else f"127.0.0.1:{server.http}"
    with make_engine("triton", detector, max_batch=4, url=url, protocol=protocol,
                     shared_memory=shared_memory) as engine:
        assert ("system shared memory" in engine.meta.describe()) is (shared_memory == "auto")
        assert engine.ready()
        for size in (1, 3):
            out = engine.infer(batch[:size])
            np.testing.assert_allclose(out["output0"], reference["output0"][:size], rtol=1e-4, atol=1e-4)
        assert engine.stats()["requests"] == 2 and engine.stats()["request_ms_p50"] > 0


def test_wrong_model_or_shape_is_a_one_line_value_error(server):
    with pytest.raises(ValueError, match="lack") as caught:
        make_engine("triton", make_detector("centernet"), url=server.url, model="yolo")
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="no ready model 'nope'"):
        make_engine("triton", make_detector("yolo"), url=server.url, model="nope", connect_wait_s=5)
    with pytest.raises(ValueError, match="max_batch_size is 4, engine.max_batch is 8"):
        make_engine("triton", make_detector("yolo"), url=server.url, max_batch=8)


def test_server_killed_and_restarted_engine_resumes_with_shared_memory(tmp_path, detector, batch_and_reference):
    batch, reference = batch_and_reference
    serve = ServeProcess("--max-batch", "4", log=tmp_path / "serve.log").start()
    try:
        engine = make_engine("triton", detector, max_batch=4, url=serve.url, timeout_s=2)
        assert "system shared memory" in engine.meta.describe()
        engine.infer(batch[:1])
        serve.kill()
        with pytest.raises(EngineOffline):
            engine.infer(batch[:1])
        assert not engine.ready()
        serve.start()
        out = _first_success(engine, batch[:2])
        np.testing.assert_allclose(out["output0"], reference["output0"][:2], rtol=1e-4, atol=1e-4)
        assert engine.stats()["offline"] >= 1 and engine.ready()
        engine.close()
    finally:
        serve.stop()


def _first_success(engine, batch, tries: int = 400):
    """Call until the engine answers again (each EngineOffline is a dropped batch)."""
    import time
    for _ in range(tries):
        try:
            return engine.infer(batch)
        except EngineOffline:
            time.sleep(0.1)
    raise AssertionError(f"engine did not resume: {engine.stats()}")
