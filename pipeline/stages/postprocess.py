"""Postprocess: decode raw outputs into Detections and map them back to source pixels.

Boxes, instance masks (to COCO RLE over the source frame, the wire form) and
keypoints are all mapped through the frame's letterbox. When a side branch is
configured, this stage also decides which frames it gets (pipeline/branch.py).
"""
from __future__ import annotations

import numpy as np
import zmq

from engines.detectors import make_detector
from engines.detectors.spec import Letterbox
from pipeline.branch import BranchPolicy
from pipeline.messages import Envelope
from pipeline.stage import Stage, StageIO
from pipeline.tracking.factory import make_tracking
from pipeline.transport import Endpoint, Sender, make_socket


class PostprocessStage(Stage):
    def setup(self, io: StageIO) -> None:
        super().setup(io)
        model = self.spec.config["model"]
        self.detector = make_detector(model["name"], model["weights"], model["size"])
        self.thresholds = dict(conf_threshold=model["conf_threshold"],
                               iou_threshold=model["iou_threshold"], max_det=model["max_det"])
        self.tracking = make_tracking(self.spec.config)     # one bank for every stream (ids never collide)
        self.branch = None
        if self.spec.options.get("branch_endpoint"):
            self.branch = BranchOffer(self.spec.config["branch"], self.spec.options["branch_endpoint"])

    def process(self, env: Envelope) -> Envelope | None:
        outputs = {name: self.io.array(env, name)[None] for name in self.detector.output_names}
        dets = self.detector.decode(outputs, 0, **self.thresholds)
        scale, pad_x, pad_y, rw, rh = env.meta["letterbox"]
        box = Letterbox(scale, pad_x, pad_y, rw, rh)
        dets.xyxy = box.to_source(dets.xyxy, env.height, env.width)
        dets.labels = self.detector.class_names
        if isinstance(dets.mask, np.ndarray):
            dets.mask = masks_to_rle(dets.mask, box, env.height, env.width)
        if dets.keypoints is not None:
            dets.keypoints[..., :2] = (dets.keypoints[..., :2] - (pad_x, pad_y)) / scale
        dets.track_id = self.tracking.track(env, dets)        # adds ids; the detections stay as they are
        out = env.forward()
        if "frame" in env.arrays:
            out.arrays["frame"] = env.arrays["frame"]
        out.detections = dets
        out.meta["model"] = self.spec.config["model"]["name"]   # the family, e.g. maskrcnn (not maskrcnn_tiny)
        if self.branch is not None:
            self.branch.offer(out)
        return out

    def close(self) -> None:
        if self.branch is not None:
            self.branch.close()


def masks_to_rle(masks: np.ndarray, box: Letterbox, src_h: int, src_w: int) -> list[dict]:
    """(N, h, w) bool masks over the network input -> COCO RLE dicts over the source frame."""
    from engines.detectors.maskrcnn import masks_to_source
    from pipeline.coco import mask_to_rle
    return [mask_to_rle(m) for m in masks_to_source(masks, box, src_h, src_w)]


class BranchOffer:
    """Hands frames to the side branch by its policy, never blocking the fast path."""

    def __init__(self, branch_cfg: dict, endpoint: str) -> None:
        ctx = zmq.Context.instance()
        self.policy = BranchPolicy.from_config(branch_cfg)
        self.sender = Sender(ctx, Endpoint.parse(endpoint), policy="latest", hwm=2)
        self.requests = None
        if branch_cfg["request_endpoint"]:
            self.requests = make_socket(ctx, zmq.PULL, Endpoint.parse(branch_cfg["request_endpoint"]),
                                        bind=True, hwm=100)
        self.offered = 0

    def offer(self, env: Envelope) -> None:
        while self.requests is not None and self.requests.poll(0):
            self.policy.request(self.requests.recv().decode(errors="replace"))
        reason = self.policy.reason(env.stream, env.frame_id, env.detections)
        if reason is not None and "frame" in env.arrays:
            offer = env.forward(frame=env.arrays["frame"])
            offer.meta["branch_reason"] = reason
            self.offered += self.sender.send(offer)

    def close(self) -> None:
        self.sender.close()
        if self.requests is not None:
            self.requests.close(0)
