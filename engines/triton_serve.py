"""``run_pipeline.py serve``: host a detector's network in a Triton server (PyTriton), our engines inside.

Triton's dynamic batcher merges the requests of every pipeline that runs
``--engine triton`` against it into batches of up to ``--max-batch`` (waiting at
most ``--max-queue-delay-us``); each batch runs on one of our engines
(ONNX Runtime by default, torch or TensorRT). PyTriton's bundled server works
only from an interpreter matching its Python backend stub (Debian's
/usr/bin/python3 3.11 here, see README): when this interpreter cannot import
pytriton, the ONNX file is prepared here (torch exports it) and ``serve`` runs
again under the Triton interpreter ($STREAMDET_TRITON_PYTHON or
<repo>/.venv-triton/bin/python). Nothing listens beyond 127.0.0.1 unless
``--address`` and ``--allow-remote`` say so.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
from pathlib import Path

from engines.base import EngineUnavailable, engine_class

log = logging.getLogger("streamdet.serve")
REPO = Path(__file__).resolve().parent.parent
NO_TRITON_PYTHON = ("serve needs nvidia-pytriton in an interpreter that its bundled server can run (Debian's "
                    "/usr/bin/python3): /usr/bin/python3 -m venv .venv-triton && .venv-triton/bin/pip install "
                    "-c .ci/constraints-triton.txt -r .ci/requirements-triton.txt, or set STREAMDET_TRITON_PYTHON")


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="yolo", help="detector: yolo, centernet (default yolo)")
    p.add_argument("--size", help="model size (default: the shipped one)")
    p.add_argument("--weights", help="weights: .pt checkpoint or .onnx file (default: shipped)")
    p.add_argument("--engine", default="onnxruntime", choices=["onnxruntime", "torch", "tensorrt"],
                   help="engine that runs each batch inside the server (default onnxruntime)")
    p.add_argument("--device", default="cpu", help="engine device: cpu or cuda:N (default cpu)")
    p.add_argument("--threads", type=int, default=1, help="engine threads on CPU (default 1)")
    p.add_argument("--name", help="served model name (default: --model)")
    p.add_argument("--address", default="127.0.0.1", help="address the server listens on (default 127.0.0.1)")
    p.add_argument("--allow-remote", action="store_true", help="allow an --address beyond loopback")
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--max-batch", type=int, default=8, help="Triton max_batch_size (default 8)")
    p.add_argument("--max-queue-delay-us", type=int, default=2000,
                   help="dynamic batcher: longest wait to fill a batch, microseconds (default 2000)")


def check_serve_args(args) -> None:
    if args.max_batch < 1 or args.max_queue_delay_us < 0 or args.threads < 1:
        raise ValueError("serve: --max-batch and --threads must be >= 1, --max-queue-delay-us >= 0")
    if args.address not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        raise ValueError(f"serve: --address {args.address} listens beyond this host: add --allow-remote")
    if args.device != "cpu" and importlib.util.find_spec("torch") is None and importlib.util.find_spec("pytriton"):
        raise EngineUnavailable(f"serve --device {args.device}: the engines' CUDA paths need torch (and "
                                f"onnxruntime-gpu or tensorrt) in the Triton interpreter {sys.executable}")
    for port in (args.grpc_port, args.http_port, args.metrics_port):
        if not 0 < port < 65536:
            raise ValueError(f"serve: port {port} is not in 1..65535")


def serve(args) -> int:
    check_serve_args(args)
    python = triton_python()
    here = python is None or _is_this_interpreter(python)     # no other Triton interpreter to hand over to
    if not here or importlib.util.find_spec("pytriton") is None:
        return _run_under_triton_python(args)
    from engines.triton_model import served_model
    model = served_model(args.model, args.weights, args.size, args.engine, args.max_batch)
    engine = engine_class(args.engine)(model, device=args.device, max_batch=args.max_batch,
                                       threads=args.threads).load()
    log.warning("serving %s as %r: %s", model.describe(), args.name or args.model, engine.meta.describe())
    _host(engine, args)
    return 0


def _host(engine, args) -> None:
    import numpy as np
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import DEFAULT_PROTECTED_ENDPOINTS, Triton, TritonConfig, TritonSecurityConfig
    meta = engine.meta
    sample = engine.infer(np.zeros((1, *meta.input_shape), dtype=np.dtype(meta.dtype)))

    @batch
    def infer(**inputs):
        return engine.infer(inputs[meta.input_name])

    config = TritonConfig(grpc_address=args.address, grpc_port=args.grpc_port, http_address=args.address,
                          http_port=args.http_port, metrics_address=args.address, metrics_port=args.metrics_port,
                          exit_on_error=True)
    batcher = DynamicBatcher(max_queue_delay_microseconds=args.max_queue_delay_us)
    signal.signal(signal.SIGTERM, _stop)
    protected = list(DEFAULT_PROTECTED_ENDPOINTS)
    if not args.allow_remote:      # loopback only: clients on this host may register system shared memory
        protected.remove("shared-memory")
    with Triton(config=config, security_config=TritonSecurityConfig(restricted_endpoints=protected)) as triton:
        triton.bind(model_name=args.name or args.model, infer_func=infer,
                    inputs=[Tensor(name=meta.input_name, dtype=np.dtype(meta.dtype), shape=meta.input_shape)],
                    outputs=[Tensor(name=name, dtype=value.dtype, shape=value.shape[1:])
                             for name, value in sample.items()],
                    config=ModelConfig(max_batch_size=args.max_batch, batcher=batcher), strict=True)
        print(f"serving {args.name or args.model} on grpc {args.address}:{args.grpc_port}, "
              f"http {args.address}:{args.http_port}, metrics {args.address}:{args.metrics_port}",
              file=sys.stderr, flush=True)
        try:
            triton.serve()
        except KeyboardInterrupt:
            pass


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt   # leave the Triton context: the server stops with us


def triton_python() -> Path | None:
    """The interpreter PyTriton works under: $STREAMDET_TRITON_PYTHON or <repo>/.venv-triton/bin/python."""
    path = Path(os.environ.get("STREAMDET_TRITON_PYTHON") or REPO / ".venv-triton" / "bin" / "python")
    return path if path.is_file() else None


def _is_this_interpreter(python: Path) -> bool:
    return Path(sys.prefix).resolve() == python.parent.parent.resolve()


def _run_under_triton_python(args) -> int:
    python = triton_python()
    if python is None:
        raise EngineUnavailable(NO_TRITON_PYTHON)
    weights = args.weights
    if args.engine != "torch" and not (weights and weights.lower().endswith(".onnx")):
        from engines.triton_model import served_model
        weights = str(served_model(args.model, weights, args.size, args.engine, args.max_batch).onnx_path)
    argv = [str(python), str(REPO / "run_pipeline.py"), "--log-level", args.log_level,
            *(["--debug"] if args.debug else []), "serve"]
    for key, value in sorted(vars(args).items()):
        if key in ("command", "log_level", "debug", "weights") or value in (None, False):
            continue
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    if weights:
        argv += ["--weights", weights]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    sys.stdout.flush(), sys.stderr.flush()
    os.execve(str(python), argv, env)
    return 0   # not reached
