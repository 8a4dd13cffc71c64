"""Train a YOLOv8n from its yaml for a few minutes on a data set, export ONNX at 320 and 640.

Run ONLY with the peer interpreter (Ultralytics is AGPL; streamdet never imports it):
    PEER_PYTHON benchmarks/peer/train_export.py DATA_YAML OUT_DIR [--minutes M] [--epochs E]
    PEER_PYTHON benchmarks/peer/train_export.py - OUT_DIR --weights OUT_DIR/train/run/weights/last.pt --dynamic
Writes OUT_DIR/yolov8n-320.onnx and OUT_DIR/yolov8n-640.onnx (opset: Ultralytics' default).
--epochs 0 exports the randomly initialised model (scores then mean nothing).
--weights PT exports that checkpoint without training (DATA_YAML is then ignored).
--init PT trains on from that checkpoint's weights instead of from scratch (more epochs on a slow machine).
--dynamic exports a dynamic batch (and height/width) axis, as yolov8n-SIZE-dynamic.onnx: Ultralytics'
multi-stream predictor then runs all K streams in one call of batch K; with a fixed batch-1 export it
runs them one image at a time (AutoBackend splits the batch), and so does streamdet's engine.
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
    parser.add_argument("--weights", help="export this .pt instead of training")
    parser.add_argument("--init", help="train on from this .pt instead of yolov8n.yaml")
    parser.add_argument("--dynamic", action="store_true", help="dynamic batch axis (file name ends -dynamic)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640])
    args = parser.parse_args()
    from ultralytics import YOLO
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.weights:
        model = YOLO(args.weights)
    else:
        model = YOLO(args.init or "yolov8n.yaml")
        if args.epochs > 0:
            model.train(data=args.data, epochs=args.epochs, time=args.minutes / 60, imgsz=args.imgsz, batch=16,
                        device="cpu", workers=0, project=str(out / "train"), name="run", exist_ok=True,
                        plots=False, amp=False, seed=0, deterministic=True, verbose=False)
            model = YOLO(str(out / "train" / "run" / "weights" / "last.pt"))
    suffix = "-dynamic" if args.dynamic else ""
    for size in args.sizes:
        exported = Path(model.export(format="onnx", imgsz=size, device="cpu", dynamic=args.dynamic))
        shutil.copy(exported, out / f"yolov8n-{size}{suffix}.onnx")
        print(out / f"yolov8n-{size}{suffix}.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
