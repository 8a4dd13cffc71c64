"""``run_pipeline.py bench``: the real pipeline against the bare engine and a sequential loop.

Writes DIR/bench.json and DIR/bench.png and prints a short table. With
``--repeat R`` every figure is the median over R runs (the machines are noisy).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.bench.jsonout import dumps_result, write_result
from pipeline.bench.machine import machine_info
from pipeline.bench.pipeline_bench import _base_config, bench_pipeline


def print_table(result: dict) -> None:
    out = sys.stderr
    base = result["baselines"]
    print(f"\npipeline {result['fps']:.1f} FPS | bare engine {base['bare_engine_fps']:.1f} | "
          f"sequential {base['sequential_fps']:.1f} | pipeline/bare {base['pipeline_over_bare']:.2f} | "
          f"pipeline/sequential {base['pipeline_over_sequential']:.2f} | dropped {result['dropped']}", file=out)
    print(f"{'stage':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}", file=out)
    for name, p in list(result["stages"].items()) + [("end_to_end", result["end_to_end"])]:
        print(f"{name:<26}{p['p50_ms']:>9.2f}{p['p95_ms']:>9.2f}{p['p99_ms']:>9.2f}", file=out)


def bench(args) -> int:
    out = Path(args.out)
    if args.peer:      # a bad peer interpreter fails here, before anything runs
        from pipeline.bench.peer import check_peer_python
        check_peer_python(args.peer_python)
    out.mkdir(parents=True, exist_ok=True)
    if args.suite == "transport":
        from pipeline.bench.transport_bench import bench_transport
        result = {"machine": machine_info(), "transport": bench_transport(repeat=max(3, args.repeat))}
    elif args.suite == "ops":
        from engines.ops.bench import bench_decode_nms
        result = {"machine": machine_info(), "decode_nms": bench_decode_nms()}
    elif args.suite == "engines":
        from pipeline.bench.engines_bench import bench_engines
        result = bench_engines(args)
    elif args.suite == "soak":
        from pipeline.bench.soak import bench_soak
        result = bench_soak(args)
    elif args.suite == "tracker":
        from pipeline.tracking.bench import bench_tracker
        result = {"machine": machine_info(), "tracker": bench_tracker(repeat=max(3, args.repeat))}
    elif args.suite == "triton":
        from pipeline.bench.triton_bench import bench_triton
        result = bench_triton(args)
    elif args.peer and not args.rtsp:       # --rtsp --peer: the cameras' peer, in bench_rtsp
        from pipeline.bench.peer import bench_peer
        result = bench_peer(args, _base_config(args))
    elif args.suite == "default-run":
        from pipeline.bench.default_run import bench_default_run
        result = bench_default_run(args)
    elif args.suite == "maskrcnn":
        from pipeline.bench.maskrcnn_bench import bench_maskrcnn
        result = bench_maskrcnn(args, _base_config(args))
    elif args.suite == "footprint":
        from pipeline.bench.footprint import bench_footprint
        here = Path(__file__).resolve().parents[2]
        onnx = Path(args.onnx or here / "engines" / "weights" / "yolo_tiny.onnx").resolve()
        result = {"machine": machine_info(),
                  "footprint": bench_footprint(Path(args.repo or here).resolve(), onnx, args.repeat)}
    elif args.rtsp:
        from pipeline.bench.rtsp_scaling import bench_rtsp
        result = bench_rtsp(args, _base_config(args))
    elif args.suite == "gpu":
        from pipeline.bench.gpu_suite import bench_gpu
        result = bench_gpu(args)
    elif args.scaling:
        from pipeline.bench.scaling import bench_scaling
        result = bench_scaling(args, _base_config(args))
    else:
        result = bench_pipeline(args, _base_config(args))
        from pipeline.bench.plot import plot_bench
        plot_bench(result, out / "bench.png")
        print_table(result)
    path = out / ("soak.json" if args.suite == "soak" else "bench.json")
    write_result(path, result)
    if args.peer and "results" in result.get("peer", {}):
        from pipeline.bench.plot import plot_peer
        plot_peer(result["peer"], out / "bench.png")
    if args.suite != "pipeline" or args.scaling or args.rtsp or args.peer:
        print(dumps_result({k: v for k, v in result.items() if k not in ("machine", "memory")}))
    print(f"results: {path}", file=sys.stderr)
    return 0
