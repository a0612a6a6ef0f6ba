"""Print the speed table of results/bench/README.md (and the README's copy) from bench runs.

    litefer bench --rounds 5 --round-gap 60 --json > results/bench/bench_rounds.json
    python benchmarks/bench_table.py results/bench/bench_rounds.json

One column per run and the median, so no published value is typed by hand. A file written with
``--rounds`` gives a column per round; files of single runs (``litefer bench --json``) give one
each.
"""
from __future__ import annotations

import json
import statistics
import sys

ROWS = (  # label, key, format, scale
    ("classifier latency p50, batch 1 (ms)", "latency_ms_p50", ".3f", 1),
    ("classifier latency p95, batch 1 (ms)", "latency_ms_p95", ".3f", 1),
    ("throughput, batch 64 (faces/s)", "throughput_fps_b64", ",.0f", 1),
    ("pipeline (detect, align, classify; FPS)", "pipeline_fps", ".0f", 1),
    ("one 32-crop call against 32 single calls", "batch_speedup", ".2f", 1),
    ("`import litefer` + `litefer.pipeline` (s)", "import_seconds", ".3f", 1),
    ("process CPU (%)", "cpu_percent", ".0f", 1),
    ("peak RSS (MB)", "peak_rss_mb", ".0f", 1),
)


def table(runs: list[dict]) -> str:
    """Markdown: one row per quantity, one column per run, then the median."""
    head = "| quantity | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " | median |"
    lines = [head, "|---" * (len(runs) + 2) + "|"]
    for label, key, fmt, scale in ROWS:
        vals = [r[key] * scale for r in runs if r.get(key) is not None]
        if not vals:
            continue
        cells = [format(v, fmt) for v in vals] + [format(statistics.median(vals), fmt)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    runs = []
    for path in argv:
        with open(path) as f:
            result = json.load(f)
        if "results" in result:  # `litefer bench --compare --json`: one file, several models
            print(f"bench_table: {path} holds a --compare result; give files of one model's "
                  "runs (`litefer bench --json`, with or without --rounds)", file=sys.stderr)
            return 2
        runs.extend(result.get("round_results") or [result])
    models = {r.get("model") for r in runs}
    print(f"model {', '.join(sorted(map(str, models)))}, detector {runs[0].get('detector')}, "
          f"{runs[0].get('pipeline_faces')} face(s) in {runs[0].get('frame')}")
    from litefer.bench import cpu_label

    cpus = sorted({cpu_label(r) for r in runs if r.get("cpu_model")})
    if cpus:
        print(f"on {'; '.join(cpus)}")
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
