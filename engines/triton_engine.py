"""Triton engine: the inference stage's batch goes to a Triton Inference Server, raw outputs come back.

Preprocessing, decoding and publishing stay in the pipeline; only the network
runs on the server (``run_pipeline.py serve`` or NVIDIA's own image with a
repository from ``export --format triton``). At load the server's model metadata
and config are checked against the detector (one-line ValueError on a mismatch).
On this host tensors travel through Triton's system shared memory, otherwise
in the gRPC/HTTP request. A server that stops answering mid-run makes ``infer``
raise EngineOffline at once (the batch is dropped and counted, never queued)
until the next retry, spaced by an exponential backoff; the first success
re-registers the shared memory and the stream resumes.
"""
from __future__ import annotations

import collections
import logging
import socket
import time
from typing import Any

import numpy as np

from engines.base import Engine, EngineMeta, EngineOffline, EngineUnavailable
from engines.triton_check import NUMPY_TO_TRITON, model_info, raise_if_mismatch

log = logging.getLogger("streamdet.engine")
TRITONCLIENT_MISSING = ("engine 'triton' needs tritonclient: pip install 'tritonclient[grpc,http]' "
                        "(or the project's extra: pip install -e '.[triton]')")
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.1, 2.0
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def is_local_url(url: str) -> bool:
    host = url.rsplit(":", 1)[0] if url.count(":") == 1 or url.startswith("[") else url
    return host in LOOPBACK or host in {socket.gethostname(), socket.getfqdn()}


ABSENT_GRACE_S = 5.0       # how long a reachable server may not list the model before that is an error


class TritonEngine(Engine):
    name = "triton"

    def __init__(self, detector, *, device: str = "auto", half: bool = False, max_batch: int = 1,
                 threads: int = 1, url: str = "127.0.0.1:8001", model: str | None = None,
                 protocol: str = "grpc", timeout_s: float = 5.0, shared_memory: str = "auto",
                 connect_wait_s: float = 60.0, client=None, clock=time.monotonic) -> None:
        super().__init__(detector, device="cpu", half=half, max_batch=max_batch, threads=threads)
        if protocol not in ("grpc", "http"):
            raise ValueError(f"triton engine: protocol must be 'grpc' or 'http', not {protocol!r}")
        if shared_memory not in ("auto", "system", "never"):
            raise ValueError(f"triton engine: shared_memory must be auto, system or never, not {shared_memory!r}")
        if float(timeout_s) <= 0:
            raise ValueError(f"triton engine: timeout_s must be positive, got {timeout_s}")
        self.url, self.protocol, self.timeout_s = str(url), protocol, float(timeout_s)
        self.model = model or detector.name
        self.shared_memory = shared_memory
        self.connect_wait_s = float(connect_wait_s)
        self.client, self._clock = client, clock
        self._api = self._shm = self.info = None
        self._retry_at, self._backoff_s, self._register = 0.0, 0.0, False
        self.request_ms: collections.deque = collections.deque(maxlen=512)
        self.requests = self.failures = self.offline = 0

    # -- loading -------------------------------------------------------------------------
    def load(self) -> "TritonEngine":
        self._api = _client_module(self.protocol)
        if self.client is None:
            self.client = self._new_client()
        self._wait_for_model()
        metadata, config = self._model_json()
        self.info = model_info(metadata, config)
        dtype = "float16" if self.half else "float32"
        raise_if_mismatch(self.info, self.detector, self.url, max_batch=self.max_batch, dtype=dtype)
        notes = [f"server {self.url} model {self.model!r} over {self.protocol}"]
        if self.shared_memory == "system" or (self.shared_memory == "auto" and is_local_url(self.url)):
            from engines.triton_shm import SharedMemoryIO
            self._shm = SharedMemoryIO(self.info, self.max_batch, dtype, self.detector.output_names)
            self._shm.register(self.client)
            notes.append("system shared memory")
        spec = self.detector.spec
        self._meta = EngineMeta(name=self.name, device="cpu", input_name=self.info.inputs[0].name,
                                input_shape=(3, spec.height, spec.width), dtype=dtype, max_batch=self.max_batch,
                                dynamic_batch=True, output_names=tuple(self.detector.output_names), notes=notes)
        return self

    def _new_client(self):
        if self.protocol == "grpc":
            return self._api.InferenceServerClient(self.url)
        return self._api.InferenceServerClient(self.url, connection_timeout=self.timeout_s,
                                               network_timeout=self.timeout_s)

    def _wait_for_model(self) -> None:
        deadline = self._clock() + self.connect_wait_s
        absent_since = None
        while True:
            state = self._model_state()
            if state == "ready":
                break
            # a server that has just started may not list the model yet: absent for a few seconds
            absent_since = (absent_since or self._clock()) if state == "absent" else None
            if absent_since is not None and self._clock() - absent_since >= ABSENT_GRACE_S:
                break
            if self._clock() >= deadline:
                break
            time.sleep(0.5)
        if state == "ready":
            return
        if state == "unreachable":
            raise EngineUnavailable(f"triton server {self.url} ({self.protocol}) not reachable after "
                                    f"{self.connect_wait_s:g} s: start one (run_pipeline.py serve) or fix engine.url")
        served = self._served_models()
        listed = f" (served: {', '.join(served) or 'none'})" if served is not None else ""
        raise ValueError(f"triton server {self.url} has no ready model {self.model!r}{listed}: "
                         f"fix engine.model or the served name")

    def _model_state(self) -> str:
        try:
            self.client.is_server_live()
        except Exception:   # refused, timed out, DNS: the server is not there (yet)
            return "unreachable"
        try:
            if self.client.is_model_ready(self.model):
                return "ready"
        except Exception:
            pass
        served = self._served_models()
        if served is not None:
            return "loading" if self.model in served else "absent"
        try:                # no repository index (a restricted endpoint): ask for the model itself
            self.client.get_model_metadata(self.model)
        except Exception as exc:
            return "absent" if "not found" in str(exc) else "loading"
        return "loading"

    def _served_models(self) -> list[str] | None:
        try:
            index = self.client.get_model_repository_index(**self._json_flag())
        except Exception:   # restricted (PyTriton protects it) or gone
            return None
        entries = index.get("models", []) if isinstance(index, dict) else index
        return sorted(str(entry.get("name")) for entry in entries)

    def _model_json(self) -> tuple[dict, dict]:
        flag = self._json_flag()
        return self.client.get_model_metadata(self.model, **flag), self.client.get_model_config(self.model, **flag)

    def _json_flag(self) -> dict:
        return {"as_json": True} if self.protocol == "grpc" else {}

    def ready(self) -> bool:
        """Is the model ready on the server now? (for the pipeline's /ready)."""
        try:
            return self.client is not None and bool(self.client.is_model_ready(self.model))
        except Exception:
            return False

    def close(self) -> None:
        if self._shm is not None:
            self._shm.close(self.client)
            self._shm = None
        if self.client is not None and hasattr(self.client, "close"):
            try:
                self.client.close()
            except Exception:
                pass
        self.client = None
        super().close()

    def warmup(self, iters: int = 1) -> None:
        """One request per batch size; a server that is down now is not a start-up failure."""
        try:
            super().warmup(iters)
        except EngineOffline as exc:
            log.warning("triton warm-up skipped: %s", exc)

    # -- running -------------------------------------------------------------------------
    def _infer_host(self, batch: Any) -> dict[str, Any]:
        now = self._clock()
        if now < self._retry_at:
            self.offline += len(batch)
            raise EngineOffline(f"triton server {self.url} is unreachable: batch dropped, retry in "
                                f"{self._retry_at - now:.2f} s")
        started = time.perf_counter()
        try:
            outputs = self._request(np.ascontiguousarray(batch, dtype=np.dtype(self.meta.dtype)))
        except Exception as exc:   # refused, deadline, server-side error: all mean "not now"
            self._failed(exc, len(batch))
            raise EngineOffline(f"triton server {self.url}: {first_line(exc)}") from None
        self.request_ms.append((time.perf_counter() - started) * 1e3)
        self.requests += 1
        if self._backoff_s:
            log.warning("triton server %s answers again; %d frame(s) were dropped meanwhile", self.url, self.offline)
        self._backoff_s = 0.0
        return outputs

    def _failed(self, exc: Exception, frames: int) -> None:
        self.failures += 1
        self.offline += frames
        if not self._backoff_s:
            log.warning("triton server %s failed (%s): dropping frames, retrying with backoff",
                        self.url, first_line(exc))
        self._backoff_s = min(BACKOFF_MAX_S, self._backoff_s * 2 or BACKOFF_FIRST_S)
        self._retry_at = self._clock() + self._backoff_s
        self._register = self._shm is not None   # a restarted server has forgotten our regions

    def _request(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        api = self._api
        if self._register:
            self._shm.register(self.client)
            self._register = False
        infer_input = api.InferInput(self.meta.input_name, list(batch.shape), NUMPY_TO_TRITON[batch.dtype.name])
        binary = {} if self.protocol == "grpc" else {"binary_data": True}
        requested = {name: api.InferRequestedOutput(name, **binary) for name in self.meta.output_names}
        if self._shm is not None:
            self._shm.bind(batch, infer_input, requested)
        else:
            infer_input.set_data_from_numpy(batch, **binary)
        timeout = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}
        result = self.client.infer(self.model, [infer_input], outputs=list(requested.values()), **timeout)
        outputs = {}
        for name in self.meta.output_names:
            value = self._shm.read(name, len(batch)) if self._shm is not None else None
            outputs[name] = result.as_numpy(name) if value is None else value
        return outputs

    def stats(self) -> dict[str, float]:
        """Counters for the stage's metrics: requests, failures, frames dropped offline, request time."""
        times = sorted(self.request_ms)
        p50 = times[len(times) // 2] if times else 0.0
        return {"requests": self.requests, "request_failures": self.failures, "offline": self.offline,
                "request_ms_p50": round(p50, 3)}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def triton_options(config: dict) -> dict:
    """Engine keyword arguments from a run config's plain dict (engine and transport sections)."""
    engine, transport = config["engine"], config.get("transport", {})
    never = transport.get("shared_memory", "auto") == "never"
    return {"url": engine["url"], "model": engine["model"] or config["model"]["name"],
            "protocol": engine["protocol"], "timeout_s": engine["timeout_s"],
            "shared_memory": "never" if never else "auto"}


def _client_module(protocol: str):
    try:
        if protocol == "grpc":
            import tritonclient.grpc as api
        else:
            import tritonclient.http as api
    except ImportError:
        raise EngineUnavailable(TRITONCLIENT_MISSING) from None
    return api
