"""Sink: publish each frame's detections, write files, keep the latency statistics.

It is the last holder of every shared-memory slot, so it releases them all.
At the end of every stream (or on stop) it writes the run summary.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import zmq

from pipeline.messages import Envelope
from pipeline.metrics import Metrics
from pipeline.schema import to_public
from pipeline.sinks.jsonl import JsonlWriter
from pipeline.sinks.publisher import Publisher
from pipeline.sinks.summary_plot import LatencyTimeline
from pipeline.sinks.video import VideoWriter
from pipeline.stage import Stage, StageIO
from plugins.base import load_plugin

log = logging.getLogger("streamdet.sink")


class SinkStage(Stage):
    def setup(self, io: StageIO) -> None:
        super().setup(io)
        cfg = self.spec.config
        self.metrics = Metrics()
        self.expected_eos = self.spec.options.get("streams", 1)
        self.eos_seen: set[str] = set()
        self.writers = [Publisher(zmq.Context.instance(), cfg["publish"]["endpoint"],
                                  cfg["publish"]["encoding"],
                                  allow_remote=cfg["transport"]["allow_remote"])]
        if cfg["sinks"]["jsonl"]:
            self.writers.append(JsonlWriter(cfg["sinks"]["jsonl"]))
        if cfg["sinks"]["video"]:
            self.writers.append(VideoWriter(cfg["sinks"]["video"], fps=cfg["source"]["fps"]))
        if cfg["publish"].get("mqtt"):
            from pipeline.sinks.mqtt import MqttWriter
            self.writers.append(MqttWriter(cfg["publish"]["mqtt"]))
        self.plugins = [load_plugin(spec) for spec in cfg.get("plugins", [])]
        for plugin in self.plugins:
            plugin.start()
        self.status = cfg["sinks"]["status"]
        self.warmup = self.spec.options.get("warmup_frames", 0)   # per stream, left out of the metrics
        self.seen: dict[str, int] = {}
        self._next_status = 0.0
        self.timeline = LatencyTimeline() if cfg["sinks"].get("summary_plot") else None

    def process(self, env: Envelope) -> None:
        t_in = time.time()
        if env.meta.get("branch"):              # side-branch results: their own topic, own counts
            message = to_public(env, t_in)
            message["branch_reason"] = env.meta.get("branch_reason", "")
            self.writers[0].write(message, topic=env.meta["topic"])
            self.metrics.add_branch(env, t_in)
            return None
        frame = self.io.array(env, "frame") if "frame" in env.arrays else None
        message = to_public(env, t_in)
        for plugin in self.plugins:
            message = plugin.on_frame(message, frame)
        for writer in self.writers:
            writer.write(message, frame)
        t_out = time.time()
        self.seen[env.stream] = self.seen.get(env.stream, 0) + 1
        if self.seen[env.stream] > self.warmup:
            self.metrics.add(env, t_in, t_out)
            if self.timeline is not None:
                self.timeline.record(env.stream, t_out, (t_out - env.capture_ts) * 1e3)
        if self.status and t_out >= self._next_status:
            self._next_status = t_out + 1.0
            sys.stderr.write("\r" + self.metrics.status_line() + " ")
            sys.stderr.flush()
        return None

    def on_eos(self, env: Envelope) -> None:
        self.metrics.counts.update(env.meta.get("counts", {}))
        self.eos_seen.add(env.stream)
        for writer in self.writers:               # e.g. MQTT: retained status offline for this stream
            getattr(writer, "end_stream", lambda stream: None)(env.stream)
        if len(self.eos_seen) >= self.expected_eos:
            self.finished = True
        return None

    def close(self) -> None:
        for plugin in getattr(self, "plugins", []):
            plugin.stop()
        if self.status:
            sys.stderr.write("\n")
        for writer in self.writers:
            try:
                writer.close()
            except Exception as exc:   # one broken file must not lose the summary
                log.warning("closing %s: %s", type(writer).__name__, exc)
        path = self.spec.options.get("summary_path")
        if path:
            summary = self.metrics.summary()
            summary["complete"] = len(self.eos_seen) >= self.expected_eos
            summary.update({"mqtt": w.stats() for w in self.writers if hasattr(w, "stats")})
            if self.timeline is not None:
                summary["latency_timeline"] = self.timeline.to_json()
            Path(path).write_text(json.dumps(summary))
