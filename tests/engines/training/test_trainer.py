"""train(): deterministic for a seed, resumable from its checkpoint, argument checks."""
import pytest
import torch

from engines.nets.weights_file import load_weights
from engines.training.checkpoint import checkpoint_path, load_checkpoint
from engines.training.trainer import learning_rate, train
from pipeline.sources.synthetic import SyntheticScene

torch.set_num_threads(1)
FAST = dict(batch=1, log_every=1, progress=False, threads=1, scenes=SyntheticScene)


def _weights(path):
    return load_weights(path, "yolo")["state_dict"]


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights(tmp_path):
    a = _weights(train("yolo", "tiny", out=tmp_path / "a", steps=1, seed=3, **FAST))
    b = _weights(train("yolo", "tiny", out=tmp_path / "b", steps=1, seed=3, **FAST))
    assert _same(a, b)


def test_resume_continues_exactly(tmp_path):
    straight = _weights(train("yolo", "tiny", out=tmp_path / "s", steps=2, seed=1, **FAST))
    first = _weights(train("yolo", "tiny", out=tmp_path / "r", steps=1, seed=1, **FAST))
    assert load_checkpoint(tmp_path / "r", "yolo", "tiny")["step"] == 1
    resumed = _weights(train("yolo", "tiny", out=tmp_path / "r", steps=2, seed=1, resume=True,
                             **FAST))
    assert _same(straight, resumed)
    assert not _same(first, resumed)
    log_lines = (tmp_path / "r" / "train_log.jsonl").read_text().splitlines()
    assert len(log_lines) == 2


def test_centernet_trains_a_step(tmp_path):
    path = train("centernet", "tiny", out=tmp_path, steps=1, seed=0, **FAST)
    data = load_weights(path, "centernet")
    assert data["size"] == "tiny" and "hm.2.bias" in data["state_dict"]
    assert checkpoint_path(tmp_path).is_file()


def test_resume_without_checkpoint_and_mismatched_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train("yolo", "tiny", out=tmp_path, steps=1, resume=True, **FAST)
    train("centernet", "tiny", out=tmp_path, steps=1, **FAST)
    with pytest.raises(ValueError, match="cannot resume yolo tiny"):
        train("yolo", "tiny", out=tmp_path, steps=2, resume=True, **FAST)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="trainable models"):
        train("maskrcnn", out=tmp_path, steps=1, scenes=SyntheticScene)
    with pytest.raises(ValueError, match="unknown yolo size"):
        train("yolo", "r18", out=tmp_path, steps=1, scenes=SyntheticScene)
    with pytest.raises(ValueError, match="steps and batch"):
        train("yolo", "tiny", out=tmp_path, steps=0, scenes=SyntheticScene)


def test_learning_rate_warms_up_then_decays():
    peak = 1e-3
    assert learning_rate(0, 1000, peak) < learning_rate(50, 1000, peak)
    assert learning_rate(99, 1000, peak) == pytest.approx(peak)
    assert learning_rate(999, 1000, peak) == pytest.approx(0.02 * peak, rel=0.05)
