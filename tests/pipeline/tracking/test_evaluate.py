"""eval --track refuses to score a run that did not publish every frame."""
import json

import pytest

from pipeline import config
from pipeline.tracking import evaluate


class PartialRun:
    """Stands in for the Supervisor: the JSON Lines sink got only ``published`` frames."""
    published = 3

    def __init__(self, cfg, log_level="WARNING"):
        self.jsonl = cfg["sinks"]["jsonl"]

    def run(self):
        with open(self.jsonl, "w") as f:
            for frame_id in range(self.published):
                f.write(json.dumps({"frame_id": frame_id, "detections": []}) + "\n")
        return {"stop_reason": "stage preprocess failed too often"}


@pytest.fixture
def partial_supervisor(monkeypatch):
    import pipeline.supervisor
    monkeypatch.setattr(pipeline.supervisor, "Supervisor", PartialRun)


def test_a_partial_run_is_an_error_naming_what_was_published(tmp_path, partial_supervisor):
    cfg = config.load(None)
    with pytest.raises(RuntimeError, match=r"published 3 of 5 frames .*failed too often"):
        evaluate.run_and_collect(cfg, tmp_path, "s7_1", expected=5)


def test_a_complete_run_comes_back_in_frame_order(tmp_path, partial_supervisor):
    messages = evaluate.run_and_collect(config.load(None), tmp_path, "s7_1", expected=3)
    assert [m["frame_id"] for m in messages] == [0, 1, 2]


def test_nothing_published_is_an_error(tmp_path, partial_supervisor, monkeypatch):
    monkeypatch.setattr(PartialRun, "run", lambda self: {"stop_reason": "no model"})
    with pytest.raises(RuntimeError, match="published 0 of 4"):
        evaluate.run_and_collect(config.load(None), tmp_path, "untracked", expected=4)
