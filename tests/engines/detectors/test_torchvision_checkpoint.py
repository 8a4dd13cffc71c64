"""read_checkpoint / load_into: accepted layouts, FrozenBatchNorm files, clear key listings."""
import pytest
import torch
from torch import nn

from engines.detectors.torchvision_checkpoint import load_into, read_checkpoint


def small_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_frozen_batchnorm_file_loads_and_gets_eps_zero_when_asked():
    state = {k: v for k, v in small_net().state_dict().items() if "num_batches_tracked" not in k}
    state["1.running_var"] = torch.full((4,), 2.0)
    plain, frozen = small_net(), small_net()
    load_into(plain, state, "w.pth", "the net")
    load_into(frozen, state, "w.pth", "the net", eps_zero_bn=True)
    assert plain[1].eps == 1e-5 and frozen[1].eps == 0.0
    assert torch.equal(frozen[1].running_var, state["1.running_var"])


def test_misfit_lists_missing_unexpected_and_mismatched_keys():
    state = small_net().state_dict()
    del state["0.bias"]
    state["2.weight"] = torch.zeros(1)
    state["1.weight"] = torch.zeros(5)
    with pytest.raises(ValueError, match=r"w\.pth: does not fit the net: "
                       r"missing keys \['0\.bias'\]; "
                       r"unexpected keys \['2\.weight'\]; mismatched shapes "
                       r"\['1\.weight: file \(5,\) vs model \(4,\)'\]"):
        load_into(small_net(), state, "w.pth", "the net")


def test_long_key_lists_are_cut_with_a_count():
    state = {f"extra{i}": torch.zeros(1) for i in range(9)} | small_net().state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys \['extra0', .*'extra3'\] \(\+5 more\)"):
        load_into(small_net(), state, "w.pth", "the net")


def test_read_checkpoint_layouts(tmp_path):
    state = small_net().state_dict()
    torch.save({"model": "maskrcnn", "size": "tiny", "class_names": ["a"], "state_dict": state},
               tmp_path / "ours.pt")
    got, meta = read_checkpoint(tmp_path / "ours.pt")
    assert meta == {"model": "maskrcnn", "size": "tiny", "class_names": ["a"]}
    assert got.keys() == state.keys()
    torch.save({"model": "maskrcnn"}, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match=r"broken\.pt: a streamdet weights file without"):
        read_checkpoint(tmp_path / "broken.pt")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_checkpoint(tmp_path / "missing.pth")
