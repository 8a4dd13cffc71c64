"""COCO JSON for a scene's ground truth and for detector results; mask <-> RLE in one place.

Builds ground-truth dicts that pycocotools' ``COCO``/``COCOeval`` read directly
(category ids are the class ids, starting at 0; image ids are frame_id + 1;
annotation ids start at 1 because COCOeval treats id 0 as "unmatched"), turns
``Detections`` into COCO result records, and converts masks to and from RLE.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    from engines.core.detections import Detections
    from engines.core.scene import Scene


def _mask_utils():
    """pycocotools' mask module, imported on first use (only runs with masks need it)."""
    from pycocotools import mask
    return mask


def mask_to_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a (H, W) boolean mask, counts as a str (JSON-ready)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask_to_rle: expected a (H, W) mask, got shape {mask.shape}")
    rle = _mask_utils().encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": rle["counts"].decode("ascii")}


def masks_to_rle(masks) -> list[dict]:
    """(N, H, W) bool masks (or a list of RLE dicts, kept) -> list of COCO RLE dicts: the wire form."""
    if isinstance(masks, list):
        return masks
    return [mask_to_rle(mask) for mask in masks]


def _compressed(rle: dict) -> dict:
    """An RLE pycocotools can decode: list counts are compressed, str counts kept."""
    if "size" not in rle or "counts" not in rle:
        raise ValueError(f"RLE: expected a dict with 'size' and 'counts', got keys {list(rle)}")
    height, width = (int(v) for v in rle["size"])
    if isinstance(rle["counts"], list):
        return _mask_utils().frPyObjects(rle, height, width)
    return {"size": [height, width], "counts": rle["counts"]}


def rle_to_mask(rle: dict) -> np.ndarray:
    """(H, W) bool mask of a COCO RLE dict (compressed str/bytes or uncompressed list counts)."""
    return _mask_utils().decode(_compressed(rle)).astype(bool)


def _rle_str(rle: dict) -> dict:
    compressed = _compressed(rle)
    counts = compressed["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(v) for v in compressed["size"]], "counts": counts}


def _xywh(box) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def coco_ground_truth(scene: "Scene", frame_ids: Iterable[int],
                      with_masks: bool = True) -> dict:
    """COCO ground-truth dict (images, annotations, categories) for the given frames."""
    images, annotations = [], []
    for frame_id in frame_ids:
        frame_id = int(frame_id)
        image_id = frame_id + 1
        images.append({"id": image_id, "frame_id": frame_id, "width": scene.width,
                       "height": scene.height,
                       "file_name": f"synthetic_s{scene.seed}_{frame_id:06d}.png"})
        truth = scene.ground_truth(frame_id, masks=with_masks)
        for j in range(len(truth.class_id)):
            bbox = _xywh(truth.xyxy[j])
            record = {"id": len(annotations) + 1, "image_id": image_id,
                      "category_id": int(truth.class_id[j]), "bbox": bbox,
                      "area": bbox[2] * bbox[3], "iscrowd": int(truth.iscrowd[j]),
                      "track_id": int(truth.track_id[j])}      # the object's identity (stable per object)
            if with_masks:
                record["segmentation"] = mask_to_rle(truth.masks[j])
                record["area"] = float(truth.masks[j].sum())
            annotations.append(record)
    categories = [{"id": i, "name": name} for i, name in enumerate(scene.class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def detections_to_coco(image_id: int, dets: "Detections") -> list[dict]:
    """COCO result records (bbox xywh, score, category_id, segmentation when masks)."""
    masks = dets.mask
    records = []
    for j in range(len(dets)):
        record = {"image_id": int(image_id), "category_id": int(dets.class_id[j]),
                  "bbox": _xywh(dets.xyxy[j]), "score": float(dets.score[j])}
        if masks is not None:
            mask = masks[j]
            record["segmentation"] = _rle_str(mask) if isinstance(mask, dict) else mask_to_rle(mask)
        records.append(record)
    return records


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("ascii")
    raise TypeError(f"write_coco_json: cannot store {type(value).__name__} in JSON")


def write_coco_json(path, data) -> Path:
    """Write a COCO dict or result list as JSON, creating parent folders; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, default=_json_default)
    return path
