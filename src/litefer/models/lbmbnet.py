"""LB-MBNet: mobile inverted bottlenecks whose depthwise convs are fixed local-binary kernels.

An LB-MBConv block maps (N, cin, H, W) -> (N, cout, H/s, W/s):
  1x1 expansion to ``mid = cin * r`` channels -> BN -> ReLU
  -> depthwise *local binary convolution* (LBC): fixed 3x3 ternary {-1, 0, 1} kernels drawn once
     from a seed (each entry non-zero with probability ``sparsity``, sign +-1 equiprobable),
     stored as buffers so no optimiser ever sees them -> BN -> ReLU
  -> squeeze-excitation over the ``mid`` LBC channels: its per-channel gates take the place of the
     learned 1x1 that follows the fixed convolution in an LBCNN block, and they are the scores
     ``litefer prune-se`` ranks channels by
  -> 1x1 projection to ``cout`` -> BN, plus the input when stride 1 and cin == cout.

Depths count weighted layers as stem conv + 3 per block (expansion, LBC, projection) + classifier:
LB-MBNet-32 has 10 blocks, LB-MBNet-59 has 19 (the SE 1x1s are gates, not counted). A stride-2
3x3 stem (16 channels, 48 -> 24), then stages (width, stride): (16, 1) (24, 2) (32, 2) (64, 2)
(96, 1), i.e. maps of 24, 12, 6, 3, 3 pixels; blocks per stage (1, 2, 2, 3, 2) for 32 and
(1, 3, 4, 6, 5) for 59; global average pooling, dropout, one linear ``classifier``. Table 5.1 of
the thesis was not available to us: the layout follows the first five stages of MobileNetV2 /
EfficientNet-B0. ``stem_stride=1`` keeps 48x48 in the first stage at 4x the MACs and ~5x the CPU
training time (36M MACs at r = 6 against 9M).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..labels import FER2013
from ..spec import ModelSpec
from .layers import conv_bn_relu
from .registry import register_model

WIDTHS, STRIDES = (16, 24, 32, 64, 96), (1, 2, 2, 2, 1)
DEPTHS = {32: (1, 2, 2, 3, 2), 59: (1, 3, 4, 6, 5)}
RATIOS = (3, 6, 20)      # registered expansion ratios; the default name has r = 6
DEFAULT_RATIO = 6


def lbc_kernels(channels: int, sparsity: float, seed: int) -> torch.Tensor:
    """float32 (channels, 1, 3, 3) with entries in {-1, 0, 1}: non-zero with probability
    ``sparsity`` (LBCNN's convention), sign +-1 equiprobable; identical for identical arguments."""
    if not 0.0 < sparsity <= 1.0:
        raise ValueError(f"LBC sparsity (fraction of non-zero weights) must be in (0, 1], "
                         f"got {sparsity}")
    gen = torch.Generator().manual_seed(int(seed))
    nonzero = torch.rand(channels, 1, 3, 3, generator=gen) < sparsity
    sign = torch.randint(0, 2, (channels, 1, 3, 3), generator=gen) * 2 - 1
    return (nonzero * sign).to(torch.float32)


class LBConv2d(nn.Conv2d):
    """Depthwise 3x3 conv with a fixed ternary kernel held as a *buffer* ``weight`` (never trained,
    saved in the state dict, exported to ONNX as a constant). (N, C, H, W) -> (N, C, H/s, W/s)."""

    def __init__(self, channels: int, stride: int = 1, sparsity: float = 0.5, seed: int = 0):
        super().__init__(channels, channels, 3, stride, 1, groups=channels, bias=False)
        del self.weight
        self.register_buffer("weight", lbc_kernels(channels, sparsity, seed))

    def reset_parameters(self) -> None:
        """Nothing to reset: the kernel is fixed (nn.Conv2d would overwrite it with random
        values)."""


class SqueezeExcite(nn.Module):
    """(N, C, H, W) -> same shape, each channel times its gate in (0, 1); ``gate`` is the sigmoid
    module whose (N, C, 1, 1) output prune-se records."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class LBMBConv(nn.Module):
    """LB-MBConv block (see the module docstring). ``lbc`` is the fixed conv + BN + ReLU whose
    output channels are the prunable LBC channels."""

    def __init__(self, cin: int, cout: int, stride: int, ratio: int, sparsity: float, seed: int):
        super().__init__()
        mid = cin * ratio
        self.expand = conv_bn_relu(cin, mid, 1)
        self.lbc = nn.Sequential(LBConv2d(mid, stride, sparsity, seed), nn.BatchNorm2d(mid),
                                 nn.ReLU(inplace=True))
        self.se = SqueezeExcite(mid, se_hidden(cin))
        self.project = conv_bn_relu(mid, cout, 1, relu=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.lbc(self.expand(x))))
        return x + y if self.residual else y


def se_hidden(cin: int) -> int:
    """SE bottleneck width: a quarter of the block's *input* width (EfficientNet), so it does not
    change when LBC channels are pruned."""
    return max(4, cin // 4)


@dataclass(frozen=True)
class LBMBConfig:
    """depth: 32 or 59 (see DEPTHS); ratio: expansion r (LBC channels = block input * r);
    sparsity: probability of a non-zero LBC weight; seed: draws every LBC kernel (block i uses
    seed * 1000 + i); stem_stride: 2 (default) or 1. Raises ValueError when out of range."""

    depth: int = 32
    ratio: int = DEFAULT_RATIO
    sparsity: float = 0.5
    seed: int = 0
    dropout: float = 0.2
    stem_stride: int = 2

    def __post_init__(self):
        if self.depth not in DEPTHS:
            raise ValueError(f"LB-MBNet depth must be one of {sorted(DEPTHS)}, got {self.depth}")
        if int(self.ratio) != self.ratio or self.ratio < 1:
            raise ValueError(f"expansion ratio must be a positive integer, got {self.ratio}")
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride}")

    def blocks(self) -> list[tuple[int, int, int]]:
        """(cin, cout, stride) of every block, in order."""
        out, cin = [], WIDTHS[0]
        for width, stride, n in zip(WIDTHS, STRIDES, DEPTHS[self.depth]):
            for i in range(n):
                out.append((cin, width, stride if i == 0 else 1))
                cin = width
        return out

    def to_dict(self) -> dict:
        return asdict(self)


class LBMBNet(nn.Module):
    """(N, in_channels, H, W) float -> (N, num_classes) logits (48x48 grey by default)."""

    def __init__(self, config: LBMBConfig, num_classes: int = 7, in_channels: int = 1):
        super().__init__()
        self.config = config
        self.stem = conv_bn_relu(in_channels, WIDTHS[0], 3, config.stem_stride)
        self.blocks = nn.Sequential(*[
            LBMBConv(cin, cout, s, config.ratio, config.sparsity, config.seed * 1000 + i)
            for i, (cin, cout, s) in enumerate(config.blocks())])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout))
        self.classifier = nn.Linear(WIDTHS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.blocks(self.stem(x))))


def arch_name(depth: int, ratio: int) -> str:
    """Registered name: ``lbmbnet32`` for r = 6, ``lbmbnet32_r3`` otherwise."""
    return f"lbmbnet{depth}" if ratio == DEFAULT_RATIO else f"lbmbnet{depth}_r{ratio}"


def _register(depth: int, ratio: int) -> None:
    config = LBMBConfig(depth=depth, ratio=ratio)
    name = arch_name(depth, ratio)
    spec = ModelSpec(name=name, arch=name, labels=FER2013.classes,
                     extra={"lbmb_config": config.to_dict()})

    def builder(num_classes: int = 7, in_channels: int = 1, **overrides) -> LBMBNet:
        return LBMBNet(LBMBConfig(**{**config.to_dict(), **overrides}), num_classes, in_channels)

    builder.__name__ = name
    register_model(spec, f"LB-MBNet-{depth}, r = {ratio}: inverted bottlenecks with fixed "
                         f"ternary depthwise kernels and SE gates")(builder)


def config_of(spec: ModelSpec) -> LBMBConfig:
    """The LBMBConfig stored in a registered LB-MBNet spec (ValueError for other models)."""
    if "lbmb_config" not in spec.extra:
        raise ValueError(f"{spec.arch!r} is not an LB-MBNet (no lbmb_config in its spec)")
    data = spec.extra["lbmb_config"]
    return LBMBConfig(**(json.loads(data) if isinstance(data, str) else data))


for _depth in DEPTHS:
    for _ratio in RATIOS:
        _register(_depth, _ratio)
