"""YOLO-n 640 fp16 on CUDA: graph-replay time by memory layout and cuDNN autotuning (one GPU call).

    python3 benchmarks/gpu_conv_layout.py [OUT.json]

For batch 1 and 8: NCHW or channels_last weights, ``torch.backends.cudnn.benchmark`` off or on; each
variant warmed, captured as a CUDA graph, replayed 200 times on fresh random input, timed with CUDA events
(median), and compared with the NCHW output (max abs difference). Prints a table; writes JSON.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engines.detectors import make_detector  # noqa: E402

REPLAYS, WARMUP = 200, 5


def replay_ms(module, batch: torch.Tensor) -> tuple[float, torch.Tensor]:
    static_in = batch.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.inference_mode():
        for _ in range(WARMUP):
            module(static_in)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_out = module(static_in)
    times = []
    for _ in range(REPLAYS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    static_in.copy_(batch)
    graph.replay()
    torch.cuda.synchronize()
    first = static_out[0] if isinstance(static_out, (tuple, list)) else static_out
    return statistics.median(times), first.float().clone()


def main() -> int:
    rows = []
    for batch_size in (1, 8):
        batch = torch.rand(batch_size, 3, 640, 640, device="cuda", dtype=torch.float16)
        reference = None
        for channels_last in (False, True):
            for autotune in (False, True):
                torch.backends.cudnn.benchmark = autotune
                module = make_detector("yolo", None, "n").build_module().eval().cuda().half()
                if channels_last:
                    module = module.to(memory_format=torch.channels_last)
                ms, out = replay_ms(module, batch)
                reference = out if reference is None else reference
                rows.append({"batch": batch_size, "channels_last": channels_last, "cudnn_benchmark": autotune,
                             "ms_per_batch": round(ms, 3), "fps": round(batch_size * 1e3 / ms, 1),
                             "max_abs_diff_vs_nchw": round(float((out - reference).abs().max()), 5)})
                print(rows[-1], flush=True)
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "replays": REPLAYS, "rows": rows}
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(out, indent=1))
    print("| batch | channels_last | cudnn.benchmark | ms / batch | FPS |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['channels_last']} | {r['cudnn_benchmark']} | {r['ms_per_batch']} | {r['fps']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
