"""Nano family: tiny residual CNNs with selective long-range connectivity (EmotionNet Nano style).

A NanoNet is a 3x3 stem at full resolution followed by stages. Each stage opens with a 3x3 conv
(layer 0) that halves the map (stride 2, the default) or keeps it (stride 1), and adds
``depth - 1`` residual 3x3 layers at the stage width; widths grow as maps shrink. A *mixing* 1x1
conv (Mix) concatenates the outputs of several earlier 3x3 layers of its stage and becomes the
input of a later 3x3 layer, whose residual is still the previous layer's output. Global average pooling, dropout and one linear ``classifier`` give the
logits (softmax is applied by the runtime, as for every litefer model).

The architecture is fully described by a frozen NanoConfig that round-trips through JSON, so the
design search (litefer.search) can build, log and reload any candidate; the named variants
``nano_a`` and ``nano_b`` are configurations chosen by that search (see results/search/).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..labels import FER2013
from ..spec import ModelSpec
from .layers import config_from_dict, conv_bn_relu
from .registry import register_model


@dataclass(frozen=True)
class Mix:
    """A 1x1 mixing conv in ``stage``: input = concat of the outputs of 3x3 layers ``sources``
    (indices within the stage, each < target, at least two), output feeds 3x3 layer ``target``."""

    stage: int
    target: int
    sources: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "sources", tuple(sorted(int(s) for s in self.sources)))
        if len(set(self.sources)) < 2 or self.sources[0] < 0 or self.sources[-1] >= self.target:
            raise ValueError(f"mix {self}: needs >= 2 distinct sources in 0..target-1")


@dataclass(frozen=True)
class NanoConfig:
    """stem: channels of the full-resolution stem conv; widths/depths: per stage (depth counts its
    3x3 layers, >= 1); mixes: long-range 1x1 mixing convs; dropout: before the classifier;
    strides: per stage, 1 or 2 (empty = every stage halves the map, the searched variants' layout).
    Raises ValueError when inconsistent."""

    stem: int = 16
    widths: tuple[int, ...] = (32, 64, 128)
    depths: tuple[int, ...] = (2, 2, 2)
    mixes: tuple[Mix, ...] = ()
    dropout: float = 0.2
    strides: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "strides", tuple(int(t) for t in self.strides))
        mixes = tuple(m if isinstance(m, Mix) else Mix(**m) for m in self.mixes)
        object.__setattr__(self, "mixes", tuple(sorted(mixes, key=lambda m: (m.stage, m.target))))
        if not self.widths or len(self.widths) != len(self.depths):
            raise ValueError("widths and depths need one entry per stage")
        if self.stem < 1 or min(self.widths) < 1 or min(self.depths) < 1:
            raise ValueError("stem, widths and depths must be positive")
        if self.strides and (len(self.strides) != len(self.widths)
                             or not set(self.strides) <= {1, 2}):
            raise ValueError(f"strides must be empty or one 1 or 2 per stage, got {self.strides}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        seen = set()
        for m in self.mixes:
            if not 0 <= m.stage < len(self.depths) or m.target >= self.depths[m.stage]:
                raise ValueError(f"mix {m} does not fit depths {self.depths}")
            if (m.stage, m.target) in seen:
                raise ValueError(f"two mixes feed layer {m.target} of stage {m.stage}")
            seen.add((m.stage, m.target))

    def stage_mixes(self, stage: int) -> dict[int, tuple[int, ...]]:
        """target -> sources for one stage."""
        return {m.target: m.sources for m in self.mixes if m.stage == stage}

    def stage_strides(self) -> tuple[int, ...]:
        return self.strides or (2,) * len(self.widths)

    def to_dict(self) -> dict:
        """Plain dict; ``strides`` is left out when empty, so the searched variants' dicts (and
        the logs and cards that hold them) stay as they were."""
        d = asdict(self)
        if not self.strides:
            del d["strides"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "NanoConfig":
        """Inverse of to_dict; unknown keys raise ValueError (a typo must not pass silently)."""
        return config_from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "NanoConfig":
        return cls.from_dict(json.loads(text))


class NanoStage(nn.Module):
    """(N, cin, H, W) -> (N, width, ceil(H/stride), ceil(W/stride))."""

    def __init__(self, cin: int, width: int, depth: int, mixes: dict[int, tuple[int, ...]],
                 stride: int = 2):
        super().__init__()
        self.layers = nn.ModuleList([conv_bn_relu(cin, width, 3, stride)] + [
            conv_bn_relu(width, width, 3, relu=False) for _ in range(depth - 1)])
        self.sources = dict(mixes)
        self.mixes = nn.ModuleDict({str(t): conv_bn_relu(len(s) * width, width, 1)
                                    for t, s in self.sources.items()})
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.layers[0](x)]
        for i in range(1, len(self.layers)):
            src = self.sources.get(i)
            if src is None:
                u = outs[-1]
            else:
                u = self.mixes[str(i)](torch.cat([outs[j] for j in src], 1))
            outs.append(self.act(outs[-1] + self.layers[i](u)))
        return outs[-1]


class NanoNet(nn.Module):
    """(N, in_channels, H, W) float -> (N, num_classes) logits, for any H, W >= the product of the
    strides."""

    def __init__(self, config: NanoConfig, num_classes: int = 7, in_channels: int = 1):
        super().__init__()
        self.config = config
        self.stem = conv_bn_relu(in_channels, config.stem, 3)
        stages, cin = [], config.stem
        for s, (w, d, t) in enumerate(zip(config.widths, config.depths, config.stage_strides())):
            stages.append(NanoStage(cin, w, d, config.stage_mixes(s), t))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout))
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.stages(self.stem(x))))


def build_nano(config: NanoConfig, spec: ModelSpec) -> NanoNet:
    """A NanoNet for ``spec`` (its label count and channels)."""
    return NanoNet(config, len(spec.labels), spec.channels)


# Chosen by `litefer search` (proxy: FER2013 subset); logs and Pareto plots in results/search/.
NANO_CONFIGS: dict[str, NanoConfig] = {
    # results/search/nano_a: band 208.8K-232K params, trial 18 of 40, proxy accuracy 0.3656.
    "nano_a": NanoConfig(stem=12, widths=(24, 24, 96), depths=(3, 2, 3),
                         mixes=(Mix(0, 2, (0, 1)),)),
    # results/search/nano_b: band 122.4K-136K params, trial 38 of 40, proxy accuracy 0.3580.
    "nano_b": NanoConfig(stem=12, widths=(32, 40, 48), depths=(2, 2, 4),
                         mixes=(Mix(2, 3, (1, 2)),)),
    # Designed by hand, not searched: nano_a's parameter budget spent on 2.7x its
    # MACs (a first stage at full 48x48 resolution, four stages of at most two layers) to test
    # whether the distilled student is limited by compute rather than parameters.
    "nano_c": NanoConfig(stem=16, widths=(32, 48, 64, 96), depths=(1, 2, 2, 2),
                         strides=(1, 2, 2, 2)),
}


def _register(name: str, description: str) -> None:
    config = NANO_CONFIGS[name]
    spec = ModelSpec(name=name, arch=name, labels=FER2013.classes,
                     extra={"nano_config": config.to_dict()})

    def builder(num_classes: int = 7, in_channels: int = 1, **overrides) -> NanoNet:
        cfg = NanoConfig.from_dict({**config.to_dict(), **overrides}) if overrides else config
        return NanoNet(cfg, num_classes, in_channels)

    builder.__name__ = name
    register_model(spec, description)(builder)


_register("nano_a", "Nano-A: residual CNN, long-range 1x1 mixing (searched under 232K params)")
_register("nano_b", "Nano-B: residual CNN, long-range 1x1 mixing (searched under 136K params)")
_register("nano_c", "Nano-C: residual CNN, full-resolution first stage (hand-designed, 244K params)")
