"""Preprocess: letterbox, colour order and normalisation, written into a tensor slot.

When the inference engine runs on a GPU (engine.preprocess_on), this stage only
computes the letterbox geometry and passes the frame on: the inference stage
uploads the uint8 pixels once and letterboxes on the device.
"""
from __future__ import annotations

import numpy as np

from engines.detectors import make_detector
from engines.detectors.spec import Letterbox
from engines.ops.letterbox import letterbox_numpy
from pipeline.messages import Envelope
from pipeline.stage import Stage, StageIO


class PreprocessStage(Stage):
    def setup(self, io: StageIO) -> None:
        super().setup(io)
        model = self.spec.config["model"]
        self.spec_in = make_detector(model["name"], model["weights"], model["size"]).spec
        self.keep_frames = self.spec.options.get("keep_frames", False)
        self.on_gpu = self.spec.options.get("gpu_preprocess", False)

    def process(self, env: Envelope) -> Envelope | None:
        if self.on_gpu:          # the inference stage letterboxes on its GPU: pass the frame on
            box = Letterbox.fit(env.height, env.width, self.spec_in)
            out = env.forward(frame=env.arrays["frame"])
            out.meta["letterbox"] = [box.scale, box.pad_x, box.pad_y, box.resized_w, box.resized_h]
            return out
        frame = self.io.array(env, "frame")
        spec = self.spec_in
        arrays = self.io.alloc({"input": ((3, spec.height, spec.width), np.dtype(spec.dtype))},
                               lambda: self.stopping, stream=env.stream)
        if arrays is None:
            return None
        _, box = letterbox_numpy(frame, spec, out=arrays["input"])
        out = env.forward(input=None)
        out.arrays = self.io.commit(arrays)
        if self.keep_frames:
            out.arrays["frame"] = env.arrays["frame"]
        out.meta["letterbox"] = [box.scale, box.pad_x, box.pad_y, box.resized_w, box.resized_h]
        return out
