"""CenterNet ("Objects as Points"): a backbone, deconvolution upsampling to stride 4, three heads.

Layout follows the official ResNet variant (msra_resnet): the torchvision
ResNet stem and layer1..layer4 (attribute names ``conv1``, ``bn1``,
``layer1``..``layer4``), then ``deconv_layers`` = 3 x (ConvTranspose2d 4x4
stride 2 padding 1 without bias, BatchNorm, ReLU) back to stride 4, then three
heads ``hm`` (C), ``wh`` (2), ``reg`` (2), each conv3x3 -> ReLU -> conv1x1
(indices 0 and 2 in the state dict). ``r18`` is the official ResNet-18 at 512
(deconv 256, 256, 256; head_conv 64). ``tiny`` (320, for CPUs) takes its features
from the C2f backbone + PAN neck of YOLO tiny at stride 8 (48 channels), then ONE
deconvolution (64 channels) to stride 4 and heads with head_conv 32. It can start
from the trained YOLO tiny weights, as the official model starts from ImageNet
weights. Narrow ResNets (and the YOLO backbone alone, stride 32) with three
deconvolutions never learned to tell the classes apart on CPU within our time
box: see engines/weights/TRAINING.md.
Eval forward returns (hm_logits, wh, reg).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from engines.nets.sizes import CENTERNET_SIZES, DOWN_RATIO, CenterNetSize, centernet_size  # noqa: F401
from engines.nets.yolo import PanNeck, YoloBackbone, yolo_size

HM_PRIOR_BIAS = -2.19


def _resnet_layer(c_in: int, c_out: int, blocks: int, stride: int) -> nn.Sequential:
    down = None
    if stride != 1 or c_in != c_out:
        down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
    layers = [BasicBlock(c_in, c_out, stride, down)]
    layers += [BasicBlock(c_out, c_out) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _deconv_stack(c_in: int, channels: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_out in channels:
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=0,
                                      bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        c_in = c_out
    return nn.Sequential(*layers)


def _head(c_in: int, head_conv: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, head_conv, 3, padding=1, bias=True), nn.ReLU(inplace=True),
                         nn.Conv2d(head_conv, c_out, 1, bias=True))


class CenterNetNet(nn.Module):
    """Backbone + deconvs + hm/wh/reg heads; forward -> (hm_logits, wh, reg) at stride 4."""

    def __init__(self, num_classes: int, size: str = "tiny") -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"CenterNetNet: num_classes must be >= 1, got {num_classes}")
        self.size, self.num_classes = size, num_classes
        self.cfg = cfg = centernet_size(size)
        if cfg.backbone == "resnet":
            c_last = self._build_resnet(cfg)
        else:
            self.backbone = YoloBackbone(yolo_size(cfg.backbone))
            self.neck = PanNeck(yolo_size(cfg.backbone))
            c_last = yolo_size(cfg.backbone).widths[2]
        self.deconv_layers = _deconv_stack(c_last, cfg.deconv)
        self.hm = _head(cfg.deconv[-1], cfg.head_conv, num_classes)
        self.wh = _head(cfg.deconv[-1], cfg.head_conv, 2)
        self.reg = _head(cfg.deconv[-1], cfg.head_conv, 2)
        self._init_heads()

    def _build_resnet(self, cfg: CenterNetSize) -> int:
        """torchvision/official ResNet attribute names: conv1, bn1, layer1..layer4."""
        w = cfg.widths
        self.conv1 = nn.Conv2d(3, w[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _resnet_layer(w[0], w[0], cfg.blocks[0], 1)
        self.layer2 = _resnet_layer(w[0], w[1], cfg.blocks[1], 2)
        self.layer3 = _resnet_layer(w[1], w[2], cfg.blocks[2], 2)
        self.layer4 = _resnet_layer(w[2], w[3], cfg.blocks[3], 2)
        return w[3]

    def _init_heads(self) -> None:
        nn.init.constant_(self.hm[2].bias, HM_PRIOR_BIAS)
        for head in (self.wh, self.reg):
            nn.init.normal_(head[2].weight, std=0.001)
            nn.init.constant_(head[2].bias, 0.0)

    def load_yolo_features(self, yolo_state: dict) -> None:
        """Start backbone and neck from a trained YoloNet state dict (``backbone.*``, ``neck.*``)."""
        if self.cfg.backbone == "resnet":
            raise ValueError(f"CenterNet {self.size} has a ResNet backbone, not a YOLO one")
        for name in ("backbone", "neck"):
            prefix = name + "."
            getattr(self, name).load_state_dict({k[len(prefix):]: v for k, v in yolo_state.items()
                                                 if k.startswith(prefix)})

    @property
    def input_size(self) -> int:
        return self.cfg.input_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.cfg.backbone == "resnet":
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        else:
            x = self.neck(self.backbone(x))[0]
        x = self.deconv_layers(x)
        return self.hm(x), self.wh(x), self.reg(x)
