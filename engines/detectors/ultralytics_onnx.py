"""A Detector for users' own Ultralytics ONNX exports (YOLOv5, YOLOv8, YOLO11 detection models).

Reads everything it needs from the file: the input size from the graph input,
the raw output layout from the single output's shape, and the class names from
the ``names`` metadata entry Ultralytics writes (a Python dict literal, parsed
with ``ast.literal_eval``). Decoding is engines.ops' ``yolo_decode`` (or its
CuPy / torch twin, by the output's array type). Layouts:

* YOLOv5:        [B, N, 5 + C]  box xywh, objectness, C class scores per row
* YOLOv8/YOLO11: [B, 4 + C, N]  box xywh and C class scores per column

N (the number of anchor points, e.g. 25200 or 8400) is the long axis; a dynamic
axis is taken to be N. An Ultralytics ``dynamic=True`` export leaves both axes
symbolic: its metadata (``version``, ``names``) then says v8 layout, C classes.
It runs on ONNX Runtime or TensorRT only (no torch module).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from engines.core.detections import Detections
from engines.core.spec import PreprocessSpec
from engines.detectors.base import Detector
from engines.ops.arrays import to_host

FLOAT16 = 10   # onnx.TensorProto.FLOAT16


class UltralyticsOnnxDetector(Detector):
    card_type = "ultralytics"

    def __init__(self, path: str | Path, *, imgsz: tuple[int, int] | None = None) -> None:
        import onnx
        self.onnx_path = self.weights_path = Path(path)
        if not self.onnx_path.is_file():
            raise FileNotFoundError(f"Ultralytics ONNX model {self.onnx_path} does not exist")
        try:
            model = onnx.load(str(self.onnx_path), load_external_data=False)
        except Exception as exc:   # protobuf raises its own DecodeError types
            raise ValueError(f"{self.onnx_path}: not an ONNX model file ({type(exc).__name__})") from None
        self.metadata = {prop.key: prop.value for prop in model.metadata_props}
        self.name = f"ultralytics:{self.onnx_path.stem}"
        self.spec = self._read_input(model, imgsz)
        self.layout, num_classes = self._read_output(model)
        self.class_names = self._read_names(num_classes)

    # -- reading the file ----------------------------------------------------------------
    def _fail(self, what: str) -> ValueError:
        return ValueError(f"{self.onnx_path}: {what}")

    def _read_input(self, model, imgsz) -> PreprocessSpec:
        initializers = {init.name for init in model.graph.initializer}
        inputs = [value for value in model.graph.input if value.name not in initializers]
        if len(inputs) != 1:
            raise self._fail(f"expected one image input [B, 3, H, W], found {len(inputs)} inputs "
                             f"(an empty or non-ONNX file?)")
        dims = _dims(inputs[0])
        if len(dims) != 4 or dims[1] not in (3, None):
            raise self._fail(f"input {inputs[0].name} has shape {dims}, expected [B, 3, H, W]")
        height, width = dims[2], dims[3]
        if height is None or width is None:
            size = imgsz or _literal(self.metadata.get("imgsz"))
            if not size:
                raise self._fail("input height/width are dynamic and no imgsz was given "
                                 "(pass imgsz=(H, W) or export with a fixed size)")
            height, width = (int(size[0]), int(size[-1])) if isinstance(size, (list, tuple)) else (size, size)
        dtype = "float16" if inputs[0].type.tensor_type.elem_type == FLOAT16 else "float32"
        return PreprocessSpec(height=int(height), width=int(width), channel_order="rgb",
                              pad_value=114, dtype=dtype)

    def _read_output(self, model) -> tuple[str, int]:
        task = self.metadata.get("task", "detect")
        if task != "detect":
            raise self._fail(f"is a '{task}' model; only detection exports are supported")
        outputs = list(model.graph.output)
        if len(outputs) != 1:
            raise self._fail(f"expected one output (a detection export), found {len(outputs)}: "
                             f"{[out.name for out in outputs]}")
        self.output_names = (outputs[0].name,)
        dims = _dims(outputs[0])
        names = self._names_literal()
        if len(dims) == 3 and dims[1] is None and dims[2] is None and names and "version" in self.metadata:
            return "v8", len(names)   # Ultralytics' dynamic=True export: [B, 4+C, N] with C and N symbolic
        layout = self._layout(dims)
        num_classes = (dims[2] - 5) if layout == "v5" else (dims[1] - 4)
        if num_classes < 1:
            raise self._fail(f"output shape {dims} leaves {num_classes} classes for layout {layout}")
        return layout, num_classes

    def _layout(self, dims: list[int | None]) -> str:
        unknown = self._fail(f"unknown output layout {dims}: expected YOLOv5 [B, N, 5+C] "
                             f"or YOLOv8/YOLO11 [B, 4+C, N]")
        if len(dims) != 3 or (dims[1] is None and dims[2] is None):
            raise unknown
        if dims[1] is None:
            return "v5"
        if dims[2] is None:
            return "v8"
        names = self._names_literal()
        if names is not None:                # decide by the class count when the names say it
            if dims[1] == 4 + len(names) and dims[2] != 5 + len(names):
                return "v8"
            if dims[2] == 5 + len(names) and dims[1] != 4 + len(names):
                return "v5"
        if dims[1] == dims[2]:
            raise unknown
        return "v8" if dims[1] < dims[2] else "v5"

    def _names_literal(self):
        text = self.metadata.get("names")
        if text is None:
            return None
        names = _literal(text)
        if isinstance(names, dict):
            try:
                return [str(names[key]) for key in sorted(names, key=int)]
            except (TypeError, ValueError):
                pass
        elif isinstance(names, (list, tuple)):
            return [str(name) for name in names]
        raise self._fail(f"metadata 'names' is not a dict or list of class names: {text[:80]!r}")

    def _read_names(self, num_classes: int) -> tuple[str, ...]:
        names = self._names_literal()
        if names is None:
            return tuple(f"class{index}" for index in range(num_classes))
        if len(names) != num_classes:
            raise self._fail(f"metadata 'names' has {len(names)} classes but the {self.layout} output "
                             f"has {num_classes}")
        return tuple(names)

    # -- decoding ------------------------------------------------------------------------
    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        from engines.ops import backend    # NumPy, CuPy or torch decode, by the array's type
        xyxy, score, class_id = backend.yolo_decode(
            outputs[self.output_names[0]][index], layout=self.layout, conf_threshold=conf_threshold,
            iou_threshold=iou_threshold, max_det=max_det)
        return Detections(to_host(xyxy), to_host(score), to_host(class_id), labels=self.class_names)

    def card(self) -> dict:
        return {"type": self.card_type, "onnx": str(self.onnx_path),
                "imgsz": [self.spec.height, self.spec.width]}

    @classmethod
    def from_card(cls, card: dict) -> "UltralyticsOnnxDetector":
        return cls(card["onnx"], imgsz=tuple(card["imgsz"]))

    def describe(self) -> str:
        return f"{super().describe()}, Ultralytics {self.layout} layout"


def _dims(value) -> list[int | None]:
    """An ONNX value's shape: ints for fixed sizes, None for dynamic ones."""
    return [dim.dim_value if dim.HasField("dim_value") else None
            for dim in value.type.tensor_type.shape.dim]


def _literal(text: str | None):
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
