"""Preprocess: letterbox, colour order and normalisation, written into a tensor slot.

When the inference engine runs on a GPU (``on_gpu``), this stage only computes
the letterbox geometry and passes the frame on: the inference stage uploads
the uint8 pixels once and letterboxes on the device. Either way the envelope
carries the typed ``Letterbox`` the postprocess stage maps results back with.
The frame itself goes on to the sink when ``keep_frames`` (a video sink, a side
branch) or while its stream is watched in the live preview (``preview`` control).
"""
from __future__ import annotations

import numpy as np

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.detect import prepare
from pipeline.messages import Envelope
from pipeline.preview_protocol import WATCH_KIND, PreviewMessageError, parse_watch
from pipeline.stage import Stage


class PreprocessStage(Stage):
    def __init__(self, name: str, *, input_spec: PreprocessSpec, keep_frames: bool = False,
                 on_gpu: bool = False) -> None:
        super().__init__(name)
        self.input_spec, self.keep_frames, self.on_gpu = input_spec, keep_frames, on_gpu
        self.watched: set[str] = set()     # streams someone previews now: their frames go on to the sink

    def on_control(self, message: dict) -> None:
        super().on_control(message)
        if message["kind"] == WATCH_KIND:
            try:
                self.watched = parse_watch(message)
            except PreviewMessageError:
                pass                       # a bad message changes nothing; the next heartbeat comes soon

    def process(self, env: Envelope) -> Envelope | None:
        if self.on_gpu:          # the inference stage letterboxes on its GPU: pass the frame on
            out = env.forward(frame=env.arrays["frame"])
            out.letterbox = Letterbox.fit(env.height, env.width, self.input_spec)
            return out
        frame = self.io.array(env, "frame")
        spec = self.input_spec
        arrays = self.io.alloc({"input": ((3, spec.height, spec.width), np.dtype(spec.dtype))},
                               lambda: self.stopping, stream=env.stream)
        if arrays is None:
            return None
        _, box = prepare(frame, spec, out=arrays["input"])
        out = env.forward()
        out.arrays = self.io.commit(arrays)
        if self.keep_frames or env.stream in self.watched:
            out.arrays["frame"] = env.arrays["frame"]
        out.letterbox = box
        return out
