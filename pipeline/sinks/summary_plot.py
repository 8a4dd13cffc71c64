"""``--summary-plot FILE``: end-to-end latency over time, one panel per stream (matplotlib, Agg).

The sink records (publish time, capture-to-publish ms) per stream in a ``LatencyTimeline``
(bounded: the newest ``window`` frames per stream) and puts it in the run summary as
``latency_timeline``: ``{stream: [[seconds since the run's first frame, ms], ...]}``, thinned
to at most ``points`` per stream. ``write_latency_plot`` draws that after the run.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from pipeline.ring import Ring

MAX_PANELS = 16


class LatencyTimeline:
    def __init__(self, window: int = 20_000) -> None:
        self.window = window
        self.samples: dict[str, Ring] = defaultdict(lambda: Ring(self.window, columns=2))

    def record(self, stream: str, published_ts: float, e2e_ms: float) -> None:
        self.samples[stream].append((published_ts, e2e_ms))

    def to_json(self, points: int = 2000) -> dict[str, list[list[float]]]:
        if not any(self.samples.values()):
            return {}
        t0 = min(s.first()[0] for s in self.samples.values() if s)
        out = {}
        for stream, samples in sorted(self.samples.items()):
            rows = samples.values()
            step = max(1, -(-len(rows) // points))
            out[stream] = [[round(float(t - t0), 4), round(float(ms), 3)] for t, ms in rows[::step]]
        return out


def write_latency_plot(timelines: dict[str, list], path: str | Path, title: str = "") -> Path:
    """One panel per stream (the first ``MAX_PANELS``), shared time axis, p50/p99 marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    streams = [s for s in timelines if timelines[s]][:MAX_PANELS]
    fig, axes = plt.subplots(max(1, len(streams)), 1, figsize=(10, 1.2 + 2.0 * max(1, len(streams))),
                             sharex=True, squeeze=False)
    for ax, stream in zip(axes[:, 0], streams):
        data = np.asarray(timelines[stream], dtype=np.float64)
        p50, p99 = np.percentile(data[:, 1], [50, 99])
        ax.plot(data[:, 0], data[:, 1], lw=0.8, color="#4C72B0")
        ax.axhline(p50, color="#55A868", lw=1, ls="--", label=f"p50 {p50:.1f} ms")
        ax.axhline(p99, color="#C44E52", lw=1, ls=":", label=f"p99 {p99:.1f} ms")
        ax.set_ylabel("e2e ms")
        ax.set_title(f"{stream}: {len(data)} frames", fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    if not streams:
        axes[0, 0].text(0.5, 0.5, "no frames were published", ha="center", va="center")
    axes[-1, 0].set_xlabel("seconds since the first frame")
    hidden = len([s for s in timelines if timelines[s]]) - len(streams)
    fig.suptitle((title or "end-to-end latency per stream") + (f" (+{hidden} more streams)" if hidden > 0 else ""),
                 fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
