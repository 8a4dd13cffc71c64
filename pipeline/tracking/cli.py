"""Command-line glue of ``eval --track`` (options and the command), kept out of run_pipeline.py."""
from __future__ import annotations

import argparse
import json

from pipeline.tracking.evaluate import HELD_OUT_SEEDS


def add_track_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--track", action="store_true",
                   help="MOT metrics (motmetrics: MOTA, IDF1, ID switches) of the whole pipeline with a tracker")
    p.add_argument("--tracker", default="bytetrack", help="with --track: the tracker (default bytetrack)")
    p.add_argument("--seeds", default=",".join(map(str, HELD_OUT_SEEDS)),
                   help="with --track: held-out synthetic seeds, comma-separated (default 7,11)")
    p.add_argument("--out", help="with --track: also write the result JSON here")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds:
        raise ValueError("--seeds: expected at least one seed")
    return seeds


def eval_track(args: argparse.Namespace) -> int:
    from pipeline import config
    from pipeline.tracking.evaluate import evaluate_tracking
    base = config.override(config.load(None), {"model.name": args.model or "yolo", "model.size": args.size,
                                               "model.weights": args.weights, "tracker.name": args.tracker},
                           "command line")
    frames = args.frames or 600
    if frames < 2:
        raise ValueError(f"--frames: expected >= 2 with --track, got {frames}")
    result = evaluate_tracking(base, _seeds(args.seeds), frames, tracker=args.tracker)
    text = json.dumps(result, indent=1)
    if args.out:
        from pathlib import Path
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0
