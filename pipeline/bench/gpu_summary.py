"""The summary step of the GPU suite: issue 15's targets against the steps' JSON files.

Writes DIR/summary.md (a table) next to the steps' files and returns the rows; a target
whose step is missing, failed or was a dry run reads "not measured".
"""
from __future__ import annotations

import json
from pathlib import Path


def _load(out: Path, step: str) -> dict:
    path = out / f"{step}.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    return {} if data.get("dry_run") or "error" in data else data


def _runs(pipeline: dict, streams: int, live: bool = False) -> list[dict]:
    """Torch runs of ``streams`` streams: the as-fast-as-possible ones, or the paced (``_live_``) ones."""
    return [r for label, r in pipeline.get("runs", {}).items()
            if "fps" in r and label.startswith("torch") and f"_{streams}_stream" in label
            and ("_live_" in label) == live]


def _pytest_counts(out: Path) -> tuple[int, int] | None:
    """(passed, run) from pytest's JUnit XML, or None when pytest did not get that far."""
    path = out / "pytest.xml"
    if not path.is_file():
        return None
    import xml.etree.ElementTree as ElementTree
    suites = ElementTree.parse(path).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites)
    run = sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) for s in suites)
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    return run - bad, run


def targets(out: Path) -> list[dict]:
    pipeline, nms, mask, fp16 = (_load(out, s) for s in ("pipeline", "nms", "maskrcnn", "fp16"))
    counts = _pytest_counts(out)
    single, eight = _runs(pipeline, 1), _runs(pipeline, 8)
    best = max(single, key=lambda r: r["fps"], default=None)
    live = min(_runs(pipeline, 1, live=True), key=lambda r: r["end_to_end"]["p50_ms"], default=None)
    live_p50 = live and live["end_to_end"]["p50_ms"]
    rows = [
        ("pytest -m gpu (kernel parity on the device, gpu tests): passed / run", "all",
         counts and f"{counts[0]} / {counts[1]}", counts and counts[0] == counts[1] > 0),
        ("YOLO-n 640 fp16, 1 stream, FPS", ">= 300", best and best["fps"], best and best["fps"] >= 300),
        # e2e on a paced camera: a run as fast as it goes measures its own backlog (slots x frame time)
        ("YOLO-n 640 fp16, 1 stream, e2e p50 ms, live camera", "<= 5", live_p50, live and live_p50 <= 5),
        ("YOLO-n 640 fp16, 8 streams, aggregate FPS", ">= 1000", max((r["fps"] for r in eight), default=None),
         eight and max(r["fps"] for r in eight) >= 1000),
    ]
    for row in nms.get("sizes", []):
        rows.append((f"CuPy NMS / torchvision CUDA NMS, {row['boxes']} boxes", "<= 1",
                     row["cupy_over_torchvision"], row["cupy_over_torchvision"] <= 1))
    if mask:
        fps = mask["r50_fp32"]["fps"]
        lost = mask["side_branch"]["fast_path_fps_lost"]
        rows += [("Mask R-CNN R50-FPN batch 1 FPS (fp32)", ">= 20", fps, fps >= 20),
                 ("fast path FPS lost with the side branch", "<= 0.05", lost, lost <= 0.05)]
    for model, row in fp16.get("models", {}).items():
        rows.append((f"{model} tiny mAP fp32 - fp16", "|d| <= 0.01", row["fp32_minus_fp16"]["mAP"],
                     row["within_0.01"]))
    return [{"target": t, "wanted": w, "measured": m, "met": None if m is None else bool(ok)}
            for t, w, m, ok in rows]


def summary(out: Path) -> dict:
    rows = targets(out)
    lines = ["| target | wanted | measured | met |", "|---|---|---|---|"]
    for r in rows:
        met = "not measured" if r["met"] is None else ("yes" if r["met"] else "NO")
        lines.append(f"| {r['target']} | {r['wanted']} | {r['measured']} | {met} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return {"targets": rows}
