"""MobileNetV3-small (Howard et al. 2019), written here (no torchvision): inverted residual
blocks with squeeze-and-excitation and hard-swish, a 1x1 conv to 576 channels, global average
pooling and a two-layer classifier (576 -> 1024 -> K, hard-swish, dropout).

The network is fully convolutional up to a global pool (overall stride 32), so it accepts any
input size; the registered specs fix the one the preprocessing produces: ``mobilenetv3_small``
at 96 x 96 and ``mobilenetv3_small_64`` at 64 x 64, both grey (FER2013's 48 x 48 faces are
upscaled by the shared ``preprocess.fit_crop``). ``channels=3`` in a spec gives the RGB variant.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..labels import FER2013
from ..spec import ModelSpec
from .registry import register_model

# (kernel, expansion channels, output channels, squeeze-excite, hard-swish, stride), Table 2.
SMALL_BLOCKS = (
    (3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1),
)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor``, never below 90 % of ``v`` (as the paper)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


@dataclass(frozen=True)
class MobileNetV3Config:
    """width: channel multiplier of every block; last/head: channels of the final 1x1 conv and
    of the hidden classifier layer (scaled by width when width > 1, as the paper); dropout:
    before the last linear layer."""

    width: float = 1.0
    last: int = 576
    head: int = 1024
    dropout: float = 0.2


class SqueezeExcite(nn.Module):
    """Channel attention: global pool -> 1x1 reduce (ReLU) -> 1x1 expand (hard-sigmoid) -> scale."""

    def __init__(self, channels: int, reduce: int = 4):
        super().__init__()
        mid = make_divisible(channels / reduce)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(channels, mid, 1), nn.Conv2d(mid, channels, 1)
        self.act, self.gate = nn.ReLU(inplace=True), nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


def conv_bn_act(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                act: type[nn.Module] | None = nn.Hardswish) -> nn.Sequential:
    """Conv (no bias, same padding) -> BatchNorm -> optional activation."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand -> kxk depthwise (stride) -> optional SE -> 1x1 project (linear); identity
    shortcut when the stride is 1 and the channel count is unchanged."""

    def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, hs: bool, stride: int):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        layers = [] if exp == cin else [conv_bn_act(cin, exp, 1, act=act)]
        layers.append(conv_bn_act(exp, exp, k, stride, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcite(exp))
        layers.append(conv_bn_act(exp, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV3Small(nn.Module):
    """(N, C, H, W) float -> (N, num_classes) logits; any H, W >= 32."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1,
                 config: MobileNetV3Config = MobileNetV3Config()):
        super().__init__()
        w = config.width
        stem = make_divisible(16 * w)
        blocks, cin = [], stem
        for k, exp, cout, se, hs, stride in SMALL_BLOCKS:
            exp, cout = make_divisible(exp * w), make_divisible(cout * w)
            blocks.append(InvertedResidual(cin, k, exp, cout, se, hs, stride))
            cin = cout
        last = make_divisible(config.last * w)
        head = make_divisible(config.head * max(1.0, w))
        self.features = nn.Sequential(conv_bn_act(in_channels, stem, 3, 2), *blocks,
                                      conv_bn_act(cin, last, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden = nn.Sequential(nn.Linear(last, head), nn.Hardswish(inplace=True),
                                    nn.Dropout(config.dropout))
        self.classifier = nn.Linear(head, num_classes)
        self._init()

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.pool(self.features(x)).flatten(1)))


def _build(num_classes: int, in_channels: int, **config) -> MobileNetV3Small:
    return MobileNetV3Small(num_classes, in_channels, MobileNetV3Config(**config))


@register_model(
    ModelSpec(name="mobilenetv3_small", arch="mobilenetv3_small", labels=FER2013.classes,
              input_size=(96, 96)),
    "MobileNetV3-small: inverted residuals, SE, hard-swish (Howard 2019); 96x96 grey",
)
def mobilenetv3_small(num_classes: int = 7, in_channels: int = 1, **config) -> MobileNetV3Small:
    return _build(num_classes, in_channels, **config)


@register_model(
    ModelSpec(name="mobilenetv3_small_64", arch="mobilenetv3_small_64", labels=FER2013.classes,
              input_size=(64, 64)),
    "MobileNetV3-small at 64x64 grey (2.25x fewer MACs than 96x96)",
)
def mobilenetv3_small_64(num_classes: int = 7, in_channels: int = 1,
                         **config) -> MobileNetV3Small:
    return _build(num_classes, in_channels, **config)
