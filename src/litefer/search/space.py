"""The Nano design space: random sampling and single-step mutations of NanoConfig, and budgets.

Every candidate keeps the family's shape: widths non-decreasing from stage to stage (channels
grow as maps shrink), 1..max depth per stage, and mixing convs that each take >= 2 earlier
3x3 outputs of their stage. Budgets are checked on the built model (count_params / count_macs),
never on a formula, so what is logged is exactly what would be trained.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ..models.layers import count_params
from ..models.nano import Mix, NanoConfig, build_nano
from ..models.profile import count_macs
from ..spec import ModelSpec

MUTATIONS = ("width", "depth", "stem", "mix")


@dataclass(frozen=True)
class SearchSpace:
    """Choices for each NanoConfig field; ``stages`` is fixed (48 -> 24 -> 12 -> 6 at 3)."""

    stages: int = 3
    stems: tuple[int, ...] = (8, 12, 16, 24)
    widths: tuple[int, ...] = (16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192)
    max_depth: int = 4
    mix_prob: float = 0.5
    dropout: float = 0.2

    def sample(self, rng: random.Random) -> NanoConfig:
        """A uniformly random valid configuration."""
        widths = sorted(rng.choice(self.widths) for _ in range(self.stages))
        depths = [rng.randint(1, self.max_depth) for _ in range(self.stages)]
        mixes = [_random_mix(s, t, rng) for s, d in enumerate(depths) for t in range(2, d)
                 if rng.random() < self.mix_prob]
        return NanoConfig(rng.choice(self.stems), tuple(widths), tuple(depths), tuple(mixes),
                          self.dropout)

    def mutate(self, cfg: NanoConfig, rng: random.Random) -> tuple[NanoConfig, str]:
        """One random edit of ``cfg`` -> (new valid config, mutation kind). May return a config
        equal to ``cfg`` when the chosen edit is impossible; callers retry."""
        kind = rng.choice(MUTATIONS)
        if kind == "stem":
            return replace(cfg, stem=_neighbour(self.stems, cfg.stem, rng)), kind
        s = rng.randrange(len(cfg.widths))
        if kind == "width":
            widths = list(cfg.widths)
            widths[s] = _neighbour(self.widths, widths[s], rng)
            return replace(cfg, widths=tuple(sorted(widths))), kind
        if kind == "depth":
            depths = list(cfg.depths)
            depths[s] = min(self.max_depth, max(1, depths[s] + rng.choice((-1, 1))))
            mixes = tuple(m for m in cfg.mixes if m.stage != s or m.target < depths[s])
            return replace(cfg, depths=tuple(depths), mixes=mixes), kind
        return replace(cfg, mixes=_toggle_mix(cfg, s, rng)), kind


def _neighbour(choices: tuple[int, ...], value: int, rng: random.Random) -> int:
    """A choice one or two steps away from ``value`` (the nearest choice when value is off-grid)."""
    i = min(range(len(choices)), key=lambda k: abs(choices[k] - value))
    j = min(len(choices) - 1, max(0, i + rng.choice((-2, -1, 1, 2))))
    return choices[j]


def _random_mix(stage: int, target: int, rng: random.Random) -> Mix:
    k = rng.randint(2, target)
    return Mix(stage, target, tuple(rng.sample(range(target), k)))


def _toggle_mix(cfg: NanoConfig, stage: int, rng: random.Random) -> tuple[Mix, ...]:
    """Remove, add or rewire one mixing conv of ``stage`` (unchanged when the stage is too
    shallow: a mix needs a target layer >= 2)."""
    targets = list(range(2, cfg.depths[stage]))
    if not targets:
        return cfg.mixes
    target = rng.choice(targets)
    others = tuple(m for m in cfg.mixes if (m.stage, m.target) != (stage, target))
    if len(others) < len(cfg.mixes) and rng.random() < 0.5:
        return others
    return others + (_random_mix(stage, target, rng),)


@dataclass(frozen=True)
class Budget:
    """Inclusive limits: min_params <= params <= max_params and macs <= max_macs (0 = none)."""

    max_params: int
    max_macs: int = 0
    min_params: int = 0

    def violation(self, params: int, macs: int) -> str | None:
        """None when inside the budget, else a reason such as 'params 250000 > 232000'."""
        if params > self.max_params:
            return f"params {params} > {self.max_params}"
        if params < self.min_params:
            return f"params {params} < {self.min_params}"
        if self.max_macs and macs > self.max_macs:
            return f"macs {macs} > {self.max_macs}"
        return None


def measure(cfg: NanoConfig, spec: ModelSpec) -> tuple[int, int]:
    """(trainable parameters, MACs at batch 1) of the model ``cfg`` builds for ``spec``."""
    model = build_nano(cfg, spec)
    return count_params(model), count_macs(model, spec)
