"""The config schema: every section, key, accepted type, default and allowed value (and ConfigError).

Kept apart from the loader (pipeline/config.py) so modules the loader calls into
(pipeline/source_list.py) can read the schema without importing the loader.
"""
from __future__ import annotations

from pipeline.tracking.settings import TRACKER_SCHEMA
from pipeline.transport import POLICIES

ANY_NUMBER = (int, float)
OPT_STR, OPT_INT, OPT_NUM = (str, type(None)), (int, type(None)), (int, float, type(None))

# key -> (accepted types, default, allowed values or None)
SCHEMA: dict[str, dict[str, tuple]] = {
    "source": {
        "uri": ((str, int), "synthetic", None),       # synthetic | webcam index | URL | file | folder
        "width": (int, 640, None), "height": (int, 480, None),
        "fps": (ANY_NUMBER, 30.0, None),
        "seed": (int, 0, None),
        "streams": (int, 1, None),                   # synthetic: K streams (seeds seed..seed+K-1)
        "realtime": ((bool, type(None)), None, None),  # pace to fps; None: synthetic paced, files/folders not
        "live": ((bool, type(None)), None, None),    # None: webcam/network/paced synthetic live, others not
        "max_frames": (OPT_INT, None, None),
        "loop": (bool, False, None),
        "stall_timeout_s": (ANY_NUMBER, 5.0, None),
        "frame_step": (int, 1, None),                # synthetic only: emit every Nth frame (simulated drops)
        "passers": (bool, False, None),              # synthetic only: add objects that enter, cross and leave
    },
    "model": {
        "name": (str, "yolo", None),
        "size": (OPT_STR, None, None),
        "weights": (OPT_STR, None, None),
        "conf_threshold": (ANY_NUMBER, 0.25, None),
        "iou_threshold": (ANY_NUMBER, 0.45, None),
        "max_det": (int, 100, None),
    },
    "engine": {
        "name": (str, "auto", ("auto", "torch", "onnxruntime", "tensorrt", "triton")),
        "device": (str, "auto", None),
        "half": (bool, False, None),
        "threads": ((int, str), "auto", None),     # auto: measured at engine load (engines/threads.py)
        "spinning": ((bool, type(None)), None, None),  # onnxruntime: null = measured with threads auto, else off
        "parallel": ((int, str), "auto", None),    # onnxruntime CPU: batches run side by side when more wait
        "max_batch": (int, 1, None),
        "batch_wait_ms": (ANY_NUMBER, 2.0, None),
        "preprocess_on": (str, "auto", ("auto", "cpu", "gpu", "inference")),  # where frames are letterboxed (README)
        "compile": (bool, False, None),              # torch engine: torch.compile
        "cuda_graph": ((bool, str), "auto", (True, False, "auto")),  # torch engine: CUDA-graph replay (auto: on CUDA)
        "tensorrt_ep": (bool, False, None),          # onnxruntime engine: try the TensorRT execution provider
        "url": (str, "127.0.0.1:8001", None),        # triton engine: server HOST:PORT (gRPC 8001, HTTP 8000)
        "model": (OPT_STR, None, None),              # triton engine: served model name (None: model.name)
        "protocol": (str, "grpc", ("grpc", "http")),  # triton engine
        "timeout_s": (ANY_NUMBER, 5.0, None),        # triton engine: one request's deadline
    },
    "transport": {
        "mode": (str, "ipc", ("ipc", "tcp")),
        "policy": (str, "auto", ("auto",) + POLICIES),
        "hwm": (int, 4, None),
        "slots": (int, 8, None),                     # shared-memory slots per ring: frames in flight per hop
        "live_inflight": (int, 1, None),             # live stream: frames a capture lets be in flight up to inference
        "allow_remote": (bool, False, None),
        "endpoints": (dict, {}, None),               # stage -> endpoint it binds (overrides)
        "base_port": (int, 5600, None),              # tcp mode: stage ports from here
        "shared_memory": (str, "auto", ("auto", "never")),   # never: arrays ride ZeroMQ (hosts share no memory)
    },
    "publish": {
        "endpoint": (str, "tcp://127.0.0.1:5556", None),
        "encoding": (str, "json", ("json", "msgpack")),
        "mqtt": ((dict, type(None)), None, None),    # MQTT sink (pipeline/sinks/mqtt_settings.py); None: off
    },
    "sinks": {
        "jsonl": (OPT_STR, None, None),
        "video": (OPT_STR, None, None),
        "status": (bool, True, None),
        "summary_plot": (OPT_STR, None, None),       # latency-over-time PNG per stream (pipeline/sinks/summary_plot.py)
    },
    "branch": {                                      # the side branch (docs: README, pipeline/branch.py)
        "model": (OPT_STR, None, None),              # None: no side branch; e.g. maskrcnn
        "size": (OPT_STR, None, None),
        "weights": (OPT_STR, None, None),
        "engine": (str, "auto", ("auto", "torch", "onnxruntime", "tensorrt")),
        "device": (str, "auto", None),
        "threads": (int, 1, None),
        "conf_threshold": (ANY_NUMBER, 0.5, None),
        "every_n": (int, 0, None),                   # every Nth frame of a stream (0: off)
        "classes": (list, [], None),                 # fast-path class ids or labels that trigger it
        "low_confidence": (OPT_NUM, None, None),     # a fast-path detection scored below this triggers it
        "request_endpoint": (OPT_STR, None, None),   # subscribers PUSH a stream name: its next frame goes
    },
    "security": {                                    # CURVE on every tcp socket (pipeline/security.py)
        "curve": (OPT_STR, None, None),              # key directory written by run_pipeline.py keys --out DIR
        "insecure": (bool, False, None),             # true: allow listening beyond loopback without CURVE
    },
    "api": {                                         # the HTTP control API (docs: README, pipeline/api/)
        "enabled": (bool, True, None),               # run_pipeline.py run serves it unless --no-api
        "host": (str, "127.0.0.1", None),            # beyond loopback: transport.allow_remote and token
        "port": (int, 8780, None),
        "token": (OPT_STR, None, None),              # bearer token checked on every request
        "preview_fps": (ANY_NUMBER, 10, None),       # MJPEG preview rate (pipeline/api/preview.py)
    },
    "supervisor": {
        "max_restarts": (int, 5, None),
        "stop_timeout_s": (ANY_NUMBER, 5.0, None),
        "ready_timeout_s": (ANY_NUMBER, 900.0, None),    # model loading; a TensorRT build takes minutes
        "stages": (list, [], None),                  # run only these here (others on other hosts); [] = all
        "standby": (bool, False, None),              # a warm spare per model stage: restarts in milliseconds
    },
    "tracker": TRACKER_SCHEMA,                       # pipeline/tracking/settings.py
}
STAGE_ENDPOINT_KEYS = ("preprocess", "inference", "postprocess", "sink", "branch")


class ConfigError(ValueError):
    pass


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)
