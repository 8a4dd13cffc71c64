"""The tiny Mask R-CNN: torchvision's MaskRCNN on a small from-scratch CNN + FPN, 320x320 input.

Made to train on a shared 2-core CPU in well under an hour on the synthetic
camera (objects 10-100 px at this input size). Every piece is torchvision's
(BackboneWithFPN, AnchorGenerator, RPNHead, MultiScaleRoIAlign, TwoMLPHead,
MaskRCNNHeads); only the widths are cut down:

* body: stride-2 3x3 conv stages 16-32-64-96-128 channels with one residual
  block each from stride 8 on, BatchNorm + ReLU; the FPN (64 channels) reads
  strides 8, 16, 32 and adds a max-pooled stride-64 level;
* RPN: 6 anchors per location (two sizes per level x ratios 0.5, 1, 2);
* box head: 7x7 RoIAlign -> two 256-wide FC layers; mask head: 14x14 RoIAlign
  -> two 64-channel convs -> 28x28 mask logits per class.

``num_classes`` counts torchvision's background class 0 (1 + our classes).
"""
from __future__ import annotations

from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

TINY_INPUT = 320
FPN_CHANNELS = 64
STAGE_CHANNELS = (16, 32, 64, 96, 128)
ANCHOR_SIZES = ((12, 20), (28, 40), (56, 80), (112, 160))
ANCHOR_RATIOS = (0.5, 1.0, 2.0)
BOX_FEATURES = 256
MASK_LAYERS = (64, 64)
MAX_DETECTIONS = 100


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """x + conv(conv(x)), channels kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels),
                                  nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(x + self.body(x))


def tiny_body(c: tuple[int, ...] = STAGE_CHANNELS) -> nn.Sequential:
    """Stages named stem (s2), s4, s8, s16, s32 after their output stride."""
    body = nn.Sequential()
    body.add_module("stem", _conv(3, c[0], 2))
    body.add_module("s4", _conv(c[0], c[1], 2))
    body.add_module("s8", nn.Sequential(_conv(c[1], c[2], 2), Residual(c[2])))
    body.add_module("s16", nn.Sequential(_conv(c[2], c[3], 2), Residual(c[3])))
    body.add_module("s32", nn.Sequential(_conv(c[3], c[4], 2), Residual(c[4])))
    return body


def tiny_backbone() -> BackboneWithFPN:
    return BackboneWithFPN(tiny_body(), {"s8": "0", "s16": "1", "s32": "2"},
                           list(STAGE_CHANNELS[2:]), FPN_CHANNELS)


def build_tiny_maskrcnn(num_classes: int, input_size: int = TINY_INPUT) -> MaskRCNN:
    """Untrained tiny Mask R-CNN for ``num_classes`` (background included) at a square input."""
    if num_classes < 2:
        raise ValueError(f"tiny Mask R-CNN: num_classes counts the background, expected >= 2, "
                         f"got {num_classes}")
    anchors = AnchorGenerator(ANCHOR_SIZES, (ANCHOR_RATIOS,) * len(ANCHOR_SIZES))
    names = ["0", "1", "2"]
    return MaskRCNN(
        tiny_backbone(), num_classes=None, min_size=input_size, max_size=input_size,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(FPN_CHANNELS, anchors.num_anchors_per_location()[0]),
        rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128,
        box_roi_pool=MultiScaleRoIAlign(names, output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(FPN_CHANNELS * 7 * 7, BOX_FEATURES),
        box_predictor=FastRCNNPredictor(BOX_FEATURES, num_classes),
        box_batch_size_per_image=64, box_detections_per_img=MAX_DETECTIONS,
        mask_roi_pool=MultiScaleRoIAlign(names, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(FPN_CHANNELS, MASK_LAYERS, 1),
        mask_predictor=MaskRCNNPredictor(MASK_LAYERS[-1], MASK_LAYERS[-1], num_classes))
