"""mini-Xception (Arriaga et al. 2017): 56,951 trainable parameters at 48x48x1, no dense layer."""
from __future__ import annotations

import torch
from torch import nn

from ..labels import FER2013
from ..spec import ModelSpec
from .layers import SeparableConv2d, conv_bn_relu
from .registry import register_model


class XceptionModule(nn.Module):
    """Two separable convs + 3x3/2 max pool, plus a strided 1x1 conv shortcut; output stride 2."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))
        self.body = nn.Sequential(
            SeparableConv2d(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            SeparableConv2d(cout, cout), nn.BatchNorm2d(cout),
            nn.MaxPool2d(3, 2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class MiniXception(nn.Module):
    """(N, C, 48, 48) float -> (N, num_classes) logits."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1,
                 widths: tuple[int, ...] = (16, 32, 64, 128), stem: int = 8):
        super().__init__()
        # Keras' stem uses 'valid' padding: 48 -> 46 -> 44.
        self.stem = nn.Sequential(conv_bn_relu(in_channels, stem, 3, padding=0),
                                  conv_bn_relu(stem, stem, 3, padding=0))
        blocks, cin = [], stem
        for w in widths:
            blocks.append(XceptionModule(cin, w))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(cin, num_classes, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.head(self.blocks(self.stem(x)))).flatten(1)


@register_model(
    ModelSpec(name="mini_xception", arch="mini_xception", labels=FER2013.classes),
    "mini-Xception: residual depthwise-separable CNN, global average pooling (Arriaga 2017)",
)
def mini_xception(num_classes: int = 7, in_channels: int = 1, **config) -> MiniXception:
    return MiniXception(num_classes, in_channels, **config)
