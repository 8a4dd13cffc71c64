"""Postprocess: decode raw outputs into Detections and map boxes back to source pixels."""
from __future__ import annotations

from engines.detectors import make_detector
from engines.detectors.spec import Letterbox
from pipeline.messages import Envelope
from pipeline.stage import Stage, StageIO


class PostprocessStage(Stage):
    def setup(self, io: StageIO) -> None:
        super().setup(io)
        model = self.spec.config["model"]
        self.detector = make_detector(model["name"], model["weights"], model["size"])
        self.thresholds = dict(conf_threshold=model["conf_threshold"],
                               iou_threshold=model["iou_threshold"], max_det=model["max_det"])

    def process(self, env: Envelope) -> Envelope | None:
        outputs = {name: self.io.array(env, name)[None] for name in self.detector.output_names}
        dets = self.detector.decode(outputs, 0, **self.thresholds)
        scale, pad_x, pad_y, rw, rh = env.meta["letterbox"]
        box = Letterbox(scale, pad_x, pad_y, rw, rh)
        dets.xyxy = box.to_source(dets.xyxy, env.height, env.width)
        dets.labels = self.detector.class_names
        out = env.forward()
        if "frame" in env.arrays:
            out.arrays["frame"] = env.arrays["frame"]
        out.detections = dets
        out.meta["model"] = self.detector.name
        return out
