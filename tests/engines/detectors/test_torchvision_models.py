"""TorchvisionDetector: each architecture from a local checkpoint, fixed outputs, decode, errors."""
import numpy as np
import pytest
import torch

from engines.core.labels import (COCO_CATEGORIES, COCO_CLASS_NAMES,
                                           TORCHVISION_COCO_LABELS, coco_category_id)
from engines.detectors.torchvision_archs import architecture, build_architecture
from engines.detectors.torchvision_models import TorchvisionDetector
from engines.nets.weights_file import save_weights
from engines.ops.letterbox import letterbox_numpy

torch.set_num_threads(1)

SMALL_FRAME = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)


def save_checkpoint(path, model, layout="bare"):
    state = model.state_dict()
    torch.save(state if layout == "bare" else {layout: state}, path)
    return path


def run_on_small_frame(det):
    """Letterbox a 16x12 frame (upsampled to the input), run the module, numpy outputs."""
    module = det.build_module()
    if hasattr(module.model, "score_thresh"):       # one-stage heads: let untrained boxes through
        module.model.score_thresh = 0.0
    image, _ = letterbox_numpy(SMALL_FRAME, det.spec)
    with torch.no_grad():
        outputs = module(torch.from_numpy(image)[None])
    return {name: out.numpy() for name, out in zip(det.output_names, outputs)}


CASES = [  # (family, size, input side; None: the architecture's own)
    pytest.param("maskrcnn", None, 128, id="maskrcnn", marks=pytest.mark.slow),
    pytest.param("maskrcnn", "tiny", None, id="maskrcnn_tiny"),
    pytest.param("fasterrcnn", None, 128, id="fasterrcnn"),
    pytest.param("fasterrcnn", "mobilenet_320", None, id="fasterrcnn_mobilenet_320"),
    pytest.param("retinanet", None, 128, id="retinanet"),
    pytest.param("fcos", None, 128, id="fcos"),
    pytest.param("ssdlite", None, None, id="ssdlite"),
    pytest.param("keypointrcnn", None, 128, id="keypointrcnn", marks=pytest.mark.slow),
    pytest.param("ssd", None, None, id="ssd", marks=pytest.mark.slow),
    pytest.param("maskrcnn", "v2", 128, id="maskrcnn_v2", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("family, size, side", CASES)
def test_architecture_loads_runs_and_decodes(tmp_path, family, size, side):
    torch.manual_seed(0)
    arch = architecture(family, size)
    path = save_checkpoint(tmp_path / "w.pth", build_architecture(arch, 3))
    k = 3
    det = TorchvisionDetector(family, size=size, weights=path, input_size=side, max_det=k)
    assert det.class_names == ("class0", "class1") and det.name == arch.name
    outputs = run_on_small_frame(det)
    side = det.spec.height
    assert outputs["boxes"].shape == (1, k, 4) and outputs["scores"].shape == (1, k)
    assert outputs["labels"].dtype == np.int64 and outputs["count"].shape == (1,)
    dets = det.decode(outputs, 0, conf_threshold=0.0, iou_threshold=1.0)
    count = outputs["count"][0]
    assert len(dets) == (outputs["labels"][0, :count] >= 1).sum() > 0   # label 0: background
    assert dets.xyxy.dtype == np.float32 and dets.class_id.dtype == np.int32
    assert set(dets.class_id.tolist()) <= {0, 1}
    assert (dets.xyxy >= -1e-3).all() and (dets.xyxy <= side + 1e-3).all()
    if arch.extra == "masks":
        assert outputs["masks"].shape == (1, k, 28, 28)
        assert dets.mask.shape == (len(dets), side, side) and dets.mask.dtype == bool
    else:
        assert dets.mask is None
    if arch.extra == "keypoints":
        assert outputs["keypoints"].shape == (1, k, 17, 3)
        assert dets.keypoints.shape == (len(dets), 17, 3)


@pytest.mark.parametrize("layout", ["bare", "model", "state_dict", "dataparallel"])
def test_checkpoint_layouts(tmp_path, layout):
    model = build_architecture(architecture("maskrcnn_tiny"), 4)
    state = model.state_dict()
    if layout == "dataparallel":
        torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "w.pth")
    else:
        save_checkpoint(tmp_path / "w.pth", model, layout)
    det = TorchvisionDetector("maskrcnn", size="tiny", weights=tmp_path / "w.pth")
    loaded = det.build_module().model.state_dict()
    assert len(det.class_names) == 3
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_wrong_architecture_names_the_file_and_keys(tmp_path):
    tiny = build_architecture(architecture("maskrcnn_tiny"), 3)
    path = save_checkpoint(tmp_path / "tiny.pth", tiny)
    with pytest.raises(ValueError, match=r"tiny\.pth: does not fit torchvision "
                       r"fasterrcnn_mobilenet_320.*missing keys \['backbone\.body\..*"
                       r"unexpected keys \[.*backbone\.body\.stem"):
        TorchvisionDetector("fasterrcnn", size="mobilenet_320", weights=path)


def test_inconsistent_class_count_lists_the_mismatched_shapes(tmp_path):
    state = build_architecture(architecture("maskrcnn_tiny"), 3).state_dict()
    other = build_architecture(architecture("maskrcnn_tiny"), 5).state_dict()
    for key in ("roi_heads.mask_predictor.mask_fcn_logits.weight",
                "roi_heads.mask_predictor.mask_fcn_logits.bias"):
        state[key] = other[key]
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match=r"odd\.pth: .*3 classes.*mismatched shapes "
                       r"\['roi_heads\.mask_predictor\.mask_fcn_logits\.weight: "
                       r"file \(5, 64, 1, 1\) vs model \(3, 64, 1, 1\)'"):
        TorchvisionDetector("maskrcnn", size="tiny", weights=tmp_path / "odd.pth")


def test_class_names_must_match_the_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "w.pth", build_architecture(architecture("maskrcnn_tiny"), 3))
    with pytest.raises(ValueError, match=r"w\.pth: maskrcnn_tiny has 2 classes .* 3 class names"):
        TorchvisionDetector("maskrcnn", size="tiny", weights=path, class_names=list("abc"))
    assert TorchvisionDetector("maskrcnn", size="tiny", weights=path,
                               class_names=["x", "y"]).class_names == ("x", "y")


def test_unreadable_layouts_and_wrong_family_are_clear(tmp_path):
    torch.save({"epoch": 3, "notes": "x"}, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match=r"odd\.pth: expected a state_dict.*\['epoch', 'notes'\]"):
        TorchvisionDetector("fasterrcnn", weights=tmp_path / "odd.pth")
    ours = save_weights(tmp_path / "y.pt", "yolo", "tiny", ["a"], {"w": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"y\.pt: holds a 'yolo' model, expected 'maskrcnn'"):
        TorchvisionDetector("maskrcnn", weights=ours)
    with pytest.raises(ValueError, match="unknown torchvision architecture 'fcos_v9'"):
        TorchvisionDetector("fcos", size="v9")
    with pytest.raises(ValueError, match="either weights=.* or download=True"):
        TorchvisionDetector("fcos", weights=tmp_path / "odd.pth", download=True)


def test_our_weights_file_selects_the_size_and_names(tmp_path):
    model = build_architecture(architecture("maskrcnn_tiny"), 3)
    path = save_weights(tmp_path / "m.pt", "maskrcnn", "tiny", ["p", "q"], model.state_dict())
    det = TorchvisionDetector("maskrcnn", weights=path)
    assert det.name == "maskrcnn_tiny" and det.class_names == ("p", "q")
    assert det.spec.height == det.spec.width == 320 and det.spec.mean == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"m\.pt: holds maskrcnn size 'tiny', expected 'v2'"):
        TorchvisionDetector("maskrcnn", size="v2", weights=path)


def test_91_class_checkpoint_gets_coco_names(tmp_path):
    coco = build_architecture(architecture("maskrcnn_tiny"), 91)
    path = save_checkpoint(tmp_path / "coco.pth", coco, layout="model")
    det = TorchvisionDetector("maskrcnn", size="tiny", weights=path)
    assert det.class_names == COCO_CLASS_NAMES and len(det.class_names) == 90
    outputs = {"boxes": np.array([[[1, 1, 9, 9], [20, 20, 30, 30]]], np.float32),
               "scores": np.array([[0.9, 0.8]], np.float32), "labels": np.array([[1, 90]]),
               "count": np.array([2]), "masks": np.ones((1, 2, 28, 28), np.float32)}
    dets = det.decode(outputs, 0)
    assert [dets.label(c) for c in dets.class_id] == ["person", "toothbrush"]
    assert [coco_category_id(c) for c in dets.class_id] == [1, 90]


def test_coco_label_table_has_80_names_and_na_gaps():
    assert len(TORCHVISION_COCO_LABELS) == 91 and TORCHVISION_COCO_LABELS[0] == "__background__"
    assert len(COCO_CATEGORIES) == 80
    gaps = [i for i, name in enumerate(TORCHVISION_COCO_LABELS) if name == "N/A"]
    assert gaps == [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    assert TORCHVISION_COCO_LABELS[1] == "person" and TORCHVISION_COCO_LABELS[72] == "tv"


def test_decode_thresholds_nms_and_max_det(tmp_path):
    path = save_checkpoint(tmp_path / "w.pth", build_architecture(architecture("ssdlite"), 3))
    det = TorchvisionDetector("ssdlite", weights=path)
    boxes = np.zeros((2, 6, 4), np.float32)
    boxes[1, :5] = [[0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 5, 5]]
    outputs = {"boxes": boxes, "scores": np.array([[0.0] * 6, [0.9, 0.8, 0.7, 0.6, 0.1, 0.99]]),
               "labels": np.array([[0] * 6, [1, 1, 2, 2, 1, 1]]), "count": np.array([0, 5])}
    dets = det.decode(outputs, 1, conf_threshold=0.5, iou_threshold=0.5)
    assert dets.score.tolist() == pytest.approx([0.9, 0.7, 0.6])   # row 1 suppressed, row 5 padding
    assert dets.class_id.tolist() == [0, 1, 1]
    assert len(det.decode(outputs, 1, conf_threshold=0.5, iou_threshold=0.5, max_det=2)) == 2
    assert len(det.decode(outputs, 0, conf_threshold=0.0)) == 0


def test_keypoints_decode_without_building_the_network():
    det = TorchvisionDetector("keypointrcnn")          # no weights: nothing is built yet
    assert det.class_names == ("person",) and det.output_names[-1] == "keypoints"
    points = np.random.default_rng(1).uniform(0, 100, (1, 4, 17, 3)).astype(np.float32)
    boxes = np.array([[[0, 0, 50, 50], [60, 0, 110, 50], [0, 60, 50, 110], [0, 0, 0, 0]]],
                     np.float32)
    outputs = {"boxes": boxes, "scores": np.array([[0.9, 0.2, 0.8, 0.0]], np.float32),
               "labels": np.array([[1, 1, 1, 0]]), "count": np.array([3]), "keypoints": points}
    dets = det.decode(outputs, 0, conf_threshold=0.5)
    assert dets.keypoints.shape == (2, 17, 3)
    np.testing.assert_array_equal(dets.keypoints, points[0, [0, 2]])


def test_every_family_is_in_the_registry(tmp_path):
    from engines.detectors import known_detectors, make_detector
    assert {"maskrcnn", "fasterrcnn", "retinanet", "ssd", "ssdlite", "fcos",
            "keypointrcnn"} <= set(known_detectors())
    assert make_detector("maskrcnn").name == "maskrcnn_tiny"           # the shipped default
    path = save_checkpoint(tmp_path / "w.pth", build_architecture(architecture("ssdlite"), 4))
    det = make_detector("ssdlite", path)
    assert isinstance(det, TorchvisionDetector) and len(det.class_names) == 3
