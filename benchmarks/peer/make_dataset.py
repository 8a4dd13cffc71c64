"""Write a YOLO-format data set from the synthetic camera, for training the peer's YOLOv8n.

Run with streamdet's interpreter (not the peer's):
    python benchmarks/peer/make_dataset.py OUT_DIR [--train N] [--val N]
OUT_DIR gets images/{train,val}/*.jpg, labels/{train,val}/*.txt and data.yaml.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pipeline.sources.synthetic import SyntheticScene  # noqa: E402


def write_split(out: Path, split: str, seeds: list[int], frames: int) -> None:
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    per_seed = max(1, frames // len(seeds))
    for seed in seeds:
        scene = SyntheticScene(seed=seed)
        for k in range(per_seed):
            frame_id = k * 7                     # spread over the scene's epochs
            name = f"s{seed}_{frame_id:05d}"
            image = scene.render(frame_id)
            cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), image)
            truth = scene.ground_truth(frame_id, masks=False)
            rows = []
            for (x1, y1, x2, y2), cls in zip(truth.xyxy, truth.class_id):
                cx, cy = (x1 + x2) / 2 / scene.width, (y1 + y2) / 2 / scene.height
                w, h = (x2 - x1) / scene.width, (y2 - y1) / scene.height
                rows.append(f"{int(cls)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
            (out / "labels" / split / f"{name}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=320)
    parser.add_argument("--val", type=int, default=40)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    write_split(out, "train", [1, 2, 3, 4], args.train)
    write_split(out, "val", [7], args.val)
    names = SyntheticScene().class_names
    lines = [f"path: {out}", "train: images/train", "val: images/val", "names:"]
    lines += [f"  {i}: {name}" for i, name in enumerate(names)]
    (out / "data.yaml").write_text("\n".join(lines) + "\n")
    print(out / "data.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
