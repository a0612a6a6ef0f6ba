"""Benchmark an exported classifier on this machine, all in one run: parameters, MACs, file size,
classifier latency (batch 1) and throughput (batch 64), end-to-end pipeline frames per second,
process CPU % and peak RSS, and energy per image where a meter is readable.

Runtime half: numpy, OpenCV and onnxruntime only (``onnx`` is used, when installed, to count MACs
of files whose spec lacks them). Timings: ``warmup`` untimed calls, then ``repeats`` timed calls;
latency is the median (p50) and 95th percentile of the per-call wall time in milliseconds.

One run times its calls within a fraction of a second, so a host whose speed drifts over minutes
(a shared virtual machine) moves it as a whole. ``summarise_rounds`` and ``compare_rounds`` turn
runs made at different times (``litefer bench --rounds N --round-gap S``) into one result: the
median of each measured quantity over the rounds, and ratios taken within each round.
"""
from __future__ import annotations

import os
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import LiteferError

FRAME_SIZE = (640, 480)  # width, height of the end-to-end test frame
RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
DEFAULT_FRAME = Path(__file__).resolve().parent / "assets" / "astronaut.jpg"
ACCELERATED = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CPUINFO = Path("/proc/cpuinfo")
# Vector extensions that decide the speed of ONNX Runtime's CPU kernels (x86 and Arm names).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "asimd", "asimddp")


@dataclass(frozen=True)
class BenchConfig:
    """warmup/repeats: untimed and timed batch-1 calls; batch/batch_repeats: the throughput run;
    frames: timed pipeline frames; crops: faces in the batch-API comparison; frame: image with one face (default: the packaged photo);
    threads: ONNX Runtime intra-op threads (0 = its choice); providers: () = best available."""

    warmup: int = 20
    repeats: int = 300
    batch: int = 64
    batch_repeats: int = 30
    crops: int = 32
    frames: int = 60
    detector: str = "default"
    frame: str | None = None
    threads: int = 0
    providers: tuple[str, ...] = ()


def select_providers(requested: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """-> (providers to use, requested ones skipped because this build lacks them).

    ``requested`` empty: TensorRT / CUDA when this onnxruntime build has them, then CPU. Short names
    are accepted ("cuda" -> CUDAExecutionProvider). CPU is always appended as the fallback.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if not requested:
        return [p for p in ACCELERATED if p in available] + ["CPUExecutionProvider"], []
    names = [p if p.endswith("ExecutionProvider") else
             {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
              "trt": "TensorrtExecutionProvider", "cpu": "CPUExecutionProvider"}.get(p.lower(), p)
             for p in requested]
    use = [p for p in names if p in available]
    skipped = [p for p in names if p not in available]
    if "CPUExecutionProvider" not in use:
        use.append("CPUExecutionProvider")
    return use, skipped


def timed(fn: Callable[[], object], warmup: int, repeats: int) -> np.ndarray:
    """Seconds taken by each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = np.empty(max(1, repeats))
    for i in range(len(times)):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    return times


class EnergyMeter:
    """Cumulative energy in joules from Intel RAPL (whole CPU package, every process) or NVML (GPU
    0); ``source`` is None and ``reason`` says why when neither is readable. Never estimated."""

    def __init__(self):
        self.source, self.reason, self._read = None, "", None
        try:
            RAPL.read_text()
            self.source, self._read = "rapl", lambda: int(RAPL.read_text()) * 1e-6
            return
        except OSError as exc:
            rapl_reason = f"RAPL not readable ({RAPL}: {exc.strerror or exc})"
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.source = "nvml"
            self._read = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) * 1e-3
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, no GPU...
            self.reason = f"{rapl_reason}; NVML unavailable ({type(exc).__name__})"

    def read(self) -> float | None:
        return self._read() if self._read is not None else None


def static_facts(path: Path, spec) -> dict:
    """Parameters and MACs (the spec's, else counted on the graph), file and zipped size."""
    data = path.read_bytes()
    facts = {"file_bytes": len(data), "zipped_bytes": len(zlib.compress(data, 9)),
             "params": spec.extra.get("params"), "macs": spec.extra.get("macs"),
             "macs_source": "spec" if spec.extra.get("macs") else None}
    try:
        from .onnx_stats import graph_stats

        stats = graph_stats(path)
    except ImportError as exc:
        facts["graph_note"] = str(exc)
        return facts
    facts.update(weights=stats.weights, nonzero_weights=stats.nonzero_weights)
    if facts["params"] is None:
        facts["params"] = stats.weights
    if facts["macs"] is None and stats.macs is not None:
        facts["macs"], facts["macs_source"] = stats.macs, "graph"
    return facts


def classifier_bench(clf, cfg: BenchConfig, meter: EnergyMeter) -> dict:
    """Batch-1 latency percentiles (ms), batch throughput (images/s) and energy per image."""
    h, w = clf.spec.input_size
    rng = np.random.default_rng(0)
    one = rng.standard_normal((1, clf.spec.channels, h, w)).astype(np.float32)
    many = rng.standard_normal((cfg.batch, clf.spec.channels, h, w)).astype(np.float32)
    for _ in range(cfg.warmup):
        clf.run(one)
    e0 = meter.read()
    t1 = timed(lambda: clf.run(one), 0, cfg.repeats)
    e1 = meter.read()
    tb = timed(lambda: clf.run(many), max(1, cfg.warmup // 10), cfg.batch_repeats)
    energy = None if e0 is None or e1 is None else (e1 - e0) * 1e3 / len(t1)
    return {"latency_ms_p50": float(np.median(t1) * 1e3),
            "latency_ms_p95": float(np.percentile(t1, 95) * 1e3),
            "latency_ms_mean": float(t1.mean() * 1e3),
            "throughput_fps_b64": float(cfg.batch / np.median(tb)), "throughput_batch": cfg.batch,
            "energy_mj_per_image": energy, "energy_source": meter.source,
            "energy_note": meter.reason if meter.source is None else
            ("whole CPU package, all processes" if meter.source == "rapl" else "GPU 0")}


def batch_bench(clf, cfg: BenchConfig) -> dict:
    """Faces/s of ``predict_proba`` on ``cfg.crops`` face crops (uint8 RGB 96x96, resized to the
    model input inside) in one call, over a loop of single-crop calls (the batch API's gain)."""
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(cfg.crops)]
    repeats = max(5, cfg.batch_repeats)
    loop = timed(lambda: [clf.predict_proba([c]) for c in crops], 2, repeats)
    batch = timed(lambda: clf.predict_proba(crops), 2, repeats)
    return {"batch_crops": cfg.crops, "batch_faces_per_s": float(cfg.crops / np.median(batch)),
            "single_faces_per_s": float(cfg.crops / np.median(loop)),
            "batch_speedup": float(np.median(loop) / np.median(batch))}


def draw_test_frame() -> np.ndarray:
    """RGB uint8 640x480 frame with one drawn frontal face (used when no photo is at hand)."""
    import cv2

    w, h = FRAME_SIZE
    img = np.full((h, w, 3), (90, 110, 130), np.uint8)
    cx, cy = w // 2, h // 2
    cv2.ellipse(img, (cx, cy), (95, 125), 0, 0, 360, (224, 180, 150), -1)
    for dx in (-38, 38):
        cv2.ellipse(img, (cx + dx, cy - 30), (18, 9), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(img, (cx + dx, cy - 30), 7, (40, 30, 30), -1)
        cv2.line(img, (cx + dx - 20, cy - 52), (cx + dx + 20, cy - 55), (70, 50, 40), 5)
    cv2.line(img, (cx, cy - 15), (cx - 8, cy + 25), (170, 120, 100), 4)
    cv2.ellipse(img, (cx, cy + 60), (35, 12), 0, 0, 180, (150, 60, 60), -1)
    return cv2.GaussianBlur(img, (5, 5), 0)


def load_frame(path: str | Path | None) -> np.ndarray:
    """RGB uint8 640x480 test frame: the photo at ``path`` (default: the packaged one-face photo
    ``assets/astronaut.jpg``, else a drawn face) scaled to fit and centred on grey."""
    import cv2

    path = DEFAULT_FRAME if path is None and DEFAULT_FRAME.is_file() else path
    if path is None:
        return draw_test_frame()
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise LiteferError(f"cannot read the benchmark frame {path}")
    w, h = FRAME_SIZE
    k = min(w / bgr.shape[1], h / bgr.shape[0])
    size = (max(1, round(bgr.shape[1] * k)), max(1, round(bgr.shape[0] * k)))
    small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    frame = np.full((h, w, 3), 114, np.uint8)
    x0, y0 = (w - size[0]) // 2, (h - size[1]) // 2
    frame[y0:y0 + size[1], x0:x0 + size[0]] = small
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def pipeline_bench(model: Path, cfg: BenchConfig) -> dict:
    """Frames per second of Recognizer.analyze (detect, align, classify) on the test frame, with
    the pipeline's default threads (classifier 1, detector 1: on a 2-core machine a second
    thread made neither faster, and single-threaded stages cannot spin against each other);
    pipeline_fps is None with ``pipeline_reason`` when the pipeline cannot be built here."""
    try:
        from .pipeline import Recognizer

        rec = Recognizer(model, detector=cfg.detector)  # threads as Recognizer() defaults them
    except (ImportError, LiteferError, OSError) as exc:
        return {"pipeline_fps": None, "pipeline_reason": f"{type(exc).__name__}: {exc}"}
    frame = load_frame(cfg.frame)
    faces = len(rec.analyze(frame).faces)
    t = timed(lambda: rec.analyze(frame), max(1, cfg.warmup // 5), cfg.frames)
    frame_name = cfg.frame or (DEFAULT_FRAME.name if DEFAULT_FRAME.is_file() else "drawn face")
    return {"pipeline_fps": float(1.0 / np.median(t)), "pipeline_faces": faces,
            "detector": getattr(rec.detector, "name", type(rec.detector).__name__),
            "frame": frame_name,
            "pipeline_reason": None if faces else "no face detected in the test frame"}


def import_seconds() -> float | None:
    """Wall seconds of ``import litefer, litefer.pipeline`` in a fresh interpreter (warm file
    cache: the median of 3 runs); None when the subprocess fails."""
    import subprocess

    code = ("import time; t = time.perf_counter(); import litefer, litefer.pipeline; "
            "print(time.perf_counter() - t)")
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode != 0:
            return None
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return float(np.median(runs))


def cpu_facts(cpuinfo: Path = CPUINFO) -> dict:
    """The CPU a result was measured on: ``cpu_model`` (name), ``cpu_count`` (logical CPUs this
    process may use) and ``cpu_isa``, the entries of ISA_FLAGS it has (from ``cpuinfo``; None
    where that file is unreadable, as on macOS and Windows)."""
    import platform

    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts = {"cpu_model": platform.processor() or platform.machine(), "cpu_count": count,
             "cpu_isa": None}
    try:
        text = cpuinfo.read_text()
    except OSError:
        return facts
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    facts["cpu_model"] = fields.get("model name") or fields.get("hardware") or facts["cpu_model"]
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    facts["cpu_isa"] = [f for f in ISA_FLAGS if f in flags]
    return facts


def cpu_label(facts: dict) -> str:
    """``cpu_facts`` (or a result that holds them) in one phrase, e.g. "2 CPUs (AMD EPYC; avx2
    fma)"; extensions "-" where none of ISA_FLAGS is present, "unknown" where unreadable."""
    isa = facts.get("cpu_isa")
    isa = "unknown" if isa is None else (" ".join(isa) or "-")
    return f"{facts['cpu_count']} CPUs ({facts['cpu_model']}; {isa})"


def in_turns(measure: Callable[[int, int], object], count: int, rounds: int,
             gap_s: float = 0.0) -> list[list]:
    """``rows[i][j] = measure(i, j)``, setting j of ``count`` in round i of ``rounds``: every
    other round takes the settings in reverse order, and ``gap_s`` seconds pass between rounds,
    so a host whose speed drifts slows every setting alike."""
    rows = []
    for i in range(rounds):
        if i and gap_s > 0:
            time.sleep(gap_s)
        order = list(range(count))[::1 if i % 2 == 0 else -1]
        got = {j: measure(i, j) for j in order}
        rows.append([got[j] for j in range(count)])
    return rows


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process so far, in MB (None where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024


def benchmark(model: str | Path | None, cfg: BenchConfig = BenchConfig()) -> dict:
    """Everything above for ``model`` (a shipped name or an .onnx path) in one run; CPU % is
    process CPU time over wall time during the timed work (100 = one core busy)."""
    from .runtime import Classifier

    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    providers, skipped = select_providers(cfg.providers)
    clf = Classifier(model, threads=cfg.threads, providers=providers)
    result = {"model": clf.spec.name, "path": shown_path(clf.path),
              "precision": clf.spec.extra.get("precision", "fp32"),
              "providers": clf.session.get_providers(), "providers_skipped": skipped,
              "threads": cfg.threads, **cpu_facts(),
              **static_facts(clf.path, clf.spec)}
    result.update(classifier_bench(clf, cfg, EnergyMeter()))
    result.update(batch_bench(clf, cfg))
    result.update(pipeline_bench(clf.path, cfg))
    wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
    result.update(cpu_percent=100.0 * cpu / max(wall, 1e-9), peak_rss_mb=peak_rss_mb(),
                  wall_seconds=wall, import_seconds=import_seconds(), config=asdict(cfg))
    return result


def shown_path(path: Path) -> str:
    """``path`` as a result records it: a shipped file relative to the installed package
    (``litefer/weights/NAME.onnx``), so results do not carry one machine's folders; any other
    file as given."""
    package = Path(__file__).resolve().parent
    try:
        return str(Path(package.name) / Path(path).resolve().relative_to(package))
    except ValueError:
        return str(path)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


RATIO_KEYS = ("params", "macs", "file_bytes", "zipped_bytes", "latency_ms_p50", "latency_ms_p95",
              "throughput_fps_b64", "pipeline_fps", "cpu_percent", "peak_rss_mb",
              "energy_mj_per_image")


# Quantities measured anew in every run (static facts such as params and bytes are not).
ROUND_KEYS = ("latency_ms_p50", "latency_ms_p95", "latency_ms_mean", "throughput_fps_b64",
              "batch_faces_per_s", "single_faces_per_s", "batch_speedup", "pipeline_fps",
              "cpu_percent", "peak_rss_mb", "energy_mj_per_image", "wall_seconds",
              "import_seconds")


def label(result: dict) -> str:
    """``name.precision`` of a benchmark result (e.g. mini_xception.fer2013.int8)."""
    return f"{result['model']}.{result.get('precision', 'fp32')}"


def compare(results: list[dict]) -> list[dict]:
    """For each result after the first: ``value / baseline value`` per metric (None when either
    is missing); < 1 means smaller (size, latency) or slower (throughput, FPS)."""
    base = results[0]
    rows = []
    for r in results[1:]:
        ratios = {k: (r[k] / base[k] if r.get(k) is not None and base.get(k) else None)
                  for k in RATIO_KEYS}
        rows.append({"model": label(r), "baseline": label(base), "ratios": ratios})
    return rows


def summarise_rounds(rounds: Sequence[dict]) -> dict:
    """One result from runs of one model made at different times: each quantity of ROUND_KEYS is
    the median over the rounds that measured it (None where none did), ``spread`` maps it to
    [lowest, highest], ``round_results`` keeps every run, ``rounds`` counts them; the static
    facts are the first run's. Raises LiteferError for no runs or runs of different models."""
    if not rounds:
        raise LiteferError("no benchmark rounds to summarise")
    names = sorted({label(r) for r in rounds})
    if len(names) > 1:
        raise LiteferError(f"benchmark rounds of different models: {', '.join(names)}")
    out, spread = dict(rounds[0]), {}
    for key in ROUND_KEYS:
        values = [r[key] for r in rounds if r.get(key) is not None]
        out[key] = float(np.median(values)) if values else None
        if values:
            spread[key] = [float(min(values)), float(max(values))]
    out.update(rounds=len(rounds), spread=spread, round_results=list(rounds))
    return out


def compare_rounds(rounds: Sequence[Sequence[dict]]) -> list[dict]:
    """``compare`` for models measured in rounds (``rounds[i][j]``: model j in round i, the same
    models in the same positions every round): each ratio is the median of the ratios taken
    within a round, so a host that slows down between rounds moves both sides of a ratio."""
    if not rounds:
        raise LiteferError("no benchmark rounds to compare")
    per_round = [compare(list(r)) for r in rounds]
    rows = []
    for j, first in enumerate(per_round[0]):
        ratios = {}
        for key in RATIO_KEYS:
            values = [rows_i[j]["ratios"][key] for rows_i in per_round
                      if rows_i[j]["ratios"][key] is not None]
            ratios[key] = float(np.median(values)) if values else None
        rows.append({"model": first["model"], "baseline": first["baseline"], "ratios": ratios,
                     "rounds": len(rounds)})
    return rows
