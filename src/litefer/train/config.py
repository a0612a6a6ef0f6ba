"""TrainConfig: every knob of a training run, saved beside its checkpoints."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import LiteferError
from .domain import DomainConfig


def check_mixup_alpha(alpha: float) -> None:
    """LiteferError unless mixup's Beta(alpha, alpha) parameter is >= 0 (0 = off)."""
    if alpha < 0:
        raise LiteferError(f"mixup alpha must be >= 0 (0 = off), got {alpha}")


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random affine warp; the defaults are those of the mini-Xception paper's code."""

    shift: float = 0.1        # fraction of the side, each direction
    rotation: float = 10.0    # degrees, each direction
    zoom: float = 0.1         # scale in [1 - zoom, 1 + zoom]
    hflip: bool = True
    enabled: bool = True


@dataclass
class TrainConfig:
    model: str = "mini_xception"
    data: str = ""
    out: str = "runs/train"
    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3              # peak learning rate (linear warm-up, then cosine to 0)
    warmup_epochs: float = 2.0
    weight_decay: float = 1e-2    # decoupled L2 (AdamW)
    label_smoothing: float = 0.1
    class_weights: bool = False   # inverse-frequency weights in the loss
    seed: int = 0
    threads: int = 2
    train_split: str = "Training"
    val_split: str = "PublicTest"
    limit: int = 0                # use only the first N training images (0 = all); for smoke runs
    resume: bool = True
    init_from: str = ""           # a training checkpoint (.pt) of the same model to start from
    tag: str = ""                 # weight tag, e.g. "fer2013" -> name "mini_xception.fer2013"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Optimising while training (litefer.optimize.compress); the defaults leave training unchanged.
    prune_to: float = 0.0         # final fraction of zero conv/linear weights (0 = no pruning)
    prune_scope: str = "global"   # "global" (one magnitude threshold) or "layer" (each alike)
    prune_start: float = 0.2      # the cubic sparsity ramp runs over this fraction of the steps...
    prune_end: float = 0.7        # ...to this one; best.pt is only chosen once it is reached
    qat: bool = False             # quantisation-aware training: fake-quantised weights, STE
    qat_bits: int = 8
    # Knowledge distillation from frozen ONNX teachers (litefer.train.distill); 0 = off.
    teachers: tuple[str, ...] = ()  # ONNX paths or shipped names; several = an ensemble
    teacher_tta: bool | str = False  # True: the teacher also sees the mirrored batch; "crops":
    #                                  its 14 views (litefer.runtime.views)
    distill: float = 0.0            # weight a of the soft term in [0, 1]
    distill_temperature: float = 4.0
    ema: float = 0.0                # decay of the weight average that is validated (0 = off)
    mixup: float = 0.0              # Beta(a, a) of mixup's blend weight (0 = off)
    # Teacher outputs cached on K fixed augmented views per image (train/teacher_bank.py); 0 = the
    # teacher runs on every batch.
    teacher_views: int = 0
    teacher_bank: str = "runs/teacher_bank"
    teacher_mirror: bool = False    # also train on each banked view's mirror (needs teacher_tta)
    # Generalisation beyond the training set's own class mix and capture conditions.
    extra_data: tuple[str, ...] = ()  # "PATH[:SPLIT]" sets appended to the training split
    logit_adjust: float = 0.0         # tau of the logit-adjusted loss (Menon et al.); 0 = plain
    domain: DomainConfig = field(default_factory=DomainConfig)  # photometric/blur/JPEG/occlusion
    align_faces: str = ""             # frame training crops with this runtime detector ("" = raw)
    align_cache: str = "runs/aligned"  # where framed training sets are cached

    def __post_init__(self) -> None:
        """LiteferError at construction, before any data loads, for settings no run can use."""
        check_mixup_alpha(self.mixup)
        if not 0.0 <= self.ema < 1.0:
            raise LiteferError(f"weight-average decay must be in [0, 1) (0 = off), got {self.ema}")
        if self.teacher_views < 0:
            raise LiteferError(f"teacher views must be >= 0 (0 = online teacher), "
                               f"got {self.teacher_views}")
        if self.teacher_views and not (self.teachers and self.distill > 0):
            raise LiteferError("--teacher-views caches a teacher's outputs: it needs --teacher "
                               "and --distill A > 0")
        if self.teacher_views and self.mixup:
            raise LiteferError("--teacher-views cannot be combined with --mixup: the bank holds "
                               "the teacher's outputs for unblended views")
        if self.teacher_mirror and not (self.teacher_views and self.teacher_tta):
            raise LiteferError("--teacher-mirror mirrors banked views: it needs --teacher-views "
                               "and --teacher-tta (a mirror has the view's logits only when the "
                               "teacher averages over both)")
        if self.ema and (self.prune_to or self.qat):
            raise LiteferError("--ema cannot be combined with pruning or QAT: the average of the "
                               "weights is neither sparse nor quantised")
        if self.logit_adjust < 0:
            raise LiteferError(f"--logit-adjust must be >= 0 (0 = plain loss), got {self.logit_adjust}")
        if self.teacher_views and self.domain.enabled:
            raise LiteferError("--domain-augment cannot be combined with --teacher-views: the bank "
                               "holds the teacher's outputs for fixed views")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["augment"] = AugmentConfig(**d.get("augment", {}))
        d["teachers"] = tuple(d.get("teachers", ()))
        d["extra_data"] = tuple(d.get("extra_data", ()))
        d["domain"] = DomainConfig(**d.get("domain", {}))
        return cls(**d)
