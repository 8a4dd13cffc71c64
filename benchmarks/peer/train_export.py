"""Train a YOLOv8n from its yaml for a few minutes on a data set, export ONNX at 320 and 640.

Run ONLY with the peer interpreter (Ultralytics is AGPL; streamdet never imports it):
    PEER_PYTHON benchmarks/peer/train_export.py DATA_YAML OUT_DIR [--minutes M] [--epochs E]
Writes OUT_DIR/yolov8n-320.onnx and OUT_DIR/yolov8n-640.onnx (opset: Ultralytics' default).
--epochs 0 exports the randomly initialised model (scores then mean nothing).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--imgsz", type=int, default=320)
    args = parser.parse_args()
    from ultralytics import YOLO
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = YOLO("yolov8n.yaml")
    if args.epochs > 0:
        model.train(data=args.data, epochs=args.epochs, time=args.minutes / 60, imgsz=args.imgsz, batch=16,
                    device="cpu", workers=0, project=str(out / "train"), name="run", exist_ok=True,
                    plots=False, amp=False, seed=0, deterministic=True, verbose=False)
        model = YOLO(str(out / "train" / "run" / "weights" / "last.pt"))
    for size in (320, 640):
        exported = Path(model.export(format="onnx", imgsz=size, device="cpu"))
        shutil.copy(exported, out / f"yolov8n-{size}.onnx")
        print(out / f"yolov8n-{size}.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
