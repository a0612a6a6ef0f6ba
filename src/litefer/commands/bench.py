"""`litefer bench`: size, MACs, latency, throughput, pipeline FPS, CPU %, RSS, energy of a model."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from ..errors import LiteferError

SHOWN = (("params", "params", "{:,}"), ("macs", "MACs", "{:,}"), ("file_bytes", "bytes", "{:,}"),
         ("latency_ms_p50", "p50 ms", "{:.3f}"), ("latency_ms_p95", "p95 ms", "{:.3f}"),
         ("throughput_fps_b64", "img/s b64", "{:,.0f}"), ("pipeline_fps", "pipeline FPS", "{:.1f}"),
         ("batch_speedup", "batch32 gain", "{:.2f}x"),
         ("cpu_percent", "CPU %", "{:.0f}"), ("peak_rss_mb", "RSS MB", "{:.0f}"),
         ("energy_mj_per_image", "mJ/img", "{:.3f}"))


def add_parser(sub, name: str) -> None:
    from ..bench import BenchConfig

    d = BenchConfig()
    p = sub.add_parser(name, help="benchmark a model on this machine",
                       description="Parameters, MACs, file size, classifier latency p50/p95 "
                                   "(batch 1) and throughput (batch 64), end-to-end pipeline FPS "
                                   "on a 640x480 frame with one face, process CPU % and peak RSS, "
                                   "energy per image where RAPL/NVML is readable.")
    p.add_argument("--model", default=None, help="shipped name or .onnx path (default: package "
                                                   "default)")
    p.add_argument("--compare", nargs="+", default=None, metavar="MODEL",
                   help="benchmark several models (each in its own process) and print ratios to "
                        "the first (--model, when given, is the first)")
    p.add_argument("--detector", default=d.detector, help="detector for the pipeline FPS")
    p.add_argument("--frame", default=None, help="image with one face for the pipeline "
                                                 "(fitted into 640x480; default: packaged photo)")
    p.add_argument("--repeats", type=int, default=d.repeats, help="timed batch-1 calls")
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--batch-repeats", type=int, default=d.batch_repeats)
    p.add_argument("--frames", type=int, default=d.frames, help="timed pipeline frames")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="ONNX Runtime threads of the classifier measurements (0 = auto); the "
                        "pipeline FPS always uses the Recognizer defaults")
    p.add_argument("--providers", nargs="+", default=[], help="e.g. cuda tensorrt cpu "
                                                              "(missing ones are skipped)")
    p.add_argument("--rounds", type=int, default=1, metavar="N",
                   help="measure N times, each in its own process (with --compare the models "
                        "take turns, every other round in reverse order) and report the median "
                        "of each quantity over the rounds, with its range; ratios are taken "
                        "within each round")
    p.add_argument("--round-gap", type=float, default=0.0, metavar="SECONDS",
                   help="--rounds: pause between rounds, so they sample the host over minutes")
    p.add_argument("--json", action="store_true",
                   help="one JSON object ({results, ratios} with --compare)")
    p.add_argument("--video", action="store_true",
                   help="end-to-end video FPS on synthetic 640x480 clips with 1 and 4 faces, "
                        "with and without --detect-every (uses --frames, --detector, --threads)")
    p.add_argument("--detect-every", type=int, nargs="+", default=[1, 3], metavar="K",
                   help="--video: detection intervals to time (1 = every frame)")
    p.add_argument("--faces", type=int, nargs="+", default=[1, 4], choices=[1, 4],
                   help="--video: faces in the synthetic clip")
    p.add_argument("--temporal", default="ema", choices=["none", "ema", "gru"],
                   help="--video: temporal model in the loop")
    p.add_argument("--temporal-model", default=None, help="--video: GRU step .onnx")
    p.add_argument("--detect-size", type=int, default=None,
                   help="--video: detection copy's longest side (default: the detector's)")
    p.add_argument("--load", type=int, default=None, metavar="N",
                   help="only the pipeline: frames/s idle and beside N busy processes, "
                        "--runs runs of --frames frames each, side by side with the fer package "
                        "when it is installed (see litefer.bench_load)")
    p.add_argument("--runs", type=int, default=10, help="--load: runs per condition")
    p.add_argument("--load-seconds", type=float, default=600.0,
                   help="--load: longest life of a busy process (they end with the bench)")
    p.add_argument("--no-fer", action="store_true", help="--load: leave fer out")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from ..bench import BenchConfig

    return BenchConfig(warmup=args.warmup, repeats=args.repeats,
                       batch_repeats=args.batch_repeats, frames=args.frames,
                       detector=args.detector, frame=args.frame, threads=args.threads,
                       providers=tuple(args.providers))


def _child_args(args: argparse.Namespace, model: str) -> list[str]:
    argv = [sys.executable, "-m", "litefer.cli", "bench", "--model", model, "--json",
            "--detector", args.detector, "--repeats", str(args.repeats), "--warmup",
            str(args.warmup), "--batch-repeats", str(args.batch_repeats), "--frames",
            str(args.frames), "--threads", str(args.threads)]
    if args.frame:
        argv += ["--frame", args.frame]
    return argv + (["--providers", *args.providers] if args.providers else [])


def _run_isolated(args: argparse.Namespace, model: str) -> dict:
    """One model benchmarked in a fresh process, so RSS and CPU % are its own."""
    proc = subprocess.run(_child_args(args, model), capture_output=True, text=True)
    if proc.returncode != 0:
        raise LiteferError(f"benchmark of {model} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def _measure_rounds(args: argparse.Namespace, models: list[str]) -> list[list[dict]]:
    """rounds[i][j]: ``models[j]`` benchmarked in round i, each in its own process, the models in
    turns (``litefer.bench.in_turns``) with ``--round-gap`` seconds between rounds."""
    from ..bench import in_turns

    def measure(i: int, j: int) -> dict:
        if args.rounds > 1:
            print(f"bench: round {i + 1}/{args.rounds}, {models[j]}", file=sys.stderr,
                  flush=True)
        return _run_isolated(args, models[j])

    return in_turns(measure, len(models), args.rounds, args.round_gap)


def _default_name() -> str:
    from ..runtime.weights import DEFAULT_MODEL

    return DEFAULT_MODEL


def _fmt(fmt: str, value) -> str:
    return "-" if value is None else fmt.format(value)


def _print(results: list[dict], ratios: list[dict]) -> None:
    from ..bench import cpu_label, label

    for r in results:
        if r.get("rounds", 1) > 1:
            low, high = r["spread"].get("latency_ms_p50", [None, None])
            print(f"{label(r)}: medians of {r['rounds']} rounds; p50 ms ranged "
                  f"{_fmt('{:.3f}', low)}-{_fmt('{:.3f}', high)}", file=sys.stderr)
    names = [label(r) for r in results] + [f"{r['model']} / {r['baseline']}" for r in ratios]
    w = max(len(n) for n in names) + 1
    print(f"{'model':<{w}} " + " ".join(f"{title:>12}" for _, title, _ in SHOWN))
    for name, r in zip(names, results):
        print(f"{name:<{w}} " + " ".join(f"{_fmt(fmt, r.get(k)):>12}" for k, _, fmt in SHOWN))
    for name, row in zip(names[len(results):], ratios):
        print(f"{name:<{w}} "
              + " ".join(f"{_fmt('{:.3f}', row['ratios'].get(k)):>12}" for k, _, _ in SHOWN))
    notes = {f"{label(r)}: {r['pipeline_reason']}" for r in results if r.get("pipeline_reason")}
    notes |= {f"energy: {r['energy_note']}" for r in results if not r.get("energy_source")}
    notes |= {f"cpu: {cpu_label(r)}" for r in results if r.get("cpu_model")}
    for note in sorted(notes):
        print(f"note: {note}", file=sys.stderr)


def _run_video(args: argparse.Namespace) -> int:
    from ..video.bench import VideoBenchConfig, video_bench

    cfg = VideoBenchConfig(frames=args.frames, faces=tuple(args.faces),
                           detect_every=tuple(args.detect_every), temporal=args.temporal,
                           temporal_model=args.temporal_model, detector=args.detector,
                           detect_size=args.detect_size, threads=max(1, args.threads))
    result = video_bench(args.model, cfg)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['model']} / {result['detector']} (detect size {result['detect_size']}) / "
          f"temporal {args.temporal}, 640x480")
    print(f"{'faces':>5} {'detect every':>12} {'FPS':>8} {'target':>7} {'faces/frame':>11} "
          f"{'track ids':>9}")
    for r in result["runs"]:
        ok = {True: "", False: " (below target)", None: ""}[r["meets_target"]]
        print(f"{r['faces']:>5} {r['detect_every']:>12} {r['fps']:>8.1f} {r['target_fps']:>7.0f} "
              f"{r['faces_per_frame']:>11.2f} {r['track_ids']:>9}{ok}")
    return 0


def _run_load(args: argparse.Namespace) -> int:
    from ..bench import cpu_label
    from ..bench_load import LoadConfig, load_bench

    if args.load < 0 or args.runs < 1 or args.frames < 1:
        print("litefer bench: --load must be >= 0, --runs and --frames >= 1", file=sys.stderr)
        return 2
    cfg = LoadConfig(load=args.load, runs=args.runs, frames=args.frames,
                     warmup=max(1, args.warmup), max_seconds=args.load_seconds,
                     fer=not args.no_fer)
    result = load_bench(args.model, args.frame, args.detector, cfg)
    if args.json:
        print(json.dumps(result))
        return 0
    loaded = f"{args.load} busy"
    print(f"pipeline frames/s, 640x480, {result['faces']} face(s), {result['model']} / "
          f"{result['detector']}, {cfg.runs} runs x {cfg.frames} frames, "
          f"{cpu_label(result)}: idle, then beside {args.load} busy processes")
    print(f"{'':<12} {'idle median':>12} {'idle slowest':>13} {loaded + ' median':>14} "
          f"{loaded + ' slowest':>15}")
    rows = [("litefer", result["litefer"])]
    if result["fer"]:
        rows.append((f"fer {result['fer']['version']}", result["fer"]))
    for name, r in rows:
        print(f"{name:<12} {r['idle']['median']:>12.1f} {r['idle']['slowest']:>13.1f} "
              f"{r['loaded']['median']:>14.1f} {r['loaded']['slowest']:>15.1f}")
    if result["ratio"]:
        q = result["ratio"]
        print(f"{'litefer/fer':<12} {q['idle']['median']:>11.2f}x {q['idle']['lowest']:>12.2f}x "
              f"{q['loaded']['median']:>13.2f}x {q['loaded']['lowest']:>14.2f}x")
        print("(ratio columns: median and lowest of litefer / fer over runs made back to back)")
        print(f"fer finds {result['fer']['faces']} face(s) in the frame (its default FER(): "
              "Haar cascade + TFLite model, in its own process)")
    if result["fer_note"]:
        print(f"note: {result['fer_note']}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    from ..bench import benchmark, compare_rounds, summarise_rounds

    if args.rounds < 1 or args.round_gap < 0:
        print("litefer bench: --rounds must be >= 1 and --round-gap >= 0", file=sys.stderr)
        return 2
    if args.rounds > 1 and (args.video or args.load is not None):
        print("litefer bench: --rounds measures the model benchmark; --video and --load have "
              "their own repeats (--frames, --runs)", file=sys.stderr)
        return 2
    if args.video:
        return _run_video(args)
    if args.load is not None:
        return _run_load(args)

    if args.compare or args.rounds > 1:
        models = ([args.model] if args.model else []) + (args.compare or [])
        models = models or [_default_name()]
        rounds = _measure_rounds(args, models)
        results = (rounds[0] if args.rounds == 1 else
                   [summarise_rounds([r[j] for r in rounds]) for j in range(len(models))])
        ratios = compare_rounds(rounds)
        if not args.compare:
            if args.json:
                print(json.dumps(results[0]))
            else:
                _print(results, [])
            return 0
        if args.json:
            print(json.dumps({"results": results, "ratios": ratios}))
        else:
            _print(results, ratios)
        return 0
    result = benchmark(args.model, config_from_args(args))
    if args.json:
        print(json.dumps(result))
    else:
        _print([result], [])
    return 0
