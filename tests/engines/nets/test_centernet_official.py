"""Official CenterNet 'res_18' checkpoints: a file in the official layout loads; a wrong one is named."""
import pytest
import torch

from engines.nets.centernet import CenterNetNet
from engines.nets.centernet_official import load_official_centernet

torch.set_num_threads(1)


def _official_file(path, net, drop=(), extra=None, reshape=None):
    """Write ``net``'s weights as the official trainer saves them (DataParallel prefix, epoch)."""
    state = {f"module.{k}": v.clone() for k, v in net.state_dict().items()
             if k not in drop and not k.endswith("num_batches_tracked")}
    if reshape:
        state[f"module.{reshape}"] = torch.zeros(3, 3)
    state.update(extra or {})
    torch.save({"epoch": 140, "state_dict": state}, path)
    return path


def test_official_layout_loads_and_reproduces_outputs(tmp_path):
    torch.manual_seed(0)
    source = CenterNetNet(80, "r18").eval()
    path = _official_file(tmp_path / "ctdet_coco_resdcn18.pth", source)
    loaded = load_official_centernet(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for got, want in zip(loaded(x), source(x)):
            assert torch.equal(got, want)
    assert loaded.num_classes == 80


def test_bad_file_names_missing_unexpected_and_mismatched_keys(tmp_path):
    net = CenterNetNet(80, "r18")
    path = _official_file(tmp_path / "bad.pth", net, drop=("wh.2.weight",),
                          extra={"module.dcn.offset": torch.zeros(1)}, reshape="reg.0.weight")
    with pytest.raises(ValueError) as info:
        load_official_centernet(path)
    message = str(info.value)
    assert "bad.pth" in message
    assert "missing keys ['wh.2.weight']" in message
    assert "unexpected keys ['dcn.offset']" in message
    assert "reg.0.weight: file (3, 3) vs model (64, 256, 3, 3)" in message


def test_a_file_without_state_dict_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"epoch": 1, "weights": [1, 2]}, path)
    with pytest.raises(ValueError, match="other.pth"):
        load_official_centernet(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_official_centernet(tmp_path / "nowhere.pth")
