"""Postprocess: decode raw outputs into Detections in source pixels (engines.detect.finish).

Boxes, instance masks and keypoints are all mapped through the frame's
letterbox and clipped to the frame; the codec turns masks into COCO RLE for the
wire. When a side branch is configured, this stage also decides which frames
it gets (pipeline/branch.py).
"""
from __future__ import annotations

import zmq

from engines.detect import Thresholds, finish
from engines.detectors import from_card
from pipeline.branch import BranchPolicy
from pipeline.messages import Envelope
from pipeline.stage import Stage, StageIO
from pipeline.tracking.bank import NoTracking
from pipeline.transport import Endpoint, Sender, make_socket


class PostprocessStage(Stage):
    def __init__(self, name: str, *, card: dict, thresholds: Thresholds, family: str,
                 tracking=None, branch_cfg: dict | None = None, branch_endpoint: str | None = None) -> None:
        """``family``: the model name published (e.g. maskrcnn, not maskrcnn_tiny); ``tracking``:
        a TrackingBank (pipeline/tracking) that adds track ids, one for every stream, or None."""
        super().__init__(name)
        self.detector = from_card(card)
        self.thresholds, self.family = thresholds, family
        self.tracking = tracking or NoTracking()
        self.branch_cfg, self.branch_endpoint = branch_cfg, branch_endpoint
        self.branch = None

    def setup(self, io: StageIO) -> None:
        super().setup(io)
        if self.branch_endpoint:
            self.branch = BranchOffer(self.branch_cfg, self.branch_endpoint)
        self.tracking.warm()        # SciPy's import (started when the bank was made) ends before the first frame

    def process(self, env: Envelope) -> Envelope | None:
        if env.letterbox is None:
            raise ValueError(f"{env.stream} frame {env.frame_id}: no letterbox on the envelope")
        outputs = {name: self.io.array(env, name)[None] for name in self.detector.output_names}
        out = env.forward()
        if "frame" in env.arrays:
            out.arrays["frame"] = env.arrays["frame"]
        dets = finish(self.detector, outputs, 0, env.letterbox, env.height, env.width, self.thresholds)
        dets.track_id = self.tracking.track(env, dets)        # adds ids; the detections stay as they are
        out.detections = dets
        out.meta["model"] = self.family
        if self.branch is not None:
            self.branch.offer(out)
        return out

    def close(self) -> None:
        if self.branch is not None:
            self.branch.close()


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
