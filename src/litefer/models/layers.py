"""Small building blocks shared by the architectures (torchvision is not used)."""
from __future__ import annotations

from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int | None = None,
                 relu: bool = True) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> optional ReLU."""
    padding = k // 2 if padding is None else padding
    layers = [nn.Conv2d(cin, cout, k, stride, padding, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SeparableConv2d(nn.Sequential):
    """Depthwise kxk then pointwise 1x1, both without bias (Keras SeparableConv2D)."""

    def __init__(self, cin: int, cout: int, k: int = 3):
        super().__init__(
            nn.Conv2d(cin, cin, k, padding=k // 2, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
        )


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_buffers(model: nn.Module) -> int:
    """Batch-norm running mean/var (num_batches_tracked excluded, as Keras does)."""
    return sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))


def config_from_dict(cls, data: dict):
    """``cls(**data)`` for a config dataclass; unknown keys raise ValueError (a typo in a stored
    configuration must not pass silently)."""
    unknown = set(data) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    return cls(**data)
