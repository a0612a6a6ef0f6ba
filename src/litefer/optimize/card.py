"""Model cards: a JSON record (read by `litefer models`) and a Markdown rendering beside each ONNX file."""
from __future__ import annotations

import json
from pathlib import Path

from ..train.config import TrainConfig

LICENCE_NOTE = ("Trained on FER2013 (research use only, per its owners' terms): these weights are "
                "for research use.")


def training_command(cfg: TrainConfig) -> str:
    """The `litefer train` command line that reproduces ``cfg`` (non-default options only)."""
    d = TrainConfig()
    parts = ["litefer train", f"--model {cfg.model}", f"--data {cfg.data}"]
    if cfg.tag:
        parts.append(f"--tag {cfg.tag}")
    for field in ("epochs", "batch_size", "lr", "warmup_epochs", "weight_decay", "label_smoothing",
                  "seed", "threads", "train_split", "val_split", "limit", "prune_to", "prune_scope",
                  "qat_bits", "init_from", "ema", "mixup", "teacher_views", "teacher_bank"):
        if getattr(cfg, field) != getattr(d, field):
            parts.append(f"--{field.replace('_', '-')} {getattr(cfg, field)}")
    if (cfg.prune_start, cfg.prune_end) != (d.prune_start, d.prune_end):
        parts.append(f"--prune-window {cfg.prune_start} {cfg.prune_end}")
    for flag, on in (("--class-weights", cfg.class_weights), ("--no-augment", not cfg.augment.enabled),
                     ("--qat", cfg.qat), ("--teacher-mirror", cfg.teacher_mirror)):
        if on:
            parts.append(flag)
    parts += [f"--extra-data {e}" for e in cfg.extra_data]
    if cfg.logit_adjust:
        parts.append(f"--logit-adjust {cfg.logit_adjust}")
    if cfg.domain.enabled:
        parts.append(f"--domain-augment {cfg.domain.photometric}")
    if cfg.align_faces:
        parts.append(f"--align-faces {cfg.align_faces}")
    if cfg.distill > 0:
        parts += [f"--teacher {t}" for t in cfg.teachers]
        parts += ([f"--teacher-tta {cfg.teacher_tta}"] if isinstance(cfg.teacher_tta, str)
                  else ["--teacher-tta"] if cfg.teacher_tta else [])
        parts += [f"--distill {cfg.distill}", f"--distill-temperature {cfg.distill_temperature}"]
    return " ".join(parts)


def _trained_configs(info: dict) -> list[dict] | None:
    """The training configs behind a checkpoint's weights, in order: each member's for an output
    ensemble, each input's for a weight average (recursively: a member may be a soup); None for
    a single run, or a weight average saved before inputs recorded their configs."""
    if info.get("ensemble_of"):
        out: list[dict] = []
        for member in info["ensemble_of"]:
            out += _trained_configs(member) or [member.get("config", {})]
        return out
    inputs = info.get("averaged_from") or []
    if inputs and all("config" in a for a in inputs):
        return [a["config"] for a in inputs]
    return None


def weights_command(cfg: TrainConfig, info: dict) -> str:
    """The card's training command: ``training_command(cfg)``, or for an output ensemble
    (litefer.train.average.ensemble_checkpoints) or a weight average each run's behind it
    (a soup member: each of its inputs), joined by " ; " in that order, with the data path the
    card names."""
    configs = _trained_configs(info)
    if configs is None:
        return training_command(cfg)
    out = []
    for c in configs:
        m = TrainConfig.from_dict(c) if c else TrainConfig()
        m.data = cfg.data
        out.append(training_command(m))
    return " ; ".join(out)


def distillation_teachers(cfg: TrainConfig, info: dict) -> list[str]:
    """The teachers the weights learnt from: the run's, or for an output ensemble or a weight
    average every run's behind it (in order, each once)."""
    configs = _trained_configs(info)
    if configs is None:
        return list(cfg.teachers)
    out: list[str] = []
    for c in configs:
        out += [t for t in c.get("teachers", []) if t not in out]
    return out


def weights_origin(info: dict, cfg: TrainConfig) -> str:
    """Which weights a checkpoint holds, in words, from its fields (litefer.train.checkpoint):
    a weight average of several checkpoints, the epoch chosen on the selection split (best.pt)
    or the epoch the run stopped at (last.pt), or an output ensemble of several."""
    def short(path: str) -> Path:  # run folder / file name
        return Path(Path(path).parent.name) / Path(path).name

    def soup(inputs: list[dict]) -> str:
        parts = [f"{short(a['path'])} x {a['weight']:.2f}" for a in inputs]
        return f"weight average of {len(parts)} checkpoints (`litefer average`): " + ", ".join(parts)

    if info.get("ensemble_of"):
        parts = [str(short(m["path"])) + (f" ({soup(m['averaged_from'])})"
                                          if m.get("averaged_from") else "")
                 for m in info["ensemble_of"]]
        return (f"output ensemble of {len(parts)} networks (`litefer average --ensemble`), "
                "mean of their log-probabilities: " + ", ".join(parts))
    if info.get("averaged_from"):
        return soup(info["averaged_from"])
    epoch = info.get("epoch")
    if "val_acc" in info:
        return f"epoch {epoch} of {cfg.epochs}, chosen on {cfg.val_split}"
    if epoch == cfg.epochs:
        return f"the last epoch ({epoch} of {cfg.epochs}), no selection"
    return f"epoch {epoch} of {cfg.epochs}"


def build_card(name: str, precision: str, onnx_path: Path, cfg: TrainConfig, best_epoch: int,
               params: int, macs: int, evals: dict[str, dict], parity: float, sha: str,
               info: dict | None = None) -> dict:
    """evals: split name -> report of litefer.evaluate.evaluate (PublicTest, PrivateTest, ...);
    info: the checkpoint's other fields (load_checkpoint), for ``weights_from``."""
    data_arg = cfg.data
    short = {k: {"accuracy": v["accuracy"], "macro_f1": v["macro_f1"], "n": v["n"]}
             for k, v in evals.items()}
    test = evals.get("PrivateTest", {})
    return {
        "name": name, "arch": cfg.model, "precision": precision, "file": onnx_path.name,
        "sha256": sha, "file_bytes": onnx_path.stat().st_size, "params": params, "macs": macs,
        "data": Path(data_arg).name, "train_split": cfg.train_split,
        "selection_split": cfg.val_split, "epochs": cfg.epochs, "best_epoch": best_epoch,
        **({"weights_from": weights_origin(info, cfg)} if info is not None else {}),
        "seed": cfg.seed, "augmentation": cfg.to_dict()["augment"],
        "optimizer": {"name": "AdamW", "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                      "schedule": f"linear warm-up {cfg.warmup_epochs} epochs, cosine to 0",
                      "batch_size": cfg.batch_size, "label_smoothing": cfg.label_smoothing},
        "distillation": {"teachers": distillation_teachers(cfg, info or {}),
                         "teacher_tta": cfg.teacher_tta,
                         "weight": cfg.distill, "temperature": cfg.distill_temperature}
        if cfg.distill > 0 else None,
        "public_test": short.get("PublicTest"), "private_test": short.get("PrivateTest"),
        "private_test_per_class": test.get("per_class"),
        "private_test_confusion": test.get("confusion_matrix"),
        "labels": test.get("labels"), "parity_max_abs_diff": parity,
        "training_command": weights_command(cfg, info or {}),
        "eval_command": f"litefer eval --model {name.split('.')[0]} --data {data_arg} "
                        "--split PrivateTest --json",
        "licence": LICENCE_NOTE,
    }


def render_markdown(card: dict) -> str:
    """Human-readable card: provenance, accuracy, per-class table and confusion matrix."""
    pub, priv = card.get("public_test") or {}, card.get("private_test") or {}
    lines = [
        f"# {card['name']} ({card['precision']})", "",
        f"- architecture `{card['arch']}`, {card['params']:,} trainable parameters, "
        f"{card['macs']:,} MACs per face, file {card['file']} ({card['file_bytes']:,} bytes)",
        f"- sha256 `{card['sha256']}`",
        _data_line(card),
        f"- augmentation: {json.dumps(card['augmentation'])}",
        f"- optimiser: {json.dumps(card['optimizer'])}",
        *([f"- knowledge distillation: {json.dumps(card['distillation'])}"]
          if card.get("distillation") else []),
        f"- PublicTest accuracy {pub.get('accuracy', float('nan')):.4f} "
        f"(macro-F1 {pub.get('macro_f1', float('nan')):.4f})",
        f"- **PrivateTest accuracy {priv.get('accuracy', float('nan')):.4f}** "
        f"(macro-F1 {priv.get('macro_f1', float('nan')):.4f}, n = {priv.get('n')})",
        *([_prior_line(card["prior_correction"], card.get("labels"))]
          if card.get("prior_correction") else []),
        f"- torch vs ONNX Runtime max abs probability difference: {card['parity_max_abs_diff']:.2e}",
        f"- trained with: `{card['training_command']}`",
        *([f"- note: {card['note']}"] if card.get("note") else []),
        f"- reproduce the test number: `{card['eval_command']}`",
        f"- {card['licence']}", "",
    ]
    return "\n".join(lines + _cross_data_lines(card) + _calibration_lines(card)
                     + _per_class_lines(card) + _optimisation_lines(card)) + "\n"


def _optimisation_lines(card: dict) -> list[str]:
    """A derived file's provenance (card["optimization"], written by `litefer optimize`)."""
    opt = card.get("optimization")
    if not opt:
        return []
    report = Path(card["file"]).name.removesuffix(".onnx") + ".report.md"
    return ["", "## Optimisation", "",
            f"- derived from `{opt.get('source')}` by "
            + " -> ".join(s["step"] for s in opt.get("steps", [])),
            f"- made with: `{opt.get('command')}`",
            f"- before/after figures and each step's record: `{report}`"]


def _data_line(card: dict) -> str:
    if card.get("weights_from"):
        return (f"- data: {card['data']}, trained on {card['train_split']}; weights: "
                f"{card['weights_from']}; seed {card['seed']}")
    return (f"- data: {card['data']}, trained on {card['train_split']}, epoch selected on "
            f"{card['selection_split']} (best epoch {card['best_epoch']} of {card['epochs']}), "
            f"seed {card['seed']}")


def _prior_line(pc: dict, labels) -> str:
    prior = ", ".join(f"{name} {100 * p:.1f}%" for name, p in zip(labels or [], pc["prior"]))
    sign = "-" if pc["tau"] > 0 else "+"
    return (f"- prior correction applied by the runtime: scores = log-probabilities {sign} "
            f"{abs(pc['tau']):g} x log(training prior) (training prior: {prior}); every "
            "accuracy here includes it")


SET_NAMES = {"fer2013:PublicTest": "FER2013 PublicTest", "fer2013:PrivateTest": "FER2013 PrivateTest",
             "ckplus48": "CK+48, 6 classes (never trained on)",
             "muxspace:test": "muxspace test (never trained on)"}


def _cross_data_lines(card: dict) -> list[str]:
    cross = card.get("cross_data")
    if not cross:
        return []
    classes = card.get("labels") or sorted({c for m in cross["sets"].values() for c in m["recall"]})
    lines = ["## Faces from elsewhere", "",
             f"Selection rule: {cross['rule']}. Prior correction applied by the runtime: "
             f"tau = {cross['prior_tau']:g}. Selection score {100 * cross['selection_score']:.2f}.",
             "", "| set | n | accuracy | balanced accuracy | " + " | ".join(classes) + " |",
             "|---" * (4 + len(classes)) + "|"]
    for key, m in cross["sets"].items():
        recall = [f"{100 * m['recall'][c]:.1f}" if c in m["recall"] else "–" for c in classes]
        lines.append(f"| {SET_NAMES.get(key, key)} | {m['n']} | {100 * m['accuracy']:.2f}% | "
                     f"{100 * m['balanced_accuracy']:.2f}% | " + " | ".join(recall) + " |")
    lines += ["", "Per-class columns are recalls (%); balanced accuracy averages the classes the "
              "set holds (muxspace: angry, disgust, happy, sad, surprise, neutral).",
              f"Reproduce: `{cross['command']}` ({cross['date']}).", ""]
    return lines


def _calibration_lines(card: dict) -> list[str]:
    cal, curve = card.get("calibration"), card.get("abstain_curve") or []
    lines = []
    if cal:
        lines += [f"Calibration: temperature {cal['temperature']:.3f} fitted on {cal['fitted_on']}; "
                  f"PrivateTest expected calibration error ({cal['bins']} bins) "
                  f"{cal['ece_before']:.4f} before, {cal['ece_after']:.4f} after.", ""]
    if curve:
        lines += ["## Abstain trade-off on PrivateTest (`--min-confidence`)", "",
                  "| threshold | coverage | accuracy |", "|---|---|---|"]
        lines += [f"| {r['threshold']:.2f} | {r['coverage']:.3f} | "
                  f"{'-' if r['accuracy'] is None else format(r['accuracy'], '.4f')} |"
                  for r in curve[::2]]
        lines.append("")
    return lines


def _per_class_lines(card: dict) -> list[str]:
    lines = []
    per = card.get("private_test_per_class") or {}
    if per:
        lines += ["## PrivateTest per class", "", "| class | precision | recall | F1 | support |",
                  "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | "
                  f"{v['support']} |" for k, v in per.items()]
        labels, cm = card["labels"], card["private_test_confusion"]
        lines += ["", "## PrivateTest confusion matrix (rows true, normalised)", "",
                  "| true \\ predicted | " + " | ".join(labels) + " |",
                  "|---" * (len(labels) + 1) + "|"]
        lines += [f"| {labels[i]} | " + " | ".join(f"{v:.2f}" for v in row) + " |"
                  for i, row in enumerate(cm)]
    return lines


def write_card(card: dict, onnx_path: Path) -> tuple[Path, Path]:
    j, m = onnx_path.with_suffix(".json"), onnx_path.with_suffix(".md")
    j.write_text(json.dumps(card, indent=2) + "\n")
    m.write_text(render_markdown(card))
    return j, m
