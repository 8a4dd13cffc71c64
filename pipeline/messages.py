"""The envelope every stage receives and sends: one frame's header, arrays and results.

The header fields are small and msgpack-able; pixels and tensors are in
``arrays``, either as NumPy arrays (inline on the wire) or as SlotRefs into a
shared-memory ring (local hops). ``letterbox`` is the source -> network-input
geometry the preprocess stage chose. ``stamps`` holds one [stage, t_in, t_out]
entry per stage passed, wall-clock seconds: per-stage latency is read off them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engines.core.detections import Detections
from engines.core.letterbox import Letterbox
from pipeline.shm import SlotRef

FRAME, EOS = "frame", "eos"


@dataclass
class Envelope:
    kind: str = FRAME                 # FRAME or EOS (end of one stream)
    stream: str = "cam0"
    frame_id: int = 0
    capture_ts: float = 0.0           # wall-clock seconds when the frame was grabbed
    width: int = 0                    # source frame size
    height: int = 0
    stamps: list = field(default_factory=list)     # [[stage, t_in, t_out], ...]
    meta: dict = field(default_factory=dict)       # model, engine, counts, ... (msgpack-able)
    arrays: dict = field(default_factory=dict)     # name -> np.ndarray | SlotRef
    detections: Detections | None = None
    letterbox: Letterbox | None = None

    def stamp(self, stage: str, t_in: float, t_out: float) -> None:
        self.stamps.append([stage, t_in, t_out])

    def refs(self) -> list[SlotRef]:
        return [a for a in self.arrays.values() if isinstance(a, SlotRef)]

    def forward(self, **arrays: Any) -> "Envelope":
        """A copy for the next stage with a new set of arrays (header shared by value)."""
        return Envelope(self.kind, self.stream, self.frame_id, self.capture_ts, self.width,
                        self.height, list(self.stamps), dict(self.meta), dict(arrays),
                        self.detections, self.letterbox)

    @classmethod
    def eos(cls, stream: str, frame_id: int) -> "Envelope":
        return cls(kind=EOS, stream=stream, frame_id=frame_id)


def stage_latencies_ms(stamps: list) -> dict[str, float]:
    """Per-stage busy time and per-hop transit time (next t_in - previous t_out), in ms."""
    out: dict[str, float] = {}
    previous = None
    for stage, t_in, t_out in stamps:
        out[stage] = (t_out - t_in) * 1e3
        if previous is not None:
            out[f"{previous[0]}->{stage}"] = (t_in - previous[2]) * 1e3
        previous = (stage, t_in, t_out)
    return out

