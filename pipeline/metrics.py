"""Rolling latency and throughput statistics, read off the envelopes' stage timestamps."""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from pipeline.messages import Envelope, stage_latencies_ms
from pipeline.ring import Ring


def percentiles(values) -> dict[str, float]:
    if len(values) == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "n": 0}   # JSON null, not NaN
    p50, p95, p99 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95, 99])
    return {"p50_ms": round(float(p50), 3), "p95_ms": round(float(p95), 3),
            "p99_ms": round(float(p99), 3), "n": len(values)}


class Metrics:
    """Keeps the last ``window`` samples per stage/hop (in rings: memory fixed from the start)
    and counts frames over the whole run."""

    def __init__(self, window: int = 10_000) -> None:
        self.samples: dict[str, Ring] = defaultdict(lambda: Ring(window))
        self.timeline = Ring(window, columns=2)           # (publish time, end-to-end ms)
        self.frames = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.counts: dict[str, dict] = {}                 # latest counters per stage
        self.per_stream: dict[str, int] = defaultdict(int)
        self.branch_frames = 0
        self.engine = ""
        self.stream_e2e: dict[str, Ring] = defaultdict(lambda: Ring(window))
        self.stream_times: dict[str, Ring] = defaultdict(lambda: Ring(window))

    def add(self, env: Envelope, sink_in: float, published_ts: float) -> None:
        """One fast-path frame: its stamps, plus the sink's own time and the hop into it."""
        for key, ms in stage_latencies_ms(env.stamps).items():
            self.samples[key].append(ms)
        if env.stamps:
            self.samples[f"{env.stamps[-1][0]}->sink"].append((sink_in - env.stamps[-1][2]) * 1e3)
        self.samples["sink"].append((published_ts - sink_in) * 1e3)
        e2e = (published_ts - env.capture_ts) * 1e3
        self.samples["end_to_end"].append(e2e)
        self.timeline.append((published_ts, e2e))
        self.frames += 1
        self.per_stream[env.stream] += 1
        self.stream_e2e[env.stream].append(e2e)
        self.stream_times[env.stream].append(published_ts)
        self.first_ts = published_ts if self.first_ts is None else self.first_ts
        self.last_ts = published_ts
        self.counts.update(env.meta.get("counts", {}))
        self.engine = env.meta.get("engine", self.engine)

    def add_branch(self, env: Envelope, published_ts: float) -> None:
        """A side-branch result: its model time and capture-to-publish, apart from the fast path."""
        self.branch_frames += 1
        for stage, t_in, t_out in env.stamps:
            if stage == "branch":
                self.samples["branch"].append((t_out - t_in) * 1e3)
        self.samples["branch_end_to_end"].append((published_ts - env.capture_ts) * 1e3)
        self.counts.update(env.meta.get("counts", {}))

    def fps(self) -> float:
        if self.frames < 2 or self.last_ts == self.first_ts:
            return 0.0
        return (self.frames - 1) / (self.last_ts - self.first_ts)

    def recent_fps(self, seconds: float = 2.0) -> float:
        if not self.timeline:
            return 0.0
        return int(np.count_nonzero(time.time() - self.timeline.values()[:, 0] <= seconds)) / seconds

    def total(self, counter: str) -> int:
        return sum(int(c.get(counter, 0)) for c in self.counts.values())

    def summary(self) -> dict:
        stages = {k: percentiles(v) for k, v in self.samples.items()
                  if k not in ("end_to_end", "branch", "branch_end_to_end")}
        return {"frames": self.frames, "fps": round(self.fps(), 2), "engine": self.engine,
                "dropped": self.total("dropped"), "stale": self.total("stale"),
                "malformed": self.total("malformed"), "failed": self.total("failed"),
                "corrupt": self.total("corrupt"), "reconnects": self.total("reconnects"),
                "per_stream": dict(self.per_stream), "stages": stages,
                "end_to_end": percentiles(self.samples["end_to_end"]), "counts": self.counts,
                "timeline": self._timeline(), "streams": self.stream_summary(),
                "branch": {"frames": self.branch_frames, "model_ms": percentiles(self.samples["branch"]),
                           "end_to_end": percentiles(self.samples["branch_end_to_end"])}}

    def _timeline(self, points: int = 2000) -> list[list[float]]:
        """[seconds since the first frame, end-to-end ms], thinned to at most ``points``."""
        if not self.timeline:
            return []
        rows = self.timeline.values()
        step = max(1, len(rows) // points)
        t0 = rows[0, 0]
        return [[round(float(t - t0), 4), round(float(ms), 3)] for t, ms in rows[::step]]

    def stream_fps(self, stream: str, seconds: float | None = None) -> float:
        """Published frames per second of one stream: over the run, or over the last ``seconds``."""
        times = self.stream_times.get(stream)
        if not times:
            return 0.0
        if seconds is not None:
            return int(np.count_nonzero(time.time() - times.values() <= seconds)) / seconds
        first, last = times.first(), times.last()
        if len(times) < 2 or last == first:
            return 0.0
        return (len(times) - 1) / (last - first)

    def stream_summary(self) -> dict[str, dict]:
        """Per stream: frames, FPS, end-to-end p50/p99, drops (by stage) and reconnects."""
        drops = drops_by_stream(self.counts)
        out = {}
        for stream in sorted(self.per_stream):
            e2e = percentiles(self.stream_e2e[stream])
            capture = self.counts.get(f"capture.{stream}", {})
            out[stream] = {"frames": self.per_stream[stream], "fps": round(self.stream_fps(stream), 2),
                           "e2e_p50_ms": e2e["p50_ms"], "e2e_p99_ms": e2e["p99_ms"],
                           "dropped": sum(drops.get(stream, {}).values()),
                           "dropped_by_stage": drops.get(stream, {}),
                           "reconnects": int(capture.get("reconnects", 0))}
        return out

    def status_line(self) -> str:
        def p50(key):
            v = self.samples.get(key)
            return f"{np.median(v):.1f}" if v else "-"
        return (f"{self.recent_fps():6.1f} FPS | cap {p50('capture')} pre {p50('preprocess')} "
                f"inf {p50('inference')} post {p50('postprocess')} ms | e2e {p50('end_to_end')} ms"
                f" | frames {self.frames} dropped {self.total('dropped')}" + self._streams_status())

    def _streams_status(self) -> str:
        """With several streams: `` || cam0 25.0 fps 41 ms d3 r0 | cam1 ...`` (recent FPS, e2e p50)."""
        if len(self.per_stream) < 2:
            return ""
        drops = drops_by_stream(self.counts)
        parts = []
        for stream in sorted(self.per_stream):
            e2e = self.stream_e2e[stream]
            reconnects = int(self.counts.get(f"capture.{stream}", {}).get("reconnects", 0))
            parts.append(f"{stream} {self.stream_fps(stream, 2.0):.1f} fps "
                         f"{np.median(e2e) if e2e else float('nan'):.0f} ms "
                         f"d{sum(drops.get(stream, {}).values())} r{reconnects}")
        return " || " + " | ".join(parts)


def drops_by_stream(counts: dict[str, dict]) -> dict[str, dict[str, int]]:
    """{stream: {stage: frames dropped}} from the stages' counters (``meta["counts"]``).

    A capture stage (``capture.<stream>``) drops only its own stream's frames; the
    shared stages count per stream in ``dropped_by_stream``.
    """
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for stage, c in counts.items():
        if not isinstance(c, dict):
            continue
        if stage.startswith("capture."):
            out[stage.split(".", 1)[1]]["capture"] = int(c.get("dropped", 0))
            continue
        for stream, n in (c.get("dropped_by_stream") or {}).items():
            out[stream][stage] = out[stream].get(stage, 0) + int(n)
    return dict(out)


def format_summary(summary: dict) -> str:
    """The end-of-run table printed on the terminal."""
    lines = [f"frames {summary['frames']}  fps {summary['fps']}  dropped {summary['dropped']}  "
             f"stale {summary['stale']}  malformed {summary['malformed']}  failed {summary['failed']}"
             f"  restarts {summary.get('restarts', 0)}",
             f"{'stage':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"]
    rows = list(summary["stages"].items()) + [("end_to_end", summary["end_to_end"])]
    for name, p in rows:
        if p["n"]:
            lines.append(f"{name:<26}{p['p50_ms']:>9.2f}{p['p95_ms']:>9.2f}{p['p99_ms']:>9.2f}")
    streams = summary.get("streams") or {}
    if len(streams) > 1:
        lines.append(f"{'stream':<16}{'frames':>8}{'fps':>8}{'e2e p50':>9}{'e2e p99':>9}{'dropped':>9}{'reconn':>8}")
        for name, s in streams.items():
            p50 = "-" if s["e2e_p50_ms"] is None else f"{s['e2e_p50_ms']:.1f}"
            p99 = "-" if s["e2e_p99_ms"] is None else f"{s['e2e_p99_ms']:.1f}"
            lines.append(f"{name:<16}{s['frames']:>8}{s['fps']:>8.1f}{p50:>9}{p99:>9}"
                         f"{s['dropped']:>9}{s['reconnects']:>8}")
    return "\n".join(lines)
