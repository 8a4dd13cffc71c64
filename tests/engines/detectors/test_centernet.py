"""CenterNetDetector: our spec vs the official one, outputs, decoding, official checkpoints."""
import numpy as np
import pytest
import torch

from engines.core.labels import COCO80
from engines.detectors.centernet import CenterNetDetector
from engines.nets.centernet import CenterNetNet
from engines.nets.weights_file import save_weights

torch.set_num_threads(1)


def test_spec_and_outputs_of_our_model():
    det = CenterNetDetector("tiny")
    assert det.output_names == ("hm", "wh", "reg")
    assert (det.spec.height, det.spec.channel_order) == (320, "rgb")
    with torch.no_grad():
        hm, wh, reg = det.build_module()(torch.rand(1, 3, 320, 320))
    assert tuple(hm.shape) == (1, 6, 80, 80) and tuple(reg.shape) == (1, 2, 80, 80)


def test_decode_uses_down_ratio_four():
    det = CenterNetDetector("tiny")
    hm = np.full((1, 6, 20, 20), -10.0, np.float32)
    wh = np.zeros((1, 2, 20, 20), np.float32)
    reg = np.zeros((1, 2, 20, 20), np.float32)
    hm[0, 4, 5, 10] = 3.0
    wh[0, :, 5, 10] = [6, 2]
    reg[0, :, 5, 10] = [0.5, 0.25]
    dets = det.decode({"hm": hm, "wh": wh, "reg": reg}, 0, conf_threshold=0.3)
    assert len(dets) == 1 and dets.class_id[0] == 4
    np.testing.assert_allclose(dets.xyxy[0], [(10.5 - 3) * 4, (5.25 - 1) * 4,
                                              (10.5 + 3) * 4, (5.25 + 1) * 4])


def test_official_checkpoint_uses_the_official_preprocessing(tmp_path):
    net = CenterNetNet(80, "r18")
    path = tmp_path / "ctdet_coco_res18.pth"
    torch.save({"epoch": 140, "state_dict": {f"module.{k}": v for k, v in
                                             net.state_dict().items()}}, path)
    det = CenterNetDetector(size=None, weights=path, official=True)
    assert det.size == "r18" and det.class_names == COCO80 and len(COCO80) == 80
    assert det.spec.channel_order == "bgr" and (det.spec.height, det.spec.width) == (512, 512)
    assert det.spec.mean == (0.408, 0.447, 0.470) and det.spec.std == (0.289, 0.274, 0.278)
    assert "official" in det.describe()


def test_our_weights_round_trip_and_wrong_files(tmp_path):
    path = save_weights(tmp_path / "c.pt", "centernet", "tiny", list("abcdef"),
                        CenterNetNet(6, "tiny").state_dict())
    assert CenterNetDetector(None, path).class_names == tuple("abcdef")
    yolo_file = save_weights(tmp_path / "y.pt", "yolo", "tiny", ["a"], {})
    with pytest.raises(ValueError, match="y.pt: holds a 'yolo' model, expected 'centernet'"):
        CenterNetDetector("tiny", yolo_file)
    with pytest.raises(ValueError, match="needs the official checkpoint"):
        CenterNetDetector(official=True)
