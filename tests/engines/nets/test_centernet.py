"""CenterNetNet: head shapes at stride 4, official layout names, size bands, ONNX export."""
import numpy as np
import pytest
import torch

from engines.nets.centernet import CENTERNET_SIZES, CenterNetNet
from tests.engines.nets.onnx_check import export_and_run

torch.set_num_threads(1)


@pytest.mark.parametrize("size", ["tiny", "r18"])
def test_outputs_are_at_stride_four(size):
    net = CenterNetNet(6, size).eval()
    with torch.no_grad():
        hm, wh, reg = net(torch.rand(2, 3, 128, 96))
    assert tuple(hm.shape) == (2, 6, 32, 24)
    assert tuple(wh.shape) == (2, 2, 32, 24) and tuple(reg.shape) == (2, 2, 32, 24)


def test_train_mode_returns_the_same_three_maps():
    net = CenterNetNet(3, "tiny").train()
    outputs = net(torch.rand(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outputs] == [(2, 3, 16, 16), (2, 2, 16, 16), (2, 2, 16, 16)]


def test_r18_has_the_official_layout():
    state = CenterNetNet(80, "r18").state_dict()
    assert tuple(state["conv1.weight"].shape) == (64, 3, 7, 7)
    assert tuple(state["layer4.1.conv2.weight"].shape) == (512, 512, 3, 3)
    assert tuple(state["deconv_layers.0.weight"].shape) == (512, 256, 4, 4)
    assert tuple(state["deconv_layers.7.weight"].shape) == (256,)      # last BatchNorm
    assert tuple(state["hm.0.weight"].shape) == (64, 256, 3, 3)
    assert tuple(state["hm.2.weight"].shape) == (80, 64, 1, 1)
    assert tuple(state["wh.2.bias"].shape) == (2,) and "reg.2.weight" in state
    assert not any(k.startswith("fc.") for k in state)
    assert CENTERNET_SIZES["r18"].input_size == 512


def test_heatmap_bias_starts_at_the_prior():
    net = CenterNetNet(4, "tiny")
    assert torch.allclose(net.hm[2].bias, torch.full((4,), -2.19))


def test_parameter_bands():
    tiny = sum(p.numel() for p in CenterNetNet(6, "tiny").parameters())
    r18 = sum(p.numel() for p in CenterNetNet(80, "r18").parameters())
    assert tiny < 3e6
    assert 14e6 < r18 < 17e6          # ResNet-18 (11.2M without fc) + 3 deconvs + heads


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="unknown CenterNet size"):
        CenterNetNet(6, "r50")


def test_eval_net_exports_to_onnx_and_matches_torch(tmp_path):
    net = CenterNetNet(6, "tiny").eval()
    x = torch.rand(1, 3, 128, 128)
    outs = export_and_run(net, x, tmp_path / "centernet.onnx", ["hm", "wh", "reg"])
    with torch.no_grad():
        expected = [t.numpy() for t in net(x)]
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_tiny_features_can_start_from_yolo_weights():
    from engines.nets.yolo import YoloNet
    yolo = YoloNet(6, "tiny")
    net = CenterNetNet(6, "tiny")
    net.load_yolo_features(yolo.state_dict())
    for part in ("backbone", "neck"):
        for name, value in getattr(yolo, part).state_dict().items():
            assert torch.equal(getattr(net, part).state_dict()[name], value)
    with pytest.raises(ValueError, match="ResNet backbone"):
        CenterNetNet(6, "r18").load_yolo_features(yolo.state_dict())
