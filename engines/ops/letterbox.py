"""Letterbox preprocessing: BGR uint8 frame -> normalised CHW network input, NumPy and torch.

The frame is scaled by one factor to fit the input (engines.core.letterbox.Letterbox),
centred, and the rest is filled with ``spec.pad_value``. Each channel becomes
``(x / 255 - mean) / std`` in ``spec.channel_order``, as ``spec.dtype``.

NumPy: cv2.resize (INTER_LINEAR), then colour order and normalisation straight
into ``out``: for float32 one multiply-add per channel, ``x * (1 / (255 std)) -
mean / std`` (a NumPy ufunc reading the strided uint8 channel: about 20x faster
than a gather through a lookup table, measured on a 640x480 frame, where the
table was most of the preprocess stage's time); other dtypes use a 256-entry
lookup table per channel.
Torch: F.interpolate (bilinear, align_corners=False, antialias=False) on
whatever device the frame is on. Both sample at the same half-pixel centres;
they differ only by cv2's 8-bit rounding of the resized pixels (< 1 grey level,
see tests/engines/ops/test_letterbox.py for the bound we check).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec


def letterbox_numpy(frame_bgr: np.ndarray, spec: PreprocessSpec, out: np.ndarray | None = None):
    """-> (tensor (3, spec.height, spec.width) of spec.dtype, Letterbox); fills ``out`` if given."""
    frame = check_frame(frame_bgr, "letterbox_numpy")
    box = Letterbox.fit(frame.shape[0], frame.shape[1], spec)
    out = _output_array(out, spec)
    if (box.resized_h, box.resized_w) != frame.shape[:2]:
        frame = cv2.resize(frame, (box.resized_w, box.resized_h), interpolation=cv2.INTER_LINEAR)
    tables = normalisation_tables(spec)
    source_channels = (2, 1, 0) if spec.channel_order == "rgb" else (0, 1, 2)
    top, left = int(box.pad_y), int(box.pad_x)
    bottom, right = top + box.resized_h, left + box.resized_w
    affine = affine_coefficients(spec) if out.dtype == np.float32 else None
    for c, (plane, table, source) in enumerate(zip(out, tables, source_channels)):
        pad = table[spec.pad_value]
        plane[:top] = pad
        plane[bottom:] = pad
        plane[top:bottom, :left] = pad
        plane[top:bottom, right:] = pad
        region = plane[top:bottom, left:right]
        if affine is None:
            # uint8 indices are always in range; mode="clip" only spares NumPy a buffered copy
            np.take(table, frame[:, :, source], out=region, mode="clip")
            continue
        scale, offset = affine[c]
        np.multiply(frame[:, :, source], scale, out=region, casting="unsafe")
        if offset:
            np.add(region, offset, out=region)
    return out, box


@functools.lru_cache(maxsize=16)
def affine_coefficients(spec: PreprocessSpec) -> tuple[tuple[np.float32, np.float32], ...]:
    """Per output channel (scale, offset) with value = uint8 * scale + offset, in float32."""
    return tuple((np.float32(1 / (255 * std)), np.float32(-mean / std)) for mean, std in zip(spec.mean, spec.std))


def letterbox_torch(frame_u8, spec: PreprocessSpec):
    """Torch twin: (H, W, 3) uint8 BGR tensor on any device -> (tensor (3, h, w), Letterbox)."""
    import torch
    import torch.nn.functional as F

    if not isinstance(frame_u8, torch.Tensor):
        raise TypeError(f"letterbox_torch: frame must be a torch tensor, got {type(frame_u8).__name__}")
    frame = check_frame(frame_u8, "letterbox_torch")
    box = Letterbox.fit(frame.shape[0], frame.shape[1], spec)
    pixels = frame.permute(2, 0, 1)
    if spec.channel_order == "rgb":
        pixels = pixels.flip(0)
    pixels = pixels[None].float()
    if (box.resized_h, box.resized_w) != tuple(frame.shape[:2]):
        pixels = F.interpolate(pixels, size=(box.resized_h, box.resized_w), mode="bilinear",
                               align_corners=False, antialias=False)
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=frame.device).view(3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=frame.device).view(3, 1, 1)
    out = ((torch.full((3, 1, 1), spec.pad_value / 255, device=frame.device) - mean) / std
           ).expand(3, spec.height, spec.width).contiguous()
    top, left = int(box.pad_y), int(box.pad_x)
    out[:, top:top + box.resized_h, left:left + box.resized_w] = (pixels[0] / 255 - mean) / std
    return out.to(getattr(torch, spec.dtype)), box


@functools.lru_cache(maxsize=16)
def normalisation_tables(spec: PreprocessSpec) -> np.ndarray:
    """(3, 256) of spec.dtype: row c maps a 0..255 value to output channel c's value."""
    levels = np.arange(256, dtype=np.float64) / 255
    mean = np.asarray(spec.mean, dtype=np.float64)[:, None]
    std = np.asarray(spec.std, dtype=np.float64)[:, None]
    tables = ((levels[None, :] - mean) / std).astype(spec.dtype)
    tables.setflags(write=False)          # cached per spec and shared: computed once, not per frame
    return tables


def check_frame(frame, where: str):
    """A frame must be (H, W, 3) uint8 (NumPy array, CuPy array or torch tensor)."""
    shape, dtype = tuple(frame.shape), str(frame.dtype).replace("torch.", "")
    if len(shape) != 3 or shape[2] != 3 or min(shape) < 1 or dtype != "uint8":
        raise ValueError(f"{where}: frame must be (H, W, 3) uint8 BGR, got shape {shape} dtype {dtype}")
    return frame


def _output_array(out, spec: PreprocessSpec) -> np.ndarray:
    expected = (3, spec.height, spec.width)
    if out is None:
        return np.empty(expected, dtype=spec.dtype)
    if tuple(out.shape) != expected or out.dtype != np.dtype(spec.dtype):
        raise ValueError(f"letterbox_numpy: out must be {expected} {spec.dtype}, "
                         f"got {tuple(out.shape)} {out.dtype}")
    return out
