"""Letterbox on the GPU for the inference stage, when its engine runs on CUDA.

Frames come from their shared-memory slot into one pinned host buffer per frame
size, are uploaded once as uint8 (a third of the bytes of a float tensor) and
are resized, reordered and normalised on the device (engines.ops.letterbox_torch),
so the engine gets a device tensor and no float tensor crosses PCIe. Without
CUDA the same call letterboxes with NumPy/OpenCV on the CPU.
"""
from __future__ import annotations

import numpy as np

from engines.detectors.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy


class FramePreprocessor:
    def __init__(self, spec: PreprocessSpec, device: str) -> None:
        self.spec, self.device = spec, device
        self.on_gpu = device.startswith("cuda")
        self._pinned: dict[tuple, object] = {}

    def __call__(self, frames: list[np.ndarray]):
        """(H, W, 3) uint8 BGR frames -> (B, 3, h, w) batch: torch CUDA tensor or NumPy array."""
        if not self.on_gpu:
            return np.stack([letterbox_numpy(f, self.spec)[0] for f in frames])
        import torch
        from engines.ops.letterbox import letterbox_torch
        tensors = []
        for frame in frames:
            pinned = self._pinned_for(frame.shape)
            pinned.numpy()[...] = frame
            on_device = pinned.to(self.device, non_blocking=True)
            tensors.append(letterbox_torch(on_device, self.spec)[0])
        return torch.stack(tensors)

    def _pinned_for(self, shape: tuple):
        import torch
        if shape not in self._pinned:
            self._pinned[shape] = torch.empty(shape, dtype=torch.uint8).pin_memory()
        return self._pinned[shape]


def gpu_preprocess_wanted(engine_cfg: dict) -> bool:
    """auto: on a machine with an NVIDIA device whose engine may use it (probed without importing torch)."""
    choice = engine_cfg["preprocess_on"]
    if engine_cfg["name"] == "triton":      # the network runs on the server: preprocess here on the CPU
        return False
    if choice != "auto":
        return choice == "gpu"
    from pathlib import Path
    return engine_cfg["device"] != "cpu" and Path("/dev/nvidiactl").exists()
