"""What ``serve`` hosts: an ONNX file described well enough for our engines, without torch.

The ONNX Runtime and TensorRT engines need of a detector only its name, input
size, output names and ``onnx_path``; ``OnnxModel`` reads those from the file
with ONNX Runtime, so the Triton interpreter (a Debian-python venv without torch)
can serve our models. ``served_model`` picks it, or the full detector for the
torch engine, and exports the ONNX file first when torch is there to do it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engines.core.spec import PreprocessSpec

NO_TORCH_TO_EXPORT = ("serve: this interpreter has no torch to export {model} to ONNX: export it with the "
                      "project's main environment (run_pipeline.py export --model {model} --batch {batch} "
                      "--out {model}.onnx) and serve that file with --weights {model}.onnx")


@dataclass(frozen=True)
class OnnxModel:
    name: str
    spec: PreprocessSpec
    output_names: tuple[str, ...]
    onnx_path: Path
    input_name: str = "images"
    class_names: tuple[str, ...] = ()

    @property
    def weights_path(self) -> Path:
        return self.onnx_path

    @classmethod
    def from_file(cls, path: str | Path, name: str) -> "OnnxModel":
        import onnxruntime as ort
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ValueError(f"{path}: expected one (B, 3, H, W) image input, found "
                             f"{[(i.name, i.shape) for i in inputs]}")
        _, channels, height, width = inputs[0].shape
        if channels != 3 or not isinstance(height, int) or not isinstance(width, int):
            raise ValueError(f"{path}: input {inputs[0].name} is {inputs[0].shape}, expected (B, 3, H, W) "
                             f"with a fixed H and W")
        return cls(name=name, spec=PreprocessSpec(height=height, width=width), onnx_path=path,
                   output_names=tuple(out.name for out in session.get_outputs()), input_name=inputs[0].name)

    def describe(self) -> str:
        return f"{self.name} {self.spec.width}x{self.spec.height} from {self.onnx_path}"


def served_model(model: str, weights: str | None, size: str | None, engine: str, max_batch: int):
    """The object the serving engine runs: OnnxModel (onnxruntime, tensorrt) or the torch detector."""
    if weights and Path(weights).suffix.lower() == ".onnx":
        return OnnxModel.from_file(weights, model)
    if weights is None and engine != "torch":             # a shipped model: its ONNX file, no torch
        from engines.detectors import make_detector
        shipped = make_detector(model, None, size)
        if shipped.onnx_path is not None:
            return OnnxModel.from_file(shipped.onnx_path, model)
    try:
        import torch  # noqa: F401  (exporting and the torch engine need it)
    except ImportError:
        raise ValueError(NO_TORCH_TO_EXPORT.format(model=model, batch=max_batch)) from None
    from engines.detectors import make_detector
    detector = make_detector(model, weights, size)
    if engine == "torch":
        return detector
    from engines.cache import cached_onnx
    return OnnxModel.from_file(cached_onnx(detector, batch=1, dynamic_batch=True), model)
