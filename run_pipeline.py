#!/usr/bin/env python3
"""streamdet command line: run, subscribe, bench, eval, train, export, serve.

Thin on purpose: it parses options, builds the config, sets logging and calls
into the packages. Run ``python run_pipeline.py COMMAND --help`` for options.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from engines.threads import threads_option

EXIT_USER_ERROR = 2


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config file (default: the embedded default)")
    p.add_argument("--source", action="append",
                   help="[NAME=]URI, repeatable (one stream each, names default to cam0, cam1, ...): 'synthetic', "
                        "a webcam index (0), an rtsp:// or http:// URL, a video file or an image folder")
    p.add_argument("--model", help="detector: yolo, centernet")
    p.add_argument("--size", help="model size: yolo tiny|n, centernet tiny|r18")
    p.add_argument("--weights", help="weights file (.pt checkpoint or Ultralytics .onnx export)")
    p.add_argument("--engine", choices=["auto", "torch", "onnxruntime", "tensorrt", "triton"])
    p.add_argument("--triton-url", help="HOST:PORT of a Triton server (gRPC); implies --engine triton")
    p.add_argument("--triton-model", help="model name on the Triton server (default: --model)")
    p.add_argument("--device", help="auto, cpu or cuda:N")
    p.add_argument("--half", action="store_true", default=None, help="fp16 on GPU")
    p.add_argument("--max-batch", type=int, help="batch frames across streams up to N")
    p.add_argument("--threads", type=threads_option,
                   help="inference threads on CPU: N, or auto (default: measured at load, cached)")
    p.add_argument("--spinning", choices=["on", "off"],
                   help="ONNX Runtime intra-op spinning (default: measured with --threads auto, else off)")
    p.add_argument("--parallel", type=threads_option,
                   help="ONNX Runtime on CPU: batches run side by side when more wait, N or auto "
                        "(default auto: the cores with --threads auto, else 1)")
    p.add_argument("--publish", help="ZeroMQ PUB endpoint (default tcp://127.0.0.1:5556)")
    p.add_argument("--encoding", choices=["json", "msgpack"], help="published payload encoding")
    p.add_argument("--max-frames", type=int, help="stop after N frames per stream")
    p.add_argument("--streams", type=int, help="synthetic only: run K streams at once")
    p.add_argument("--seed", type=int, help="synthetic only: scene seed")
    p.add_argument("--width", type=int, help="synthetic only: frame width")
    p.add_argument("--height", type=int, help="synthetic only: frame height")
    p.add_argument("--fps", type=float, help="synthetic/realtime pacing rate")
    p.add_argument("--realtime", action="store_true", default=None, help="pace files and synthetic frames to --fps")
    p.add_argument("--policy", choices=["auto", "wait", "latest"], help="hop buffer policy: wait (no drops) or latest (newest frame wins); auto: latest for live sources")
    p.add_argument("--save-video", help="write an annotated video file")
    p.add_argument("--jsonl", help="append every message to a JSON Lines file")
    p.add_argument("--save-ground-truth", help="synthetic only: write the ground truth of stream cam0 as COCO JSON (with track_id)")
    p.add_argument("--save-mot", help="synthetic only: write the ground truth of stream cam0 as MOTChallenge gt.txt")
    p.add_argument("--tracker", help="auto (live sources only), bytetrack or none")
    p.add_argument("--summary", help="write the end-of-run summary JSON here")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="also publish to this MQTT broker (topics streamdet/<stream>/...)")
    p.add_argument("--summary-plot", metavar="FILE", help="write a latency-over-time plot per stream (PNG) at the end")
    p.add_argument("--no-status", action="store_true", help="no live status line on the terminal")
    p.add_argument("--curve", help="CURVE key directory (from 'keys --out DIR'): every tcp socket encrypted and authenticated")
    p.add_argument("--api", metavar="HOST:PORT", help="serve the HTTP control API here (default 127.0.0.1:8780)")
    p.add_argument("--no-api", action="store_true", help="no HTTP control API")


def _source_overrides(values: list[str] | None) -> dict:
    """One plain ``--source URI`` sets source.uri (as always); several, or NAME=URI, make a list."""
    from pipeline.source_list import parse_source_arg
    if not values:
        return {}
    entries = [parse_source_arg(v) for v in values]
    if len(entries) == 1 and "name" not in entries[0]:
        return {"source.uri": entries[0]["uri"], "sources": []}
    return {"sources": entries}


def _api_overrides(args: argparse.Namespace) -> dict:
    if args.no_api:
        return {"api.enabled": False}
    if not args.api:
        return {}
    from pipeline.api.client import parse_api_address
    host, port = parse_api_address(args.api)
    return {"api.host": host, "api.port": port, "api.enabled": True}


def run_config(args: argparse.Namespace) -> dict:
    from pipeline import config
    cfg = config.load(args.config)
    if getattr(args, "mqtt", None):
        from pipeline.sinks.mqtt_settings import parse_address
        cfg = config.override(cfg, {"publish.mqtt": {**(cfg["publish"]["mqtt"] or {}), **parse_address(args.mqtt)}})
    return config.override(cfg, {
        **_source_overrides(args.source), **_api_overrides(args), "source.seed": args.seed, "source.max_frames": args.max_frames,
        "source.streams": args.streams, "source.width": args.width, "source.height": args.height,
        "source.fps": args.fps, "source.realtime": args.realtime,
        "model.name": args.model, "model.size": args.size, "model.weights": args.weights,
        "engine.name": args.engine or ("triton" if args.triton_url else None), "engine.url": args.triton_url,
        "engine.model": args.triton_model,
        "engine.device": args.device, "engine.half": args.half,
        "engine.max_batch": args.max_batch, "engine.threads": args.threads,
        "engine.spinning": None if args.spinning is None else args.spinning == "on",
        "engine.parallel": args.parallel,
        "transport.policy": args.policy, "publish.endpoint": args.publish,
        "publish.encoding": args.encoding, "sinks.video": args.save_video, "sinks.jsonl": args.jsonl,
        "sinks.status": False if args.no_status else None, "security.curve": args.curve,
        "tracker.name": args.tracker, "sinks.summary_plot": args.summary_plot})


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.metrics import format_summary
    from pipeline.sources.factory import make_source
    from pipeline.supervisor import Supervisor
    from pipeline.source_list import stream_sources
    cfg = run_config(args)
    sources = stream_sources(cfg)
    if (args.save_ground_truth or args.save_mot) and (cfg["sources"] or cfg["source"]["uri"] != "synthetic"):
        raise ValueError("--save-ground-truth and --save-mot work only with the synthetic source")
    for entry in sources:   # a missing file or a bad source string fails here, before any process starts
        make_source(entry)
    logging.getLogger("streamdet").info("publishing on %s (%s)", cfg["publish"]["endpoint"],
                                        cfg["publish"]["encoding"])
    summary = Supervisor(cfg, log_level=args.log_level, api=cfg["api"]["enabled"],
                         api_required=bool(args.api)).run()
    if summary.get("stages"):
        print(format_summary(summary), file=sys.stderr)
    if cfg["sinks"]["summary_plot"]:
        from pipeline.sinks.summary_plot import write_latency_plot
        write_latency_plot(summary.get("latency_timeline", {}), cfg["sinks"]["summary_plot"])
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1)
    if args.save_ground_truth or args.save_mot:
        from engines.core.coco import coco_ground_truth, write_coco_json
        from pipeline.sources.synthetic import SyntheticScene
        src = cfg["source"]
        frames = src["max_frames"] or summary.get("per_stream", {}).get("cam0", 0) * src["frame_step"]
        scene = SyntheticScene(seed=src["seed"], width=src["width"], height=src["height"],
                               passers=src["passers"])
        frame_ids = range(0, frames, src["frame_step"])
        if args.save_ground_truth:
            write_coco_json(args.save_ground_truth, coco_ground_truth(scene, frame_ids))
        if args.save_mot:
            from pipeline.tracking.mot import write_mot_gt
            write_mot_gt(args.save_mot, scene, frame_ids)
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    from pipeline.client import Subscriber
    count = 0
    with Subscriber(args.endpoint, args.stream, args.encoding, timeout_s=args.timeout, curve=args.curve) as sub:
        for count, message in enumerate(sub, 1):
            print(json.dumps(message), flush=True)
            if args.count and count >= args.count:
                break
    if args.curve and count == 0:
        print(f"error: no message from {args.endpoint} within {args.timeout:g} s over CURVE: is "
              f"{args.curve}/client.key in the server's authorized/ folder and {args.curve}/server.key "
              "the server's key?", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from pipeline.security import write_keys
    for path in write_keys(args.out):
        print(path)
    return 0


def cmd_streams(args: argparse.Namespace) -> int:
    from pipeline.api.client import format_streams, request
    if args.action == "list":
        print(format_streams(request(args.api, "GET", "/streams", token=args.token)[1]))
        return 0
    if args.action == "add":
        if len(args.args) != 2:
            raise ValueError("streams add: expected NAME URI")
        body = {"name": args.args[0], "uri": args.args[1], **_stream_keys(args.set or [])}
        print(json.dumps(request(args.api, "POST", "/streams", body, token=args.token)[1]))
        return 0
    if len(args.args) != 1:
        raise ValueError("streams remove: expected NAME")
    request(args.api, "DELETE", f"/streams/{args.args[0]}", token=args.token)
    print(f"removed {args.args[0]}")
    return 0


def _stream_keys(pairs: list[str]) -> dict:
    """``--set KEY=VALUE`` per-source keys; values read as YAML scalars (10, true, 2.5, text)."""
    import yaml
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r}: expected KEY=VALUE")
        out[key] = yaml.safe_load(value)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path
    from engines.extras import require
    require("torch", "train")
    if args.model == "maskrcnn":
        from engines.training.maskrcnn_train import train
    else:
        from engines.training.trainer import train
    from pipeline.sources.synthetic import SyntheticScene
    batch = args.batch or (4 if args.model == "maskrcnn" else 16)
    path = train(args.model, args.size, out=Path(args.out), steps=args.steps, batch=batch,
                 seed=args.seed, resume=args.resume, threads=args.threads, scenes=SyntheticScene)
    print(f"trained weights: {path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.track:
        from pipeline.tracking.cli import eval_track
        return eval_track(args)
    if args.model is None:
        raise ValueError("eval: --model is required (or --track)")
    if args.model == "maskrcnn":
        from engines.training.maskrcnn_eval import evaluate
    else:
        from engines.training.evaluate import evaluate
    from pipeline.sources.synthetic import SyntheticScene
    result = evaluate(args.model, args.weights, size=args.size, seed=args.seed, frames=args.frames or 200,
                      scenes=SyntheticScene)
    print(json.dumps(result, indent=1))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from engines.export import export_model
    from engines.extras import require
    require("torch", "export")
    path = export_model(args.model, args.weights, size=args.size, fmt=args.format, half=args.half,
                        batch=args.batch, out=args.out, tensorrt_block=args.triton_tensorrt)
    print(f"exported: {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from engines.triton_serve import serve
    return serve(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.bench.cli import bench
    return bench(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_pipeline.py", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default), ERROR")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")
    _add_run_options(sub.add_parser("run", help="run the pipeline (default: synthetic camera + shipped tiny YOLO)"))
    s = sub.add_parser("subscribe", help="print published messages as JSON lines")
    s.add_argument("--endpoint", default="tcp://127.0.0.1:5556")
    s.add_argument("--stream", action="append", help="only this stream (repeatable)")
    s.add_argument("--encoding", default="json", choices=["json", "msgpack"])
    s.add_argument("--count", type=int, help="exit after N messages")
    s.add_argument("--timeout", type=float, help="exit after this many seconds without a message")
    s.add_argument("--curve", help="CURVE key directory: connect with its server.key and client.key_secret")
    k = sub.add_parser("keys", help="write CURVE key pairs (server, client) in zmq.auth format, files 0600")
    k.add_argument("--out", required=True, help="directory for server.key[_secret], client.key[_secret], authorized/")
    c = sub.add_parser("streams", help="list, add or remove streams of a running pipeline (HTTP API)")
    c.add_argument("action", choices=["list", "add", "remove"])
    c.add_argument("args", nargs="*", help="add: NAME URI; remove: NAME")
    c.add_argument("--api", default="127.0.0.1:8780", metavar="HOST:PORT", help="where the API listens")
    c.add_argument("--token", help="bearer token (api.token of the running pipeline)")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="add: a per-source key (fps, loop, ...)")
    t = sub.add_parser("train", help="train a detector on the synthetic camera")
    t.add_argument("--model", required=True, choices=["yolo", "centernet", "maskrcnn"])
    t.add_argument("--size", default="tiny")
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, help="frames per step (default: 16; maskrcnn: 4)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs/train", help="folder for checkpoints and the final weights")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    t.add_argument("--threads", type=int, help="torch threads (default: torch's; 1 is faster on a shared CPU)")
    e = sub.add_parser("eval", help="COCO metrics (pycocotools) on held-out synthetic frames")
    e.add_argument("--model", help="yolo, centernet, maskrcnn (required, except with --track: default yolo)")
    e.add_argument("--weights")
    e.add_argument("--size")
    e.add_argument("--seed", type=int, default=7, help="held-out scene seed (training never uses it)")
    e.add_argument("--frames", type=int, help="frames per seed (default 200; --track: 600)")
    from pipeline.tracking.cli import add_track_eval_options
    add_track_eval_options(e)
    x = sub.add_parser("export", help="export a detector to ONNX or a TensorRT engine")
    x.add_argument("--model", required=True)
    x.add_argument("--weights")
    x.add_argument("--size")
    x.add_argument("--format", default="onnx", choices=["onnx", "tensorrt", "triton"])
    x.add_argument("--half", action="store_true")
    x.add_argument("--batch", type=int, default=1, help="max batch (triton: max_batch_size, e.g. 8)")
    x.add_argument("--out", help="output file (triton: the repository folder)")
    x.add_argument("--triton-tensorrt", action="store_true", help="triton: add the TensorRT optimisation block")
    from engines.triton_serve import add_serve_options
    add_serve_options(sub.add_parser("serve", help="host the detector in a Triton server (PyTriton, dynamic batching)"))
    b = sub.add_parser("bench", help="benchmark the real pipeline against the bare engine and a sequential loop")
    from pipeline.bench.options import add_bench_options
    add_bench_options(b)
    return parser


COMMANDS = {"run": cmd_run, "subscribe": cmd_subscribe, "keys": cmd_keys, "streams": cmd_streams, "train": cmd_train, "eval": cmd_eval,
            "export": cmd_export, "bench": cmd_bench, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv or ["run"])
    if args.command is None:      # only global options given: run the embedded default
        args = parser.parse_args([*argv, "run"])
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.log_level = args.log_level.upper()
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug or not _is_user_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _is_user_error(exc: BaseException) -> bool:
    from pipeline.api.client import ApiClientError
    from pipeline.errors import PipelineError
    from pipeline.worker import user_errors
    return isinstance(exc, (PipelineError, ApiClientError, *user_errors()))


if __name__ == "__main__":
    sys.exit(main())
