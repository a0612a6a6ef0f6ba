"""ModelSpec: the single source of preprocessing truth, stored in and read back from ONNX metadata."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

METADATA_KEY = "litefer.spec"


@dataclass(frozen=True)
class ModelSpec:
    """Everything the runtime needs to feed a classifier and read its output.

    input_size: (height, width) in pixels; channels: 1 (grey) or 3 (RGB order);
    mean/std: per-channel, applied as (x/255 - mean) / std; labels: class names in output order;
    align: "eyes" (similarity warp from eye centres) or "none" (crop the box);
    temperature: logits are divided by it before softmax, after the prior correction, so it
    calibrates confidences without changing a decision (1.0 = uncalibrated);
    output: "logits" or "probs" (what the ONNX graph returns);
    prior: the training label prior in label order (one positive value per label; empty = none);
    prior_tau: strength of the prior correction the runtime applies (0 = none): class scores
    become log-probabilities minus ``prior_tau * log(prior)`` (see litefer.metrics.adjust_logits);
    a negative value adds the prior back (a model trained with a logit-adjusted loss).
    Metadata written before these two fields existed reads back as no correction.
    logit_adjust: strength of the logit adjustment of the training loss (`litefer train
    --logit-adjust`; 0 = plain cross-entropy): the raw logits then score the class-balanced
    posterior, and logits + ``logit_adjust * log(prior)`` the training distribution's. A teacher
    is shifted so before it teaches (litefer.train.distill). Metadata written before this field
    existed reads back as 0.
    """

    name: str
    arch: str
    labels: tuple[str, ...]
    input_size: tuple[int, int] = (48, 48)
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    align: str = "eyes"
    temperature: float = 1.0
    output: str = "logits"
    seq_len: int = 0
    hidden_size: int = 0
    prior: tuple[float, ...] = ()
    prior_tau: float = 0.0
    logit_adjust: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean and std need one value per channel")
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "prior", tuple(float(v) for v in self.prior))
        object.__setattr__(self, "prior_tau", float(self.prior_tau))
        object.__setattr__(self, "logit_adjust", float(self.logit_adjust))
        if self.prior and (len(self.prior) != len(self.labels) or min(self.prior) <= 0):
            raise ValueError(f"prior needs one positive value per label ({len(self.labels)}), "
                             f"got {self.prior}")
        if self.logit_adjust and not self.prior:
            raise ValueError("logit_adjust needs the training prior it adjusted by")

    def with_(self, **changes) -> "ModelSpec":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_metadata(self) -> dict[str, str]:
        """ONNX ``metadata_props`` entries (string -> string)."""
        return {METADATA_KEY: self.to_json(), "labels": ",".join(self.labels)}

    @classmethod
    def from_metadata(cls, props: dict[str, str], source: str = "model") -> "ModelSpec":
        if METADATA_KEY not in props:
            from .errors import LiteferError

            raise LiteferError(
                f"{source} has no '{METADATA_KEY}' metadata; export it with `litefer export` "
                "so labels and preprocessing are known"
            )
        return cls.from_json(props[METADATA_KEY])
