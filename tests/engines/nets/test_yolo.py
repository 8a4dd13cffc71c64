"""YoloNet: output shapes in train and eval mode, size bands, FLOPs of 'n', ONNX export."""
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from engines.nets.yolo import YOLO_SIZES, YoloNet
from tests.engines.nets.onnx_check import export_and_run

torch.set_num_threads(1)


def _params(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("size", ["tiny", "n"])
def test_train_mode_returns_three_levels(size):
    net = YoloNet(6, size).train()
    levels = net(torch.rand(2, 3, 128, 96))
    assert [tuple(lv.shape) for lv in levels] == [
        (2, 64 + 6, 16, 12), (2, 64 + 6, 8, 6), (2, 64 + 6, 4, 3)]


@pytest.mark.parametrize("size", ["tiny", "n"])
def test_eval_mode_returns_v8_layout(size):
    net = YoloNet(3, size).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 160, 128))
    n = (20 * 16) + (10 * 8) + (5 * 4)
    assert tuple(out.shape) == (2, 4 + 3, n)
    scores = out[:, 4:]
    assert float(scores.min()) >= 0 and float(scores.max()) <= 1
    assert float(out[:, 2:4].min()) >= 0          # widths and heights are non-negative


def test_eval_boxes_are_centred_on_their_grid_points():
    net = YoloNet(2, "tiny").eval()
    with torch.no_grad():
        for p in net.head.box.parameters():
            p.zero_()          # flat distributions: every side at distance 7.5 strides
        out = net(torch.rand(1, 3, 64, 64))
    first = out[0, :4, 0]      # stride-8 cell (0, 0): centre (4, 4), size 2 * 7.5 * 8
    assert torch.allclose(first, torch.tensor([4.0, 4.0, 120.0, 120.0]), atol=1e-4)
    last = out[0, :4, -1]      # stride-32 cell (1, 1) of a 2x2 map: centre (48, 48)
    assert torch.allclose(last, torch.tensor([48.0, 48.0, 480.0, 480.0]), atol=1e-3)


def test_parameter_bands():
    tiny, n = _params(YoloNet(6, "tiny")), _params(YoloNet(80, "n"))
    assert 0.5e6 < tiny <= 2.0e6
    assert 2.5e6 < n < 3.6e6
    assert YOLO_SIZES["tiny"].input_size == 320 and YOLO_SIZES["n"].input_size == 640


def test_n_flops_at_640_are_in_the_v8n_band():
    net = YoloNet(80, "n").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, 3, 640, 640))
    gflops = counter.get_total_flops() / 1e9       # multiply-adds counted as 2 FLOPs
    assert 8.0 <= gflops <= 9.5


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown YOLO size"):
        YoloNet(6, "huge")
    with pytest.raises(ValueError, match="num_classes"):
        YoloNet(0, "tiny")


def test_eval_net_exports_to_onnx_and_matches_torch(tmp_path):
    net = YoloNet(6, "tiny").eval()
    x = torch.rand(1, 3, 320, 320)
    (onnx_out,) = export_and_run(net, x, tmp_path / "yolo.onnx", ["output0"])
    with torch.no_grad():
        expected = net(x).numpy()
    assert onnx_out.shape == (1, 10, 2100)
    np.testing.assert_allclose(onnx_out, expected, rtol=1e-3, atol=1e-3)
