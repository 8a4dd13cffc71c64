"""bench.png: per-stage latency distributions, throughput comparison, latency over time."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ("capture", "capture->preprocess", "preprocess", "preprocess->inference", "inference",
         "inference->postprocess", "postprocess", "postprocess->sink", "sink")


def plot_bench(result: dict, path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    _stages(axes[0], result)
    _throughput(axes[1], result)
    _timeline(axes[2], result)
    fig.suptitle(f"streamdet bench — {result['settings']['model']} {result['settings']['size'] or 'tiny'} "
                 f"on {result['settings']['engine']} — {result['machine']['gpu'] or result['machine']['cpu']}",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _stages(ax, result: dict) -> None:
    stages = result["stages"]
    names = [n for n in ORDER if n in stages] + ["end_to_end"]
    rows = [stages.get(n) or result["end_to_end"] for n in names]
    y = range(len(names))
    ax.barh(y, [r["p50_ms"] for r in rows], color="#4C72B0", label="p50")
    ax.errorbar([r["p50_ms"] for r in rows], list(y), fmt="none", ecolor="#222",
                xerr=[[0] * len(rows), [r["p99_ms"] - r["p50_ms"] for r in rows]], capsize=3, label="to p99")
    ax.scatter([r["p95_ms"] for r in rows], list(y), marker="|", s=120, color="#C44E52", label="p95", zorder=3)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.set_title("latency per stage and hop")
    ax.legend(loc="lower right", fontsize=8)


def _throughput(ax, result: dict) -> None:
    base = result["baselines"]
    labels = ["pipeline", "bare engine", "sequential loop"]
    values = [result["fps"], base["bare_engine_fps"], base["sequential_fps"]]
    bars = ax.bar(labels, values, color=["#55A868", "#8172B2", "#CCB974"])
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom")
    ax.set_ylabel("frames per second")
    ax.set_title(f"throughput (pipeline/bare {base['pipeline_over_bare']:.2f}, "
                 f"pipeline/sequential {base['pipeline_over_sequential']:.2f})", fontsize=10)


def _timeline(ax, result: dict) -> None:
    points = result.get("timeline") or []
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], lw=0.8)
    ax.set_xlabel("seconds")
    ax.set_ylabel("capture to publish, ms")
    ax.set_title("end-to-end latency over the run")


def plot_peer(peer: dict, path: Path) -> Path:
    """Ours vs the peer vs our best bare engine, one group of bars per model size."""
    results = peer["results"]
    fig, ax = plt.subplots(figsize=(7 + 2 * len(results), 5))
    width = 0.27
    series = (("ours_fps", "streamdet pipeline", "#55A868"), ("peer_fps", f"{peer['name']} predictor", "#C44E52"),
              ("best_bare_fps", "our best bare engine", "#8172B2"))
    for k, (key, label, color) in enumerate(series):
        xs = [i + (k - 1) * width for i in range(len(results))]
        values = [r[key] for r in results]
        bars = ax.bar(xs, values, width, label=label, color=color)
        for bar, value in zip(bars, values):
            ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                        fontsize=8)
    ax.set_xticks(range(len(results)),
                  [f"{r['imgsz']}: ours/peer {r['ours_over_peer']:.2f}, ours/bare {r['ours_over_best_bare']:.2f}"
                   for r in results])
    ax.set_ylabel("frames per second")
    ax.set_title(f"same ONNX, same video ({peer['frames']} timed frames, median of {peer['repeat']})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
