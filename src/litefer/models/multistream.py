"""Four-stream CNN-GRU + LBP-TOP network for expression sequences (the seed thesis, chapter 3).

A sequence is T grey frames of S x S, oldest first, the last one the expression's peak. Streams,
each giving a 128-d vector (``vectors``) and trainable and testable alone (``stream_logits``):

- ``cnn``: a plain CNN on the peak frame: three blocks of two 3x3 conv-BN-ReLU (64-64, 128-128,
  256-256) each followed by 2x2 max pooling, global average pooling, two 128-unit FC layers
  with ReLU and dropout 0.7; the vector is the second FC layer's output. (BatchNorm is our
  addition, for stable training in few epochs.)
- ``static``: a GRU (128 hidden) over the frozen CNN's 128-d features of every frame.
- ``prob``: a GRU (128 hidden) over the frozen CNN's per-frame probability distributions.
- ``lbp``: LBP-TOP codes (litefer.features; plain 0..255 or uniform 0..58, scaled to [-1, 1]) of
  the XT and YT planes, T-2 maps each; per plane a small CNN on every map (``lbp_widths``, one
  3x3 conv-BN-ReLU + max pooling per block, global average pooling, FC to 128 + ReLU; the
  filters are ours) and a Bi-GRU whose two final states are summed (Keras merge_mode="sum");
  the XT and YT vectors are summed too.
- ``fusion``: the four vectors concatenated (512-d) -> a linear softmax classifier, trained on
  top of frozen streams (``train_stage("fusion")``).

GRUs use temporal.GruCell (torch.nn.GRU's equations with Linear layers: plain ONNX, MACs
counted). Registered as ``multistream`` (CK+ labels, T=10, S=64 as the thesis). As for
``temporal_gru``, the spec reuses the image fields for the sequence: input_size = (T*S, S),
channels 1, i.e. ``forward`` takes a filmstrip (N, 1, T*S, S) of the T frames stacked
vertically (or (N, T, S, S)), normalised as the spec says, and returns fused logits (N, K).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..features.lbp import BINS, NEIGHBOURS, TABLES
from ..labels import CKPLUS
from ..spec import ModelSpec
from .layers import config_from_dict, conv_bn_relu
from .registry import register_model
from .temporal import GruCell

STREAMS = ("cnn", "static", "prob", "lbp")
STAGES = STREAMS + ("fusion",)


@dataclass(frozen=True)
class MultiStreamConfig:
    """frames: T (>= 3); size: frame side S in pixels (>= 8); widths: plain-CNN blocks (two
    convs each); fc: its FC units (the cnn vector); dropout: after each FC layer; hidden: GRU
    size (the other vectors); lbp_widths: LBP-CNN blocks (one conv each); lbp_mapping: "plain"
    or "uniform" codes. Raises ValueError when inconsistent."""

    frames: int = 10
    size: int = 64
    widths: tuple[int, ...] = (64, 128, 256)
    fc: int = 128
    dropout: float = 0.7
    hidden: int = 128
    lbp_widths: tuple[int, ...] = (32, 64, 128)
    lbp_mapping: str = "plain"

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "lbp_widths", tuple(int(w) for w in self.lbp_widths))
        if self.frames < 3 or self.size < 8:
            raise ValueError(f"need frames >= 3 and size >= 8, got {self.frames}, {self.size}")
        if not self.widths or not self.lbp_widths or min(self.widths + self.lbp_widths) < 1:
            raise ValueError("widths and lbp_widths need at least one positive entry")
        if self.lbp_mapping not in ("plain", "uniform"):
            raise ValueError(f"lbp_mapping must be 'plain' or 'uniform', got {self.lbp_mapping!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MultiStreamConfig":
        """Inverse of to_dict; unknown keys raise ValueError."""
        return config_from_dict(cls, data)


def conv_blocks(cin: int, widths: tuple[int, ...], convs: int) -> nn.Sequential:
    """Blocks of ``convs`` 3x3 conv-BN-ReLU then 2x2 max pooling: (N, cin, H, W) ->
    (N, widths[-1], H / 2**len(widths), W / 2**len(widths)) (floored)."""
    layers = []
    for w in widths:
        for _ in range(convs):
            layers.append(conv_bn_relu(cin, w, 3))
            cin = w
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def lbp_planes(frames: torch.Tensor, mapping: str = "plain") -> tuple[torch.Tensor, torch.Tensor]:
    """frames float (N, T, H, W) -> LBP-TOP (XT, YT) codes as float (N, T-2, H-2, W-2), equal to
    litefer.features.lbp_top's (the numpy reference; codes use only the order of grey values)."""
    c = frames[:, 1:-1, 1:-1, 1:-1]
    _, t_len, h, w = frames.shape
    table = torch.from_numpy(TABLES[mapping].astype("int64"))
    out = []
    for axes in ((1, 3), (1, 2)):  # XT: rows t, cols x; YT: rows t, cols y
        code = torch.zeros_like(c)
        for p, (dr, dc) in enumerate(NEIGHBOURS):
            s = [0, 0, 0, 0]
            s[axes[0]], s[axes[1]] = dr, dc
            nb = frames[:, 1 + s[1]:t_len - 1 + s[1], 1 + s[2]:h - 1 + s[2], 1 + s[3]:w - 1 + s[3]]
            code = code + (nb >= c).to(c.dtype) * float(2 ** p)
        out.append(code if mapping == "plain" else table[code.long()].to(c.dtype))
    return out[0], out[1]


class PlainCNN(nn.Module):
    """(N, 1, S, S) normalised frames -> logits (N, K); ``features`` -> (N, fc)."""

    def __init__(self, cfg: MultiStreamConfig, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(conv_blocks(1, cfg.widths, 2), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(cfg.widths[-1], cfg.fc), nn.ReLU(inplace=True),
                                nn.Dropout(cfg.dropout), nn.Linear(cfg.fc, cfg.fc),
                                nn.ReLU(inplace=True))
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.fc, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


class SeqGRU(nn.Module):
    """(N, T, I) -> the final hidden state (N, H); ``reverse`` reads the sequence backwards."""

    def __init__(self, inputs: int, hidden: int, reverse: bool = False):
        super().__init__()
        self.cell, self.hidden, self.reverse = GruCell(inputs, hidden), hidden, reverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.hidden)
        steps = range(x.shape[1] - 1, -1, -1) if self.reverse else range(x.shape[1])
        for t in steps:
            h = self.cell(x[:, t], h)
        return h


class LbpBranch(nn.Module):
    """One plane's codes (N, T', H', W') scaled to [-1, 1] -> (N, hidden): a CNN per map, then a
    Bi-GRU with the forward and backward final states summed."""

    def __init__(self, cfg: MultiStreamConfig):
        super().__init__()
        self.cnn = nn.Sequential(conv_blocks(1, cfg.lbp_widths, 1), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(cfg.lbp_widths[-1], cfg.hidden),
                                 nn.ReLU(inplace=True))
        self.fwd = SeqGRU(cfg.hidden, cfg.hidden)
        self.bwd = SeqGRU(cfg.hidden, cfg.hidden, reverse=True)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        n, t_len = maps.shape[:2]
        per_map = self.cnn(maps.reshape(n * t_len, 1, *maps.shape[2:])).reshape(n, t_len, -1)
        return self.fwd(per_map) + self.bwd(per_map)


class LbpStream(nn.Module):
    """XT and YT code maps, float (N, T-2, S-2, S-2) with values 0..bins-1 -> (N, hidden)."""

    def __init__(self, cfg: MultiStreamConfig):
        super().__init__()
        self.scale = 2.0 / (BINS[cfg.lbp_mapping] - 1)
        self.xt, self.yt = LbpBranch(cfg), LbpBranch(cfg)

    def forward(self, xt: torch.Tensor, yt: torch.Tensor) -> torch.Tensor:
        return self.xt(xt * self.scale - 1.0) + self.yt(yt * self.scale - 1.0)


class MultiStreamNet(nn.Module):
    """Sequences -> fused logits; see the module docstring for the streams."""

    def __init__(self, cfg: MultiStreamConfig, num_classes: int = 7):
        super().__init__()
        self.config, self.num_classes = cfg, num_classes
        self.cnn = PlainCNN(cfg, num_classes)
        self.static = SeqGRU(cfg.fc, cfg.hidden)
        self.prob = SeqGRU(num_classes, cfg.hidden)
        self.lbp = LbpStream(cfg)
        self.heads = nn.ModuleDict({"static": nn.Linear(cfg.hidden, num_classes),
                                    "prob": nn.Linear(cfg.hidden, num_classes),
                                    "lbp": nn.Linear(cfg.hidden, num_classes),
                                    "fusion": nn.Linear(cfg.fc + 3 * cfg.hidden, num_classes)})

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, S, S) or filmstrip (N, 1, T*S, S) -> (N, T, S, S); ValueError on other shapes."""
        t_len, s = self.config.frames, self.config.size
        if x.dim() == 4 and x.shape[1] == 1 and x.shape[2] == t_len * s:
            x = x.reshape(x.shape[0], t_len, s, x.shape[3])
        if x.dim() != 4 or tuple(x.shape[1:]) != (t_len, s, s):
            raise ValueError(f"expected (N, {t_len}, {s}, {s}) frames or a (N, 1, {t_len * s}, "
                             f"{s}) filmstrip, got {tuple(x.shape)}")
        return x

    def frame_outputs(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, T, S, S) -> per-frame CNN features (N, T, fc) and probabilities (N, T, K)."""
        n, t_len = frames.shape[:2]
        feats = self.cnn.features(frames.reshape(n * t_len, 1, *frames.shape[2:]))
        probs = torch.softmax(self.cnn.head(feats), 1)
        return feats.reshape(n, t_len, -1), probs.reshape(n, t_len, -1)

    def vectors(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sequences -> {stream: (N, 128)} for the four streams (the cnn's on the last frame)."""
        frames = self.sequence(x)
        feats, probs = self.frame_outputs(frames)
        xt, yt = lbp_planes(frames, self.config.lbp_mapping)
        return {"cnn": feats[:, -1], "static": self.static(feats), "prob": self.prob(probs),
                "lbp": self.lbp(xt, yt)}

    def head(self, stream: str, vector: torch.Tensor) -> torch.Tensor:
        """A stream's 128-d vector -> its own logits (the cnn's through its dropout + head)."""
        if stream == "cnn":
            return self.cnn.head(self.cnn.drop(vector))
        return self.heads[stream](vector)

    def fuse(self, vecs: dict[str, torch.Tensor]) -> torch.Tensor:
        """{stream: (N, 128)} -> fused logits (N, K) (concatenation in STREAMS order)."""
        return self.heads["fusion"](torch.cat([vecs[s] for s in STREAMS], 1))

    def stream_logits(self, stream: str, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, K) of one stream ("cnn", "static", "prob", "lbp") or of "fusion"."""
        vecs = self.vectors(x)
        return self.fuse(vecs) if stream == "fusion" else self.head(stream, vecs[stream])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.vectors(x))

    def stage_modules(self, stage: str) -> list[nn.Module]:
        """The modules trained in ``stage`` (one of STAGES); ValueError otherwise."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        if stage == "cnn":
            return [self.cnn]
        own = [] if stage == "fusion" else [getattr(self, stage)]
        return own + [self.heads[stage]]

    def train_stage(self, stage: str) -> list[nn.Parameter]:
        """Freeze everything but ``stage``: only its parameters require grad and only its
        modules are in training mode (frozen BatchNorm statistics stay put). Returns them."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        params = []
        for m in self.stage_modules(stage):
            m.train()
            for p in m.parameters():
                p.requires_grad_(True)
                params.append(p)
        return params


def multistream_spec(cfg: MultiStreamConfig, labels: tuple[str, ...] = CKPLUS.classes,
                     name: str = "multistream") -> ModelSpec:
    """The spec of a MultiStreamNet: filmstrip input (T*S, S), seq_len T, config in ``extra``."""
    return ModelSpec(name=name, arch="multistream", labels=labels,
                     input_size=(cfg.frames * cfg.size, cfg.size),
                     seq_len=cfg.frames, hidden_size=cfg.hidden,
                     extra={"multistream_config": json.loads(json.dumps(cfg.to_dict())),
                            "layout": "filmstrip: T frames of S x S stacked, oldest first"})


@register_model(multistream_spec(MultiStreamConfig()),
                "Thesis four-stream net: CNN on the peak frame, CNN-GRU over features and over "
                "probabilities, CNN + Bi-GRU over LBP-TOP XT/YT; fused 512-d -> softmax")
def multistream(num_classes: int = 7, in_channels: int = 1, **overrides) -> MultiStreamNet:
    if in_channels != 1:
        raise ValueError("multistream takes grey frames (in_channels=1)")
    cfg = MultiStreamConfig.from_dict({**MultiStreamConfig().to_dict(), **overrides})
    return MultiStreamNet(cfg, num_classes)
