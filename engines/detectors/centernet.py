"""CenterNet detector: our CenterNetNet (or an official ResNet-18 checkpoint) and its decoding.

Our own trained models take RGB input normalised with the ImageNet mean/std and
a centred letterbox padded with 114. ``official=True`` loads an official
CenterNet 'res_18' checkpoint and uses its preprocessing: BGR input, mean
(0.408, 0.447, 0.470), std (0.289, 0.274, 0.278), black padding, 512x512.
Outputs ``hm`` (logits), ``wh`` and ``reg`` at stride 4 are decoded by the
shared ``centernet_decode`` op.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from engines.detectors.base import Detector
from engines.detectors.spec import PreprocessSpec
from engines.detectors.yolo import host_array
from engines.nets.centernet import DOWN_RATIO, CenterNetNet, centernet_size
from engines.detectors.yolo import default_class_names
from engines.nets.weights_file import checked_size, load_state, load_weights
from pipeline.detections import Detections

OFFICIAL_MEAN = (0.408, 0.447, 0.470)
OFFICIAL_STD = (0.289, 0.274, 0.278)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
MAX_PEAKS = 100
COCO80 = tuple(name.replace("_", " ") for name in (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe "
    "backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite "
    "baseball_bat baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork "
    "knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake "
    "chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
    "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear "
    "hair_drier toothbrush").split())


def centernet_spec(size: str, official: bool = False) -> PreprocessSpec:
    side = centernet_size(size).input_size
    if official:
        return PreprocessSpec(side, side, OFFICIAL_MEAN, OFFICIAL_STD, "bgr", pad_value=0)
    return PreprocessSpec(side, side, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, "rgb", pad_value=114)


class CenterNetDetector(Detector):
    name = "centernet"
    output_names = ("hm", "wh", "reg")

    def __init__(self, size: str | None = "tiny", weights: str | Path | None = None,
                 class_names: Sequence[str] | None = None, official: bool = False) -> None:
        self.official, self._state, self._official_net = official, None, None
        file_names = None
        if official:
            size = self._load_official(size, weights, class_names)
            file_names = COCO80 if self._official_net.num_classes == 80 else None
        elif weights is not None:
            data = load_weights(weights, "centernet")
            size = checked_size(data, size, weights, "CenterNet")
            file_names, self._state = data["class_names"], data["state_dict"]
        if weights is not None:
            self.weights_path = Path(weights)
        self.size = size or "tiny"
        centernet_size(self.size)
        self.class_names = tuple(class_names or file_names or default_class_names())
        self.spec = centernet_spec(self.size, official)
        if self._state is not None:
            self.build_module()     # fail now, naming the file, if the weights do not fit

    def _load_official(self, size, weights, class_names) -> str:
        from engines.nets.centernet_official import load_official_centernet
        if weights is None:
            raise ValueError("CenterNetDetector(official=True) needs the official checkpoint "
                             "path in weights")
        size = size or "r18"
        count = len(class_names) if class_names else None
        self._official_net = load_official_centernet(weights, count, size)
        return size

    def build_module(self) -> nn.Module:
        if self._official_net is not None:
            return self._official_net.eval()
        return load_state(CenterNetNet(len(self.class_names), self.size), self._state, self.weights_path,
                          f"CenterNet {self.size} with {len(self.class_names)} classes")

    def decode(self, outputs: Mapping[str, Any], index: int, *, conf_threshold: float = 0.25,
               iou_threshold: float = 0.45, max_det: int = 300) -> Detections:
        """Peaks of the heatmap (no NMS: ``iou_threshold`` is unused by CenterNet)."""
        from engines.ops import backend
        xyxy, score, class_id = backend.centernet_decode(
            outputs["hm"][index], outputs["wh"][index], outputs["reg"][index],
            k=min(max_det, MAX_PEAKS), down_ratio=DOWN_RATIO, score_threshold=conf_threshold)
        return Detections(host_array(xyxy), host_array(score), host_array(class_id),
                          labels=self.class_names)

    def describe(self) -> str:
        kind = "official " if self.official else ""
        trained = "untrained" if self.weights_path is None else str(self.weights_path)
        return f"{kind}centernet-{self.size} {self.spec.width}x{self.spec.height}, " \
               f"{len(self.class_names)} classes, weights {trained}"

