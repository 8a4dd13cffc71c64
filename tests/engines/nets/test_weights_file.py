"""Our weights file: round trip through torch.save / torch.load(weights_only=True) and its errors."""
import pytest
import torch

from engines.nets.weights_file import load_weights, save_weights


def test_round_trip(tmp_path):
    state = {"a.weight": torch.arange(6.0).view(2, 3)}
    path = save_weights(tmp_path / "m.pt", "yolo", "tiny", ["x", "y"], state)
    data = load_weights(path, "yolo")
    assert data["size"] == "tiny" and data["class_names"] == ["x", "y"]
    assert torch.equal(data["state_dict"]["a.weight"], state["a.weight"])


def test_wrong_family_is_named(tmp_path):
    path = save_weights(tmp_path / "c.pt", "centernet", "tiny", ["x"], {})
    with pytest.raises(ValueError, match=r"c\.pt: holds a 'centernet' model, expected 'yolo'"):
        load_weights(path, "yolo")


def test_foreign_dict_lists_the_expected_keys(tmp_path):
    path = tmp_path / "f.pt"
    torch.save({"epoch": 3, "state_dict": {}}, path)
    with pytest.raises(ValueError, match="missing keys"):
        load_weights(path, "yolo")


def test_unreadable_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pt: not a torch weights file") as err:
        load_weights(path, "yolo")
    assert "weights_only=False" not in str(err.value)     # never advise unpickling untrusted files
