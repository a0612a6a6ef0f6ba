"""Comparison baselines at FER2013 resolution: a VGG-style and a ResNet-style network.

vgg_fer: four stages of two 3x3 conv-BN-ReLU (32, 64, 128, 256 filters) with 2x2 max pooling,
global average pooling, dropout 0.5 and a 256-unit hidden layer (~1.2M parameters).
resnet_fer: a ResNet-18 layout (basic blocks, 2 per stage) at widths 32-64-128-256 with a
3x3 stride-1 stem for 48x48 input (~2.8M parameters).
"""
from __future__ import annotations

import torch
from torch import nn

from ..labels import FER2013
from ..spec import ModelSpec
from .layers import conv_bn_relu
from .registry import register_model


class VGGFer(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1,
                 widths: tuple[int, ...] = (32, 64, 128, 256), hidden: int = 256):
        super().__init__()
        layers, cin = [], in_channels
        for w in widths:
            layers += [conv_bn_relu(cin, w), conv_bn_relu(w, w), nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
                                  nn.Linear(cin, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(cin, cout, 3, stride),
                                  conv_bn_relu(cout, cout, 3, relu=False))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else \
            conv_bn_relu(cin, cout, 1, stride, relu=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNetFer(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1,
                 widths: tuple[int, ...] = (32, 64, 128, 256), blocks: int = 2):
        super().__init__()
        layers, cin = [conv_bn_relu(in_channels, widths[0])], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, w, 2 if (b == 0 and i > 0) else 1))
                cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(ModelSpec(name="vgg_fer", arch="vgg_fer", labels=FER2013.classes),
                "VGG-style baseline: 4x(2 conv) stages, GAP, 256-unit FC")
def vgg_fer(num_classes: int = 7, in_channels: int = 1, **config) -> VGGFer:
    return VGGFer(num_classes, in_channels, **config)


@register_model(ModelSpec(name="resnet_fer", arch="resnet_fer", labels=FER2013.classes),
                "ResNet-18-style baseline at widths 32-256")
def resnet_fer(num_classes: int = 7, in_channels: int = 1, **config) -> ResNetFer:
    return ResNetFer(num_classes, in_channels, **config)
