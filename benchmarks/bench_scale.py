"""Bulk-analysis benchmark: the single-process path against --engine ray with 1 and 2 workers.

Runs `litefer analyze FOLDER --json ...` on the same photos, each run a fresh process:
  single      without --engine (the single-process path, its default threads)
  ray_1       --engine ray --num-workers 1: the one actor holds both CPUs and uses as many
              detector threads as the single-process path: the Ray overhead, like for like
  ray_1_cpu1  --num-workers 1 --cpus-per-worker 1: one single-CPU worker, the scaling baseline
  ray_2       --num-workers 2: two single-CPU workers
plus the same commands on one photo (startup_single, startup_ray: model loads, actor start-up),
on a local Ray cluster this script starts (`ray start --head --block`, 127.0.0.1, --num-cpus
CPUS) and stops, unless --address names one. Measures wall time end to end, photos per second
(also net of start-up), the driver's CPU time and peak RSS (wait4), each Ray worker's peak RSS
(sampled every 0.2 s), and whether all runs wrote the same records (timings aside). Derives the
2-worker scaling (ray_2 / ray_1_cpu1), the 1-worker overhead (single / ray_1 - 1) and a cost
projection (model in docs/scale.md). Writes JSON.

    python benchmarks/bench_scale.py --corpus /work/scale_corpus --out results/scale/bench.json
    python benchmarks/bench_scale.py --corpus /work/scale_corpus --count 2000 --out ...
    python benchmarks/bench_scale.py --markdown results/scale/bench.json     # the doc tables
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

PROJECTION_PHOTOS = 10_000_000


def subset(corpus: Path, count: int | None, work: Path) -> Path:
    """A folder of symlinks to the first ``count`` photos of the corpus manifest (all: the
    corpus itself), so both paths list exactly the same inputs."""
    if count is None:
        return corpus
    names = (corpus / "manifest.txt").read_text().split()[:count]
    folder = work / "photos"
    for name in names:
        link = folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(corpus / name)
    return folder


class WorkerMemory(threading.Thread):
    """Peak RSS and CPU seconds (user + system, last sample) per Ray map worker process
    (descendants of ``root`` named ray::MapWorker)."""

    def __init__(self, root: int | None):
        super().__init__(daemon=True)
        self.root, self.peaks, self.cpu, self.stop = root, {}, {}, threading.Event()
        self.since = time.time() - 0.5  # not the actors of the previous job, still exiting

    def run(self):
        while not self.stop.wait(0.2):
            procs = psutil.Process(self.root).children(recursive=True) if self.root \
                else psutil.process_iter()
            for p in procs:
                try:
                    if "MapWorker" in " ".join(p.cmdline()) and p.create_time() >= self.since:
                        self.peaks[p.pid] = max(self.peaks.get(p.pid, 0), p.memory_info().rss)
                        times = p.cpu_times()
                        self.cpu[p.pid] = times.user + times.system
                except psutil.Error:
                    continue


def run(cmd: list[str], root: int | None, log: Path) -> dict:
    memory = WorkerMemory(root)
    memory.start()
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    memory.stop.set()
    memory.join()
    code = os.waitstatus_to_exitcode(status)
    return {"command": " ".join(cmd), "exit_code": code, "wall_s": wall,
            "driver_cpu_s": usage.ru_utime + usage.ru_stime,
            "driver_peak_rss_mb": usage.ru_maxrss / 1024,
            "worker_peak_rss_mb": sorted(v / 2**20 for v in memory.peaks.values()),
            "worker_cpu_s": sorted(memory.cpu.values())}


def records(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        r.pop("timings_ms", None)
        out.append(json.dumps(r, sort_keys=True))
    return out


def start_cluster(cpus: int, temp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = temp / "ray-start.log"
    # token authentication with a fresh token, for the cluster and (inherited) every run
    os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)})
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
         "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(cpus),
         "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(temp / "ray")],
        stdout=open(log, "w"), stderr=subprocess.STDOUT,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
             "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"})
    deadline = time.monotonic() + 180
    while "Ray runtime started" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("ray start failed:\n" + log.read_text())
        time.sleep(0.2)
    return proc, f"127.0.0.1:{port}"


def projection(rate_2: float, driver_cpu_per_record: float,
               cores_per_machine: int, price: float) -> list[dict]:
    """Model (docs/scale.md): core-seconds per photo c = 2 / rate_2 (2 workers on 2 cores);
    per-core efficiency beyond 2 cores assumed equal to the measured 2-core one (workers share
    nothing); the single driver caps the rate at 1 / driver CPU seconds per record."""
    core_s = 2.0 / rate_2
    ceiling = 1.0 / max(driver_cpu_per_record, 1e-9)
    rows = []
    for machines in (1, 10, 50, 100, 500):
        rate = min(machines * cores_per_machine / core_s, ceiling)
        hours = PROJECTION_PHOTOS / rate / 3600
        rows.append({"machines": machines, "cores": machines * cores_per_machine,
                     "photos_per_s": rate, "hours": hours, "driver_bound": rate == ceiling,
                     "cost": hours * machines * cores_per_machine * price})
    return rows


def markdown(result: dict) -> str:
    """The tables of docs/scale.md from a results JSON."""
    rows = ["| run | workers x CPUs | wall (s) | photos/s | photos/s net of start-up | "
            "peak RSS per worker (MB) | CPU s per worker | driver peak RSS (MB) |",
            "|---|---|---|---|---|---|---|---|"]
    shapes = {"single": "1 process", "ray_1": "1 x 2", "ray_1_cpu1": "1 x 1", "ray_2": "2 x 1"}
    for name, shape in shapes.items():
        r = result["runs"][name]
        workers = ", ".join(f"{m:.0f}" for m in r["worker_peak_rss_mb"]) or "-"
        cpu = ", ".join(f"{c:.0f}" for c in r.get("worker_cpu_s", [])) or "-"
        rows.append(f"| {name} | {shape} | {r['wall_s']:.1f} | {r['photos_per_s']:.1f} | "
                    f"{r['steady_photos_per_s']:.1f} | {workers} | {cpu} | "
                    f"{r['driver_peak_rss_mb']:.0f} |")
    m = result["machine"]
    rows += ["", f"{result['photos']} photos; scaling ray_2 / ray_1_cpu1 = "
             f"{result['scaling_2_vs_1']:.2f}x; overhead single / ray_1 - 1 = "
             f"{100 * result['overhead_1_worker_vs_single']:.1f}%; identical records: "
             f"{result['identical_records']}; driver CPU {result['driver_cpu_ms_per_record']:.3f} "
             f"ms per record; started {m['started']}, load average {m['load_avg_at_start'][0]:.2f}"
             f" at start, {m['load_avg_at_end'][0]:.2f} at end. {result['note']}", ""]
    proj = result["projection"]
    rows += [f"| machines ({proj['cores_per_machine']} cores) | photos/s | hours for "
             f"{proj['photos']:,} | cost at {proj['price_per_core_hour_assumed']} USD per "
             "core-hour (assumed) | driver-bound |", "|---|---|---|---|---|"]
    for r in proj["rows"]:
        rows.append(f"| {r['machines']} | {r['photos_per_s']:.0f} | {r['hours']:.1f} | "
                    f"{r['cost']:.0f} | {'yes' if r['driver_bound'] else 'no'} |")
    return "\n".join(rows)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", metavar="RESULTS.json", default=None,
                    help="only print the docs/scale.md tables of an earlier run's JSON")
    ap.add_argument("--corpus", help="folder written by make_scale_corpus.py")
    ap.add_argument("--count", type=int, default=None, help="first N photos only (default all)")
    ap.add_argument("--out", help="JSON results file")
    ap.add_argument("--address", default=None, help="an existing Ray cluster (default: start one)")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local cluster")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--cores-per-machine", type=int, default=2, help="projection")
    ap.add_argument("--price-per-core-hour", type=float, default=0.02,
                    help="projection: an assumed price (USD), not a quote")
    ap.add_argument("--note", default="", help="conditions of the run, copied into the JSON")
    args = ap.parse_args(argv)
    if not args.markdown and not (args.corpus and args.out):
        ap.error("--corpus and --out are required (or --markdown RESULTS.json)")
    return args


def run_all(args, work: Path, folder: Path, one: Path) -> dict:
    """Every configuration in order, each a fresh `litefer analyze` process."""
    ray = ["--engine", "ray"]
    configs = {  # name: (photos folder, extra flags)
        "startup_single": (one, []),
        "single": (folder, []),
        "warmup_ray": (one, ray + ["--num-workers", "2"]),  # a fresh cluster's first job is
        "startup_ray": (one, ray + ["--num-workers", "2"]),  # slower: not the start-up cost
        "ray_1": (folder, ray + ["--num-workers", "1"]),
        "ray_1_cpu1": (folder, ray + ["--num-workers", "1", "--cpus-per-worker", "1"]),
        "ray_2": (folder, ray + ["--num-workers", "2"]),
    }
    cli = [sys.executable, "-m", "litefer.cli", "analyze", "--batch-size",
           str(args.batch_size), "--no-progress"]
    cluster, address = (None, args.address) if args.address else start_cluster(args.cpus, work)
    runs = {}
    try:
        for name, (photos, flags) in configs.items():
            flags = flags + ["--address", address] if flags else flags
            cmd = cli + [str(photos), *flags, "--json", str(work / f"{name}.jsonl")]
            runs[name] = run(cmd, cluster.pid if cluster else None, work / f"{name}.log")
            print(name, f"{runs[name]['wall_s']:.1f} s", file=sys.stderr)
    finally:
        if cluster is not None:
            cluster.send_signal(signal.SIGTERM)
            cluster.wait(120)
    for name, r in runs.items():
        r["records"] = len((work / f"{name}.jsonl").read_text().splitlines())
        r["photos_per_s"] = r["records"] / r["wall_s"]
    return runs


def summarise(args, runs: dict, work: Path, n: int) -> dict:
    for name in ("single", "ray_1", "ray_1_cpu1", "ray_2"):  # start-up (model load, actors) aside
        start = runs["startup_single" if name == "single" else "startup_ray"]["wall_s"]
        runs[name]["steady_photos_per_s"] = n / (runs[name]["wall_s"] - start)
    same = records(work / "single.jsonl") == records(work / "ray_1.jsonl") \
        == records(work / "ray_1_cpu1.jsonl") == records(work / "ray_2.jsonl")
    rate = {k: runs[k]["photos_per_s"] for k in runs}
    driver_per_record = max(1e-6, (runs["ray_2"]["driver_cpu_s"]
                                   - runs["startup_ray"]["driver_cpu_s"]) / n)
    return {
        "photos": n, "corpus": str(args.corpus), "batch_size": args.batch_size,
        "note": args.note, "runs": runs, "identical_records": same,
        "scaling_2_vs_1": rate["ray_2"] / rate["ray_1_cpu1"],
        "overhead_1_worker_vs_single": rate["single"] / rate["ray_1"] - 1,
        "driver_cpu_ms_per_record": driver_per_record * 1e3,
        "projection": {"photos": PROJECTION_PHOTOS, "cores_per_machine": args.cores_per_machine,
                       "price_per_core_hour_assumed": args.price_per_core_hour,
                       "rows": projection(rate["ray_2"], driver_per_record,
                                          args.cores_per_machine, args.price_per_core_hour)},
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir="/tmp"))
    corpus = Path(args.corpus).resolve()
    n = args.count or len((corpus / "manifest.txt").read_text().split())
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "load_avg_at_start": os.getloadavg()}
    runs = run_all(args, work, subset(corpus, args.count, work), subset(corpus, 1, work / "one"))
    result = summarise(args, runs, work, n)
    result["machine"] = {**machine, "load_avg_at_end": os.getloadavg()}
    out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
