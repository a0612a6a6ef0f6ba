"""Parameter and multiply-accumulate (MAC) counts of a torch model at its spec's input size."""
from __future__ import annotations

import torch
from torch import nn

from ..spec import ModelSpec


@torch.no_grad()
def count_macs(model: nn.Module, spec: ModelSpec) -> int:
    """MACs of one forward pass at batch 1: Conv2d, Linear and GRU/LSTM cells (others ignored)."""
    total = 0

    def conv_hook(mod: nn.Conv2d, _inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total += out.numel() * k

    def linear_hook(mod: nn.Linear, _inp, out):
        nonlocal total
        total += out.numel() * mod.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    h, w = spec.input_size
    model(torch.zeros(1, spec.channels, h, w))
    model.train(was_training)
    for hk in hooks:
        hk.remove()
    return int(total)
