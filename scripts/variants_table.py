"""Regenerate the Markdown table of shipped weight variants from their model cards + a bench run.

    python scripts/variants_table.py                      # print the table
    python scripts/variants_table.py --write README.md    # replace the text between the markers

Accuracy and sizes come from each weight card (``arch.tag.precision.json``, written by
`litefer export` / `litefer optimize`); latency, throughput, pipeline FPS, CPU % and RSS from
`litefer bench --json`, each model in its own process so RSS and CPU % are its own. The target
file must already contain the two marker lines; nothing outside them is touched.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

START, END = "<!-- variants:start -->", "<!-- variants:end -->"
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
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} logical cores, onnxruntime {onnxruntime.__version__}"


def table(args: argparse.Namespace) -> str:
    from litefer.runtime.weights import WEIGHTS_DIR, list_weights

    weights = list_weights(Path(args.weights) if args.weights else WEIGHTS_DIR)
    if not weights:
        raise SystemExit("no shipped weights found (arch.tag.precision.onnx)")
    results = [(w, bench(w.path, args)) for w in weights]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += [row(w, r) for w, r in results]
    detectors = sorted({r.get("detector") or "-" for _, r in results})
    lines += ["", f"Measured on {machine()}; {args.threads or 'default'} ONNX Runtime thread(s); "
              f"latency = median / p95 of {args.repeats} batch-1 calls after warm-up; pipeline = "
              f"detect ({', '.join(detectors)}) + align + classify on a 640x480 frame with one "
              f"face; accuracy from each model card. Regenerate with "
              f"`python scripts/variants_table.py"
              f"{' --write ' + args.write if args.write else ''}`."]
    return "\n".join(lines)


def write_between_markers(path: Path, text: str) -> None:
    content = path.read_text()
    if START not in content or END not in content:
        raise SystemExit(f"{path} has no '{START}' ... '{END}' markers; add them where the table "
                         "belongs")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="weights folder (default: the package's)")
    p.add_argument("--write", default=None, help="file whose marked section is replaced")
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--detector", default="auto")
    p.add_argument("--frame", default=None, help="image with one face for the pipeline FPS")
    args = p.parse_args(argv)
    text = table(args)
    if args.write:
        write_between_markers(Path(args.write), text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
