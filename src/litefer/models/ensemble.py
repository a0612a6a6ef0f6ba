"""Output ensembles: several networks of one architecture in one graph, their answers averaged.

An ensemble of ``n`` members computes ``mean_i log_softmax(member_i(x))``, shape (N, classes):
the mean of the members' log-probabilities, returned as logits (the runtime's softmax of it is
the normalised geometric mean of the members' probabilities). Unlike a weight average
(litefer.train.average), the members need not share a starting point: independently trained
networks disagree on different faces, which is what an ensemble gains from. It costs ``n`` times
the member's parameters and MACs. Each member keeps its own parameters under ``members.<i>.``.

Registered names are ``<member>_x<n>`` (``mini_xception_x2`` ... ``_x4``: at most 227,804
parameters, within the 250K budget of the default); they take the member's input spec.
`litefer average --ensemble` builds one from trained checkpoints.
"""
from __future__ import annotations

import torch
from torch import nn

from .registry import get_entry, register_model


class OutputEnsemble(nn.Module):
    """(N, C, H, W) float -> (N, classes) mean of the members' log-softmax outputs."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logp = [torch.log_softmax(m(x), dim=1) for m in self.members]
        return torch.stack(logp).mean(0)


def ensemble_arch(member: str, n: int) -> str:
    """The registered name of ``n`` ``member`` networks averaged: ``<member>_x<n>``."""
    return f"{member}_x{n}"


def register_ensemble(member: str, n: int) -> None:
    """Register ``<member>_x<n>``: builder and spec (the member's, renamed) of the ensemble."""
    entry = get_entry(member)
    arch = ensemble_arch(member, n)
    spec = entry.spec.with_(name=arch, arch=arch,
                            extra={**entry.spec.extra, "ensemble": {"member": member, "n": n}})

    def build(num_classes: int = 7, in_channels: int = 1, **config) -> OutputEnsemble:
        return OutputEnsemble([entry.builder(num_classes=num_classes, in_channels=in_channels,
                                             **config) for _ in range(n)])

    register_model(spec, f"{n} {member} networks, mean of their log-probabilities "
                         "(`litefer average --ensemble`)")(build)


for _n in (2, 3, 4):
    register_ensemble("mini_xception", _n)
