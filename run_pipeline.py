#!/usr/bin/env python3
"""streamdet command line: run, subscribe, bench, eval, train, export.

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
    p.add_argument("--source", help="'synthetic', a webcam index (0), an rtsp:// or http:// URL, a video file or an image folder")
    p.add_argument("--model", help="detector: yolo, centernet")
    p.add_argument("--size", help="model size: yolo tiny|n, centernet tiny|r18")
    p.add_argument("--weights", help="weights file (.pt checkpoint or Ultralytics .onnx export)")
    p.add_argument("--engine", choices=["auto", "torch", "onnxruntime", "tensorrt"])
    p.add_argument("--device", help="auto, cpu or cuda:N")
    p.add_argument("--half", action="store_true", default=None, help="fp16 on GPU")
    p.add_argument("--max-batch", type=int, help="batch frames across streams up to N")
    p.add_argument("--threads", type=threads_option,
                   help="inference threads on CPU: N, or auto (default: measured at load, cached)")
    p.add_argument("--spinning", choices=["on", "off"],
                   help="ONNX Runtime intra-op spinning (default: measured with --threads auto, else off)")
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
    p.add_argument("--save-ground-truth", help="synthetic only: write the ground truth of stream cam0 as COCO JSON")
    p.add_argument("--summary", help="write the end-of-run summary JSON here")
    p.add_argument("--no-status", action="store_true", help="no live status line on the terminal")


def run_config(args: argparse.Namespace) -> dict:
    from pipeline import config
    cfg = config.load(args.config)
    return config.override(cfg, {
        "source.uri": args.source, "source.seed": args.seed, "source.max_frames": args.max_frames,
        "source.streams": args.streams, "source.width": args.width, "source.height": args.height,
        "source.fps": args.fps, "source.realtime": args.realtime,
        "model.name": args.model, "model.size": args.size, "model.weights": args.weights,
        "engine.name": args.engine, "engine.device": args.device, "engine.half": args.half,
        "engine.max_batch": args.max_batch, "engine.threads": args.threads,
        "engine.spinning": None if args.spinning is None else args.spinning == "on",
        "transport.policy": args.policy, "publish.endpoint": args.publish,
        "publish.encoding": args.encoding, "sinks.video": args.save_video, "sinks.jsonl": args.jsonl,
        "sinks.status": False if args.no_status else None})


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.metrics import format_summary
    from pipeline.sources.factory import make_source
    from pipeline.supervisor import Supervisor
    cfg = run_config(args)
    if args.save_ground_truth and cfg["source"]["uri"] != "synthetic":
        raise ValueError("--save-ground-truth works only with the synthetic source")
    make_source(cfg["source"])   # a missing file or a bad source string fails here, before any process starts
    logging.getLogger("streamdet").info("publishing on %s (%s)", cfg["publish"]["endpoint"],
                                        cfg["publish"]["encoding"])
    summary = Supervisor(cfg, log_level=args.log_level).run()
    if summary.get("stages"):
        print(format_summary(summary), file=sys.stderr)
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1)
    if args.save_ground_truth:
        from pipeline.coco import coco_ground_truth, write_coco_json
        from pipeline.sources.synthetic import SyntheticScene
        src = cfg["source"]
        frames = src["max_frames"] or summary.get("per_stream", {}).get("cam0", 0)
        scene = SyntheticScene(seed=src["seed"], width=src["width"], height=src["height"])
        write_coco_json(args.save_ground_truth, coco_ground_truth(scene, range(frames)))
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    from pipeline.client import Subscriber
    with Subscriber(args.endpoint, args.stream, args.encoding, timeout_s=args.timeout) as sub:
        for count, message in enumerate(sub, 1):
            print(json.dumps(message), flush=True)
            if args.count and count >= args.count:
                break
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path
    if args.model == "maskrcnn":
        from engines.training.maskrcnn_train import train
    else:
        from engines.training.trainer import train
    batch = args.batch or (4 if args.model == "maskrcnn" else 16)
    path = train(args.model, args.size, out=Path(args.out), steps=args.steps, batch=batch,
                 seed=args.seed, resume=args.resume, threads=args.threads)
    print(f"trained weights: {path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.model == "maskrcnn":
        from engines.training.maskrcnn_eval import evaluate
    else:
        from engines.training.evaluate import evaluate
    result = evaluate(args.model, args.weights, size=args.size, seed=args.seed, frames=args.frames)
    print(json.dumps(result, indent=1))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from engines.export import export_model
    path = export_model(args.model, args.weights, size=args.size, fmt=args.format, half=args.half,
                        batch=args.batch, out=args.out)
    print(f"exported: {path}")
    return 0


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
    e.add_argument("--model", required=True)
    e.add_argument("--weights")
    e.add_argument("--size")
    e.add_argument("--seed", type=int, default=7, help="held-out scene seed (training never uses it)")
    e.add_argument("--frames", type=int, default=200)
    x = sub.add_parser("export", help="export a detector to ONNX or a TensorRT engine")
    x.add_argument("--model", required=True)
    x.add_argument("--weights")
    x.add_argument("--size")
    x.add_argument("--format", default="onnx", choices=["onnx", "tensorrt"])
    x.add_argument("--half", action="store_true")
    x.add_argument("--batch", type=int, default=1)
    x.add_argument("--out", help="output file")
    b = sub.add_parser("bench", help="benchmark the real pipeline against the bare engine and a sequential loop")
    from pipeline.bench.options import add_bench_options
    add_bench_options(b)
    return parser


COMMANDS = {"run": cmd_run, "subscribe": cmd_subscribe, "train": cmd_train, "eval": cmd_eval,
            "export": cmd_export, "bench": cmd_bench}


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
    from pipeline.supervisor import PipelineError
    from pipeline.worker import user_errors
    return isinstance(exc, (PipelineError, *user_errors()))


if __name__ == "__main__":
    sys.exit(main())
