"""train_maskrcnn(): weights file, checkpoint + resume, determinism, argument errors."""
import json

import pytest
import torch

from engines.detectors.torchvision_models import TorchvisionDetector
from engines.training.maskrcnn_train import train, train_maskrcnn
from pipeline.sources.synthetic import SyntheticScene

torch.set_num_threads(1)

QUIET = {"progress": False, "log_every": 1, "threads": 1, "scenes": SyntheticScene}


def test_two_steps_write_loadable_weights_and_a_log(tmp_path):
    path = train_maskrcnn("tiny", out=tmp_path, steps=2, batch=1, seed=0, **QUIET)
    assert path == tmp_path / "maskrcnn_tiny.pt"
    det = TorchvisionDetector("maskrcnn", weights=path)
    assert det.name == "maskrcnn_tiny" and det.class_names[0] == "circle"
    records = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert {"loss_mask", "loss_classifier", "loss_objectness"} <= set(records[0])
    assert all(r["loss"] > 0 for r in records)


def test_same_seed_same_weights_and_resume_continues(tmp_path):
    a = train_maskrcnn(out=tmp_path / "a", steps=2, batch=1, seed=4, **QUIET)
    b = train_maskrcnn(out=tmp_path / "b", steps=1, batch=1, seed=4, checkpoint_every=1, **QUIET)
    b = train_maskrcnn(out=tmp_path / "b", steps=2, batch=1, seed=4, resume=True, **QUIET)
    c = train_maskrcnn(out=tmp_path / "c", steps=2, batch=1, seed=5, **QUIET)
    sa, sb, sc = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b, c))
    key = "roi_heads.mask_predictor.mask_fcn_logits.weight"
    assert torch.equal(sa[key], sb[key])
    assert not torch.equal(sa[key], sc[key])
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert state["step"] == 2 and state["model"] == "maskrcnn"


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown maskrcnn size 'huge'"):
        train_maskrcnn("huge", out=tmp_path, steps=1, scenes=SyntheticScene)
    with pytest.raises(ValueError, match="steps and batch must be >= 1"):
        train_maskrcnn(out=tmp_path, steps=0, scenes=SyntheticScene)
    with pytest.raises(ValueError, match="model must be 'maskrcnn', got 'yolo'"):
        train("yolo", out=tmp_path, steps=1, scenes=SyntheticScene)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train("maskrcnn", out=tmp_path / "empty", steps=1, resume=True, **QUIET)
