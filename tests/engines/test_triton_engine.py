"""Triton engine against a fake client: start-up checks, backoff while the server is down, counters.

The real server is exercised in test_triton_server.py; here every branch runs
without one, with a clock the test moves (no timing).
"""
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("tritonclient.grpc")

from engines.base import EngineOffline, EngineUnavailable  # noqa: E402
from engines.core.spec import PreprocessSpec  # noqa: E402
from engines.triton_engine import BACKOFF_MAX_S, TritonEngine, is_local_url, triton_options  # noqa: E402

DETECTOR = SimpleNamespace(name="yolo", spec=PreprocessSpec(height=32, width=32), output_names=("output0",))


class FakeClient:
    def __init__(self, *, models=("yolo",), dims=(3, 32, 32), live=True):
        self.models, self.dims, self.live = list(models), dims, live
        self.down = False
        self.infer_calls = 0
        self.registered: list[str] = []

    def _check_live(self):
        if not self.live:
            raise ConnectionRefusedError("connection refused")

    def is_server_live(self):
        self._check_live()
        return True

    def is_model_ready(self, name):
        self._check_live()
        return name in self.models

    def get_model_repository_index(self, as_json=False):
        return {"models": [{"name": name} for name in self.models]}

    def get_model_metadata(self, name, as_json=False):
        return {"name": name, "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, *self.dims]}],
                "outputs": [{"name": "output0", "datatype": "FP32", "shape": [-1, 6, 4]}]}

    def get_model_config(self, name, as_json=False):
        return {"config": {"name": name, "max_batch_size": 4}}

    def infer(self, model, inputs, outputs=None, client_timeout=None):
        self.infer_calls += 1
        if self.down:
            raise ConnectionRefusedError("connection refused")
        batch = len(inputs[0].shape() and range(inputs[0].shape()[0]))
        return SimpleNamespace(as_numpy=lambda name: np.full((batch, 6, 4), 2.0, np.float32))

    def register_system_shared_memory(self, name, key, size):
        self.registered.append(name)

    def unregister_system_shared_memory(self, name):
        pass


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def engine(client, **kwargs):
    clock = Clock()
    eng = TritonEngine(DETECTOR, max_batch=4, client=client, clock=clock, shared_memory="never",
                       connect_wait_s=0, **kwargs)
    return eng, clock


def test_loads_and_returns_the_servers_outputs():
    eng, _ = engine(FakeClient())
    eng.load()
    out = eng.infer(np.zeros((3, 3, 32, 32), np.float32))
    assert out["output0"].shape == (3, 6, 4) and float(out["output0"][0, 0, 0]) == 2.0
    assert eng.meta.name == "triton" and eng.meta.max_batch == 4 and "127.0.0.1:8001" in eng.meta.describe()
    assert eng.ready() and eng.stats()["requests"] == 1


def test_shape_mismatch_is_a_one_line_value_error():
    eng, _ = engine(FakeClient(dims=(3, 64, 64)))
    with pytest.raises(ValueError, match="3x64x64, yolo needs 3x32x32") as caught:
        eng.load()
    assert "\n" not in str(caught.value)


def test_unknown_model_name_lists_what_is_served():
    eng, _ = engine(FakeClient(models=("centernet",)), model="yolov9")
    with pytest.raises(ValueError, match=r"no ready model 'yolov9' \(served: centernet\)"):
        eng.load()


def test_unreachable_server_at_start_is_engine_unavailable():
    eng, _ = engine(FakeClient(live=False))
    with pytest.raises(EngineUnavailable, match="not reachable"):
        eng.load()
    assert not eng.ready()


def test_server_down_drops_batches_with_backoff_and_resumes():
    client = FakeClient()
    eng, clock = engine(client)
    eng.load()
    batch = np.zeros((2, 3, 32, 32), np.float32)
    client.down = True
    with pytest.raises(EngineOffline):
        eng.infer(batch)                      # tried, failed: backoff starts
    calls = client.infer_calls
    with pytest.raises(EngineOffline, match="retry in"):
        eng.infer(batch)                      # inside the backoff: dropped without a request
    assert client.infer_calls == calls
    waits = []
    for _ in range(8):                        # every retry fails: the wait doubles up to the cap
        clock.now = eng._retry_at
        with pytest.raises(EngineOffline):
            eng.infer(batch)
        waits.append(round(eng._retry_at - clock.now, 3))
    assert waits[0] == 0.2 and waits[-1] == BACKOFF_MAX_S and waits == sorted(waits)
    client.down = False
    clock.now = eng._retry_at
    assert eng.infer(batch)["output0"].shape == (2, 6, 4)
    stats = eng.stats()
    assert stats["offline"] == 2 * 10 and stats["request_failures"] == 9 and stats["requests"] == 1
    clock.now += 0.01
    eng.infer(batch)                          # no backoff after a success
    assert eng.stats()["requests"] == 2


def test_warmup_with_the_server_down_is_not_a_start_failure():
    client = FakeClient()
    eng, _ = engine(client)
    eng.load()
    client.down = True
    eng.warmup()
    assert eng.stats()["request_failures"] == 1


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="protocol"):
        TritonEngine(DETECTOR, protocol="udp")
    with pytest.raises(ValueError, match="timeout_s"):
        TritonEngine(DETECTOR, timeout_s=0)


@pytest.mark.parametrize("url, local", [("127.0.0.1:8001", True), ("localhost:8001", True), ("[::1]:8001", True),
                                        ("10.1.2.3:8001", False), ("gpu-host.example:8001", False)])
def test_shared_memory_only_for_this_host(url, local):
    assert is_local_url(url) is local


def test_options_from_config():
    from pipeline import config
    cfg = config.override(config.load(None), {"engine.name": "triton", "engine.url": "10.0.0.2:8001",
                                              "engine.protocol": "http", "transport.shared_memory": "never"})
    assert triton_options(cfg) == {"url": "10.0.0.2:8001", "model": "yolo", "protocol": "http",
                                   "timeout_s": 5.0, "shared_memory": "never"}
    with pytest.raises(config.ConfigError, match="engine.protocol"):
        config.override(cfg, {"engine.protocol": "udp"})


def test_select_accepts_triton_on_the_client_side():
    from engines.select import Installed, choose_engine
    name, device, _ = choose_engine("triton", DETECTOR, installed=Installed())
    assert (name, device) == ("triton", "cpu")


class Recorder:
    def __init__(self):
        self.calls = []

    def set_shared_memory(self, region, nbytes):
        self.calls.append((region, nbytes))


def test_shared_memory_regions_carry_input_and_decoded_outputs_only():
    import tritonclient.utils.shared_memory as shm
    from engines.triton_check import model_info
    from engines.triton_shm import SharedMemoryIO
    client = FakeClient()
    metadata = client.get_model_metadata("yolo")
    metadata["outputs"].append({"name": "features", "datatype": "FP32", "shape": [-1, 8]})   # not decoded
    io = SharedMemoryIO(model_info(metadata, client.get_model_config("yolo")), 4, "float32", ("output0",))
    try:
        io.register(client)
        assert len(client.registered) == 2                       # input + output0, not features
        batch = np.arange(2 * 3 * 32 * 32, dtype=np.float32).reshape(2, 3, 32, 32)
        infer_input, requested = Recorder(), {"output0": Recorder()}
        io.bind(batch, infer_input, requested)
        assert infer_input.calls[0][1] == batch.nbytes and requested["output0"].calls[0][1] == 2 * 6 * 4 * 4
        _, _, in_handle = io.regions["images"]
        np.testing.assert_array_equal(shm.get_contents_as_numpy(in_handle, np.float32, [2, 3, 32, 32]), batch)
        _, _, out_handle = io.regions["output0"]
        written = np.full((2, 6, 4), 7.0, np.float32)            # what the server would write
        shm.set_shared_memory_region(out_handle, [written])
        np.testing.assert_array_equal(io.read("output0", 2), written)
        assert io.read("features", 2) is None
    finally:
        io.close(client)
    assert io.regions == {}


def test_triton_pipelines_preprocess_on_the_client_cpu():
    from pipeline.stages.gpu_preprocess import letterbox_in_inference
    assert not letterbox_in_inference({"name": "triton", "device": "cuda:0", "preprocess_on": "gpu"})
    assert letterbox_in_inference({"name": "onnxruntime", "device": "cuda:0", "preprocess_on": "gpu"})
