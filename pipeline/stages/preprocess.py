"""Preprocess: letterbox, colour order and normalisation, written into a tensor slot.

With ``letterbox_in_inference`` (``engine.preprocess_on``: gpu or inference) this
stage only computes the letterbox geometry and passes the frame on: the inference
stage letterboxes each batch on its engine's device (on CUDA it uploads the uint8
pixels once), and under the newest-frame policy only the frames it runs. Either way the envelope
carries the typed ``Letterbox`` the postprocess stage maps results back with.
The frame itself goes on to the sink when ``keep_frames`` (a video sink, a side
branch) or while its stream is watched in the live preview (``preview`` control).
Otherwise the slot of a frame whose capture waits for it (``meta.credit``: a live
camera) goes on as ``credit``, a reference nobody reads: the inference stage
releases it once it ran (or dropped) the frame, which is when the capture stage
may take its stream's next frame (pipeline/stages/capture.py). Other captures
reuse their slots at once, so theirs are released here, as before.
"""
from __future__ import annotations

import numpy as np

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.detect import prepare
from pipeline.messages import Envelope
from pipeline.preview_protocol import WATCH_KIND, PreviewMessageError, parse_watch
from pipeline.shm import SlotRef
from pipeline.stage import Stage

CREDIT = "credit"      # the capture slot a live frame holds until the inference stage is done with it


class PreprocessStage(Stage):
    def __init__(self, name: str, *, input_spec: PreprocessSpec, keep_frames: bool = False,
                 letterbox_in_inference: bool = False) -> None:
        super().__init__(name)
        self.input_spec, self.keep_frames = input_spec, keep_frames
        self.letterbox_in_inference = letterbox_in_inference
        self.watched: set[str] = set()     # streams someone previews now: their frames go on to the sink

    def on_control(self, message: dict) -> None:
        super().on_control(message)
        if message["kind"] == WATCH_KIND:
            try:
                self.watched = parse_watch(message)
            except PreviewMessageError:
                pass                       # a bad message changes nothing; the next heartbeat comes soon

    def process(self, env: Envelope) -> Envelope | None:
        if self.letterbox_in_inference:     # the inference stage letterboxes: pass the frame on
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
        elif env.meta.get("credit") is True and self.io.local_output and isinstance(env.arrays["frame"], SlotRef):
            out.arrays[CREDIT] = env.arrays["frame"]
        out.letterbox = box
        return out
