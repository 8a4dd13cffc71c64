"""Ground truth with identities: COCO annotations carry track_id, --save-mot writes MOT gt.txt."""
import json

import pytest

from engines.core.coco import coco_ground_truth
from pipeline.sources.synthetic import SyntheticScene
from tests.test_cli import free_endpoint, run_cli


def test_coco_annotations_carry_the_scene_track_ids():
    scene = SyntheticScene(seed=3, passers=True)
    coco = coco_ground_truth(scene, [0, 150], with_masks=False)
    for image in coco["images"]:
        ids = [a["track_id"] for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert ids == scene.ground_truth(image["frame_id"], masks=False).track_id.tolist()


@pytest.mark.slow
def test_run_writes_ground_truth_with_ids_for_the_frames_it_ran(tmp_path):
    gt, mot = tmp_path / "gt.json", tmp_path / "gt.txt"
    result = run_cli("run", "--max-frames", "9", "--no-status", "--publish", free_endpoint(), "--tracker", "none",
                     "--config", str(_config(tmp_path)), "--save-ground-truth", str(gt), "--save-mot", str(mot))
    assert result.returncode == 0, result.stderr
    coco = json.loads(gt.read_text())
    assert sorted(i["frame_id"] for i in coco["images"]) == [0, 3, 6]
    assert all(isinstance(a["track_id"], int) for a in coco["annotations"])
    rows = [line.split(",") for line in mot.read_text().splitlines()]
    assert sorted({int(r[0]) for r in rows}) == [1, 4, 7]
    assert len(rows) == len(coco["annotations"])


def _config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("source: {passers: true, frame_step: 3, seed: 3}\n")
    return path
