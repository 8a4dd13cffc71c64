"""Letterbox in the inference stage: on the GPU when its engine runs on CUDA, else on the CPU.

Frames come from their shared-memory slot into a pinned host buffer, are uploaded once as
uint8 (a third of the bytes of a float tensor) and are resized, reordered and normalised on
the device (engines.ops.letterbox_torch), so the engine gets a device tensor and no float
tensor crosses PCIe. Without CUDA the same call letterboxes with NumPy/OpenCV on the CPU, each
frame into its row of the batch (``preprocess_on: inference``: under the newest-frame policy only
the frames that run are letterboxed).

The upload is ``non_blocking``: the copy runs later on the stream, so the host must not write
the buffer again until it has run. PinnedBuffers keeps one buffer per (batch slot, frame
shape), so the frames of one batch never share a buffer, and records a CUDA event after each
copy out of a buffer; the next write to that buffer first waits for that event.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy


class PinnedBuffers:
    """Host staging buffers by (slot, shape), each with the event of its last pending copy.

    ``allocate(shape)`` makes a buffer, ``new_event()`` an object with ``record()`` and
    ``synchronize()`` (torch.cuda.Event); both are injected so the logic runs without CUDA.
    """

    def __init__(self, allocate: Callable, new_event: Callable) -> None:
        self._allocate, self._new_event = allocate, new_event
        self._buffers: dict[tuple, object] = {}
        self._pending: dict[tuple, object] = {}

    def acquire(self, slot: int, shape: tuple):
        """The buffer of batch slot ``slot`` for frames of ``shape``, safe to overwrite now."""
        key = (slot, tuple(shape))
        event = self._pending.pop(key, None)
        if event is not None:
            event.synchronize()            # the previous copy out of this buffer has run
        if key not in self._buffers:
            self._buffers[key] = self._allocate(tuple(shape))
        return self._buffers[key]

    def copy_enqueued(self, slot: int, shape: tuple) -> None:
        """Call right after enqueueing the copy out of the buffer (records its event)."""
        event = self._new_event()
        event.record()
        self._pending[(slot, tuple(shape))] = event

    def __len__(self) -> int:
        return len(self._buffers)


class FramePreprocessor:
    def __init__(self, spec: PreprocessSpec, device: str) -> None:
        self.spec, self.device = spec, device
        self.on_gpu = device.startswith("cuda")
        self.pinned = _torch_pinned_buffers() if self.on_gpu else None

    def __call__(self, frames: list[np.ndarray]):
        """(H, W, 3) uint8 BGR frames -> (B, 3, h, w) batch: torch CUDA tensor or NumPy array."""
        if not self.on_gpu:        # each frame letterboxed straight into its row of the batch
            spec = self.spec
            batch = np.empty((len(frames), 3, spec.height, spec.width), np.dtype(spec.dtype))
            for row, frame in zip(batch, frames):
                letterbox_numpy(frame, spec, out=row)
            return batch
        import torch
        from engines.ops.letterbox import letterbox_torch
        tensors = []
        for slot, frame in enumerate(frames):
            pinned = self.pinned.acquire(slot, frame.shape)
            pinned.numpy()[...] = frame
            on_device = pinned.to(self.device, non_blocking=True)
            self.pinned.copy_enqueued(slot, frame.shape)
            tensors.append(letterbox_torch(on_device, self.spec)[0])
        return torch.stack(tensors)


def _torch_pinned_buffers() -> PinnedBuffers:
    import torch
    return PinnedBuffers(lambda shape: torch.empty(shape, dtype=torch.uint8).pin_memory(),
                         torch.cuda.Event)


def letterbox_in_inference(engine_cfg: dict) -> bool:
    """Whether the inference stage letterboxes (``preprocess_on``: gpu or inference) instead of the
    preprocess stage (cpu). auto: on a machine with an NVIDIA device whose engine may use it (probed
    without importing torch)."""
    choice = engine_cfg["preprocess_on"]
    if engine_cfg["name"] == "triton":      # the network runs on the server: preprocess here on the CPU
        return False
    if choice != "auto":
        return choice in ("gpu", "inference")
    from pathlib import Path
    return engine_cfg["device"] != "cpu" and Path("/dev/nvidiactl").exists()
