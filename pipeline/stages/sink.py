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
from pipeline.sink_report import SinkReport
from pipeline.stage import Stage, StageIO
from plugins.base import load_plugin

log = logging.getLogger("streamdet.sink")
PREVIEW_HWM = 8        # JPEGs queued for the supervisor at most; a newer one is worth more than an old one


class SinkStage(Stage):
    def __init__(self, name: str, *, publish: dict, sinks: dict, plugins: list, allow_remote: bool,
                 fps: float, streams: int = 1, warmup_frames: int = 0, summary_path: str | None = None,
                 telemetry: str | None = None, preview_fps: float | None = None) -> None:
        """``publish``/``sinks``: those config sections; ``plugins``: plugin specs (module:Class,
        params); ``streams``: how many end-of-stream marks end the run; ``warmup_frames`` per
        stream are left out of the metrics; ``fps``: the video file's frame rate;
        ``telemetry``: the supervisor's telemetry endpoint (per-stream figures), if any;
        ``preview_fps``: with ``telemetry``, watched streams' annotated frames go there (live preview)."""
        super().__init__(name)
        self.publish_cfg, self.sinks_cfg, self.plugin_specs = publish, sinks, plugins
        self.allow_remote, self.fps = allow_remote, fps
        self.expected_eos, self.warmup, self.summary_path = streams, warmup_frames, summary_path
        self.telemetry, self.preview_fps = telemetry, preview_fps
        self.preview = None
        self.status = sinks["status"]
        self.metrics = Metrics()
        self.eos_seen: set[str] = set()
        self.report = None
        self.seen: dict[str, int] = {}
        self._next_status = 0.0
        self.timeline = LatencyTimeline() if sinks.get("summary_plot") else None
        self.writers: list = []
        self.topic_writers: list = []
        self.plugins: list = []

    def setup(self, io: StageIO) -> None:
        super().setup(io)
        if self.telemetry:
            from pipeline.telemetry import TelemetrySender
            self.report = SinkReport(TelemetrySender(zmq.Context.instance(), self.telemetry, self.name),
                                     self.metrics)
            if self.preview_fps:     # a PUSH of its own: JPEGs never crowd out reports and acks
                from pipeline.sinks.preview_tap import SinkPreview
                self.preview_sender = TelemetrySender(zmq.Context.instance(), self.telemetry, self.name,
                                                      hwm=PREVIEW_HWM)
                self.preview = SinkPreview(self.preview_fps, self.preview_sender.send)
        self.writers = [Publisher(zmq.Context.instance(), self.publish_cfg["endpoint"],
                                  self.publish_cfg["encoding"], allow_remote=self.allow_remote)]
        if self.sinks_cfg["jsonl"]:
            self.writers.append(JsonlWriter(self.sinks_cfg["jsonl"]))
        if self.sinks_cfg["video"]:
            self.writers.append(VideoWriter(self.sinks_cfg["video"], fps=self.fps))
        self.topic_writers = [self.writers[0]]
        if self.publish_cfg.get("mqtt"):
            from pipeline.sinks.mqtt import MqttWriter
            self.writers.append(MqttWriter(self.publish_cfg["mqtt"]))
            self.topic_writers.append(self.writers[-1])
        self.plugins = [load_plugin(spec) for spec in self.plugin_specs]
        for plugin in self.plugins:
            plugin.start()

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
        events = message.pop("events", [])          # analytics plugins' events: their own topic
        for writer in self.writers:
            writer.write(message, frame)
        for event in events:                        # ZeroMQ and MQTT carry topics; files do not
            for writer in self.topic_writers:
                writer.write(event, topic=f"{env.stream}/events")
        t_out = time.time()
        if self.preview is not None:
            self.preview.after_frame(env.stream, frame, message, t_out)
        self.seen[env.stream] = self.seen.get(env.stream, 0) + 1
        if self.seen[env.stream] > self.warmup:
            self.metrics.add(env, t_in, t_out)
            if self.timeline is not None:
                self.timeline.record(env.stream, t_out, (t_out - env.capture_ts) * 1e3)
        if self.report is not None:
            self.report.add(env, t_in, t_out)
            self.report.maybe_send(self.eos_seen)
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
        self._check_finished()
        if self.report is not None:
            self.report.maybe_send(self.eos_seen, force=True)
        return None

    def _check_finished(self) -> None:
        """Every stream of the run ended (a set of names once the supervisor sends one)."""
        if self.streams is None:
            self.finished = len(self.eos_seen) >= self.expected_eos
        else:
            self.finished = bool(self.streams) and self.streams <= self.eos_seen

    def on_control(self, message: dict) -> None:
        before = set(self.streams or ())
        super().on_control(message)
        if self.preview is not None:
            self.preview.on_control(message)
        for gone in before - set(self.streams or ()):
            if self.report is not None:
                self.report.forget(gone)
        if message["kind"] == "streams" and isinstance(message.get("seq"), int) and self.report is not None:
            self.report.sender.send("ack", seq=message["seq"])   # the supervisor waits for this on DELETE
        self._check_finished()

    def run_once(self) -> None:
        super().run_once()
        if self.preview is not None:
            self.preview.flush()
        if self.report is not None:
            self.report.maybe_send(self.eos_seen)

    def close(self) -> None:
        for plugin in self.plugins:
            plugin.stop()
        if self.status:
            sys.stderr.write("\n")
        for writer in self.writers:
            try:
                writer.close()
            except Exception as exc:   # one broken file must not lose the summary
                log.warning("closing %s: %s", type(writer).__name__, exc)
        if self.preview is not None:
            self.preview.close()
            self.preview_sender.close()
        if self.report is not None:
            self.report.maybe_send(self.eos_seen, force=True)
            self.report.sender.close()
        path = self.summary_path
        if path:
            summary = self.metrics.summary()
            summary["complete"] = (len(self.eos_seen) >= self.expected_eos if self.streams is None
                                   else self.streams <= self.eos_seen)
            summary.update({"mqtt": w.stats() for w in self.writers if hasattr(w, "stats")})
            if self.timeline is not None:
                summary["latency_timeline"] = self.timeline.to_json()
            Path(path).write_text(json.dumps(summary))
