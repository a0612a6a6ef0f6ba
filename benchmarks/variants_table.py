"""Regenerate the README's two tables of shipped weights: the models table (from the cards alone)
and the variants table (the cards plus a bench run).

    python benchmarks/variants_table.py                             # print both tables
    python benchmarks/variants_table.py --write README.md           # replace both marked sections
    python benchmarks/variants_table.py --cards-only --write README.md  # the models table only

Accuracy, sizes, parameters and MACs come from each weight card (``arch.tag.precision.json``,
written by `litefer export` / `litefer optimize`); latency, throughput, pipeline FPS, CPU % and
RSS from `litefer bench --json`, each model in its own process so RSS and CPU % are its own. The
target file must already contain each table's two marker lines; nothing outside them is touched.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

START, END = "<!-- variants:start -->", "<!-- variants:end -->"
MODELS_START, MODELS_END = "<!-- cards:start -->", "<!-- cards:end -->"
MODEL_COLUMNS = ("weights", "params", "MACs / face", "file", "PublicTest", "PrivateTest")
PRECISION_ORDER = ("fp32", "fp16", "int8")
COLUMNS = ("model", "precision", "params", "MACs", "file KB", "zipped KB", "PrivateTest acc",
           "p50 ms", "p95 ms", "img/s (b64)", "pipeline FPS", "CPU %", "RSS MB")


def bench(path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "litefer.cli", "bench", "--model", str(path), "--json",
           "--repeats", str(args.repeats), "--frames", str(args.frames), "--threads",
           str(args.threads), "--detector", args.detector]
    if args.frame:
        cmd += ["--frame", args.frame]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def bench_all(paths: list[Path], args: argparse.Namespace) -> list[dict]:
    """``bench`` of every path in ``args.rounds`` rounds, the variants in turns
    (``litefer.bench.in_turns``); with more than one round each result is the median over its
    rounds (``litefer.bench.summarise_rounds``)."""
    from litefer.bench import in_turns, summarise_rounds

    rounds = in_turns(lambda _, i: bench(paths[i], args), len(paths), args.rounds)
    runs = [[r[i] for r in rounds] for i in range(len(paths))]
    return [r[0] if args.rounds == 1 else summarise_rounds(r) for r in runs]


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def row(weight, result: dict) -> str:
    card = weight.card
    acc = (card.get("private_test") or {}).get("accuracy")
    cells = [weight.name, weight.precision, _num(result.get("params"), ","),
             _num(result.get("macs"), ","), _num(result["file_bytes"] / 1024, ".1f"),
             _num(result.get("zipped_bytes", 0) / 1024, ".1f"), _num(acc, ".4f"),
             _num(result["latency_ms_p50"], ".3f"), _num(result["latency_ms_p95"], ".3f"),
             _num(result["throughput_fps_b64"], ",.0f"), _num(result.get("pipeline_fps"), ".1f"),
             _num(result.get("cpu_percent"), ".0f"), _num(result.get("peak_rss_mb"), ".0f")]
    return "| " + " | ".join(cells) + " |"


def machine() -> str:
    """This CPU as the bench records it (model, logical cores, vector extensions) and the ONNX
    Runtime version."""
    import onnxruntime

    from litefer.bench import cpu_facts, cpu_label

    return f"{cpu_label(cpu_facts())}, onnxruntime {onnxruntime.__version__}"


def table(args: argparse.Namespace) -> str:
    from litefer.runtime.weights import WEIGHTS_DIR, list_weights

    weights = list_weights(Path(args.weights) if args.weights else WEIGHTS_DIR)
    if not weights:
        raise SystemExit("no shipped weights found (arch.tag.precision.onnx)")
    results = list(zip(weights, bench_all([w.path for w in weights], args)))
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += [row(w, r) for w, r in results]
    detectors = sorted({r.get("detector") or "-" for _, r in results})
    rounds_note = (f", each cell the median of {args.rounds} runs taken in turns"
                   if args.rounds > 1 else "")
    lines += ["", f"Measured on {machine()}; {args.threads or 'default'} ONNX Runtime thread(s); "
              f"latency = median / p95 of {args.repeats} batch-1 calls after warm-up"
              f"{rounds_note}; pipeline = "
              f"detect ({', '.join(detectors)}) + align + classify on a 640x480 frame with one "
              f"face; accuracy from each model card. Regenerate with "
              f"`python benchmarks/variants_table.py"
              f"{f' --rounds {args.rounds}' if args.rounds > 1 else ''}"
              f"{' --write ' + args.write if args.write else ''}`."]
    return "\n".join(lines)


def _pct(result: dict | None) -> str:
    return "-" if not result else f"{100 * result['accuracy']:.2f}%"


def _variant_note(weight, nbytes: int, fp32_bytes: int | None) -> tuple[str, str]:
    """(label suffix, file-size suffix) of one weight file of ``nbytes`` bytes, from its card."""
    from litefer.runtime.weights import DEFAULT_MODEL

    card, label, size = weight.card, "", ""
    if weight.precision == "fp32" and weight.name == DEFAULT_MODEL:
        label = " (default)"
    steps = (card.get("optimization") or {}).get("steps") or []
    quant = next((st for st in steps if st.get("step") == "int8"), None)
    if quant:
        mode = "per channel" if quant.get("per_channel") else "per tensor"
        label = f" (static, {quant.get('format', '?').replace('qoperator', 'QOperator')}, {mode})"
    if weight.precision == "int8" and fp32_bytes:
        size = f" ({fp32_bytes / nbytes:.2f}x smaller)"
    return label, size


def models_table(folder: Path | None = None) -> str:
    """The README's models table, every cell from a weight card: the default's architecture
    first, then the others by name; fp32, fp16, int8 within each. PrivateTest of fp32 in bold."""
    from litefer.runtime.weights import DEFAULT_MODEL, WEIGHTS_DIR, list_weights

    weights = [w for w in list_weights(folder or WEIGHTS_DIR) if w.card]
    if not weights:
        raise SystemExit("no shipped weights with cards found (arch.tag.precision.json)")
    weights.sort(key=lambda w: (w.name != DEFAULT_MODEL, w.name,
                                PRECISION_ORDER.index(w.precision)))
    # the size the card states (litefer export / optimize write it), else the file's
    nbytes = {w.full_name: w.card.get("file_bytes", w.path.stat().st_size) for w in weights}
    fp32 = {w.name: nbytes[w.full_name] for w in weights if w.precision == "fp32"}
    lines = ["| " + " | ".join(MODEL_COLUMNS) + " |", "|" + "---|" * len(MODEL_COLUMNS)]
    for w in weights:
        card = w.card
        label, size = _variant_note(w, nbytes[w.full_name], fp32.get(w.name))
        private = _pct(card.get("private_test"))
        if w.precision == "fp32" and private != "-":
            private = f"**{private}**"
        lines.append("| " + " | ".join([
            f"`{w.full_name}`{label}", _num(card.get("params"), ","),
            "-" if card.get("macs") is None else f"{card['macs'] / 1e6:.2f} M",
            f"{nbytes[w.full_name]:,} B{size}", _pct(card.get("public_test")), private]) + " |")
    return "\n".join(lines)


def write_between_markers(path: Path, text: str, start: str = START, end: str = END) -> None:
    content = path.read_text()
    if start not in content or end not in content:
        raise SystemExit(f"{path} has no '{start}' ... '{end}' markers; add them where the table "
                         "belongs")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="weights folder (default: the package's)")
    p.add_argument("--write", default=None, help="file whose marked section is replaced")
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1,
                   help="bench every variant this many times, in turns; cells are medians")
    p.add_argument("--detector", default="auto")
    p.add_argument("--frame", default=None, help="image with one face for the pipeline FPS")
    p.add_argument("--cards-only", action="store_true",
                   help="only the models table (from the cards; no benchmarks)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    path = Path(args.write) if args.write else None
    want_models = args.cards_only or path is None or MODELS_START in path.read_text()
    models = models_table(Path(args.weights) if args.weights else None) if want_models else None
    variants = None if args.cards_only else table(args)
    if path is None:
        print("\n\n".join(t for t in (models, variants) if t is not None))
        return 0
    if models is not None:
        write_between_markers(path, models, MODELS_START, MODELS_END)
    if variants is not None:
        write_between_markers(path, variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
