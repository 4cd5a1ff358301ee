"""Triton's own load generator over the served ``embed_image``, beside the project's closed loop.

``perf_analyzer`` is the tool Triton's published figures come from: a C++
client that keeps N requests in flight and reads Triton's server-side
statistics. The sweep runs it at 1 to 16 batch-1 clients against ``embed_image``
and, in the same run, the project's own closed loop (``throughput.closed_loop``)
on the same photos, so the two generators check each other.

``make perf-analyzer`` installs the binary beside the virtual environment
(``<venv>/perf-analyzer``). It comes from the last ``tritonclient`` wheel that
ships it built for glibc 2.36 (Debian 12); it needs libb64 from the system and
loads the CUDA runtime library, which a pip wheel provides, even on a CPU.
Elsewhere, ``FASHION_SEARCH_PERF_ANALYZER`` names a binary (Triton's SDK
container has one).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from fashion_search import triton_config as tc
from fashion_search.bench.throughput import CONCURRENCY, bench_photos, closed_loop, percentiles_ms
from fashion_search.config import ENV_PREFIX, Settings, load_settings
from fashion_search.errors import ConfigError, FashionSearchError
from fashion_search.export.run import ensure_model
from fashion_search.serving.serve import ensure_server
from fashion_search.vectordb.indexing import resolve_catalog

log = logging.getLogger(__name__)

INSTALL_DIR = "perf-analyzer"  # under the virtual environment, made by `make perf-analyzer`
CUDA_RUNTIME_LIB = Path("nvidia") / "cuda_runtime" / "lib"
WINDOW_MS = 3000


class PerfAnalyzerError(FashionSearchError):
    """perf_analyzer is missing, cannot start, or its measurement failed."""


@dataclass(frozen=True)
class LoadPoint:
    """One concurrency level: throughput, client latency, and where the server spent it."""

    clients: int
    photos_per_s: float
    p50_ms: float
    p99_ms: float
    queue_ms: float | None = None  # server queue, per request (perf_analyzer only)
    compute_ms: float | None = None  # server compute (input + infer + output), per request


@dataclass(frozen=True)
class PerfAnalyzer:
    binary: Path
    library_path: Path | None = None  # where the CUDA runtime it links against lies

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.library_path is not None:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                p for p in (str(self.library_path), env.get("LD_LIBRARY_PATH", "")) if p)
        return env


def find_perf_analyzer(settings: Settings | None = None, prefix: Path | None = None) -> PerfAnalyzer:
    """The configured binary, else the one ``make perf-analyzer`` installed, else PATH's."""
    settings = settings or load_settings()
    if settings.perf_analyzer:
        binary = Path(settings.perf_analyzer)
        if not binary.is_file():
            raise ConfigError(f"{ENV_PREFIX}PERF_ANALYZER is {binary}, which is not a file; "
                              f"point it at a perf_analyzer binary or unset it")
        return PerfAnalyzer(binary)
    installed = Path(prefix or sys.prefix) / INSTALL_DIR
    if (installed / "bin" / "perf_analyzer").is_file():
        return PerfAnalyzer(installed / "bin" / "perf_analyzer", installed / CUDA_RUNTIME_LIB)
    on_path = shutil.which("perf_analyzer")
    if on_path:
        return PerfAnalyzer(Path(on_path))
    raise PerfAnalyzerError(f"perf_analyzer is not installed: run `make perf-analyzer` (it goes "
                            f"to {installed}), or set {ENV_PREFIX}PERF_ANALYZER to a binary")


def write_input_data(photos: Sequence[bytes], path: Path) -> Path:
    """perf_analyzer's input file: one encoded photo per request.

    A BYTES input given as base64 is taken as Triton's serialised string
    tensor, so each photo carries its 4-byte little-endian length first.
    """
    if not photos:
        raise PerfAnalyzerError("no photos to send: give a folder with JPEG or PNG photos")
    data = [{tc.INPUT_BYTES: {"b64": base64.b64encode(struct.pack("<I", len(p)) + p).decode()}}
            for p in photos]
    path.write_text(json.dumps({"data": data}))
    return path


def parse_csv(text: str) -> list[LoadPoint]:
    """Rows of perf_analyzer's ``-f`` file; its times are microseconds."""
    points = []
    for row in csv.DictReader(io.StringIO(text)):
        compute = sum(float(row[k]) for k in ("Server Compute Input", "Server Compute Infer",
                                               "Server Compute Output"))
        points.append(LoadPoint(int(row["Concurrency"]), float(row["Inferences/Second"]),
                                float(row["p50 latency"]) / 1000, float(row["p99 latency"]) / 1000,
                                float(row["Server Queue"]) / 1000, compute / 1000))
    return points


def measure(tool: PerfAnalyzer, url: str, input_data: Path, clients: int,
            window_ms: int = WINDOW_MS, stability_percent: float = 10.0,
            timeout_s: float = 300.0) -> LoadPoint:
    """One concurrency level; perf_analyzer repeats windows until throughput and latency settle."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "load.csv"
        command = [str(tool.binary), "-m", tc.ENSEMBLE, "-u", url, "-i", "grpc",
                   "--input-data", str(input_data), "--shape", f"{tc.INPUT_BYTES}:1",
                   "--concurrency-range", f"{clients}:{clients}", "-p", str(window_ms),
                   "-s", f"{stability_percent:g}", "-f", str(out)]
        log.info("perf_analyzer at %d client%s", clients, "s" * (clients > 1))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                                  env=tool.environment())
        except subprocess.TimeoutExpired as err:
            raise PerfAnalyzerError(f"perf_analyzer at {clients} clients ran past {timeout_s:.0f} s "
                                    f"without a stable measurement; is the server overloaded?"
                                    ) from err
        if done.returncode != 0 or not out.is_file():
            raise PerfAnalyzerError(_failure(done.stdout + done.stderr, clients))
        points = parse_csv(out.read_text())
    if len(points) != 1:
        raise PerfAnalyzerError(f"perf_analyzer wrote {len(points)} rows for one concurrency level")
    return points[0]


def _failure(output: str, clients: int) -> str:
    if "libb64" in output:
        return ("perf_analyzer cannot load libb64: install it (Debian: apt-get install libb64-0d; "
                "`make system-deps` does this as root)")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    detail = " / ".join(errors or lines[-3:]) or "no output"
    return f"perf_analyzer failed at {clients} client{'s' * (clients > 1)}: {detail}"


def format_sweep(own: Sequence[LoadPoint], triton: Sequence[LoadPoint]) -> str:
    """Both generators per concurrency level, and how far apart their throughput is."""
    lines = [f"{'clients':>7} | {'closed loop':^27} | {'perf_analyzer':^27} | {'server, per request':^21}"
             f" | {'pa / own':>8}",
             f"{'':>7} | {'photos/s':>9} {'p50 ms':>8} {'p99 ms':>8} | {'photos/s':>9} {'p50 ms':>8} "
             f"{'p99 ms':>8} | {'queue ms':>10} {'compute':>10} |",
             "-" * 98]
    for mine, theirs in zip(own, triton):
        lines.append(f"{mine.clients:>7} | {mine.photos_per_s:9.1f} {mine.p50_ms:8.1f} "
                     f"{mine.p99_ms:8.1f} | {theirs.photos_per_s:9.1f} {theirs.p50_ms:8.1f} "
                     f"{theirs.p99_ms:8.1f} | {theirs.queue_ms or 0:10.1f} {theirs.compute_ms or 0:10.1f}"
                     f" | {theirs.photos_per_s / mine.photos_per_s:7.2f}x")
    return "\n".join(lines)


def plot_sweep(own: Sequence[LoadPoint], triton: Sequence[LoadPoint], path: Path) -> Path:
    """Throughput against p50 and p99 latency, one curve per generator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for points, name, colour in ((own, "closed loop", "tab:blue"),
                                 (triton, "perf_analyzer", "tab:orange")):
        rates = [p.photos_per_s for p in points]
        axis.plot(rates, [p.p50_ms for p in points], "o-", color=colour, label=f"{name}, p50")
        axis.plot(rates, [p.p99_ms for p in points], "s--", color=colour, label=f"{name}, p99")
        for p in points:
            axis.annotate(str(p.clients), (p.photos_per_s, p.p50_ms), textcoords="offset points",
                          xytext=(4, -10), fontsize=8, color=colour)
    axis.set_xlabel("photos/s")
    axis.set_ylabel("latency (ms)")
    axis.set_title("Triton embed_image, batch-1 clients (labels: clients)")
    axis.grid(alpha=0.3)
    axis.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def bench_load(photos: str | Path | None = None, count: int = 200,
               concurrency: Sequence[int] | None = None, window_ms: int = WINDOW_MS,
               settings: Settings | None = None) -> str:
    """The concurrency sweep by both generators on one server; the plot goes under ``home``."""
    settings = settings or load_settings()
    tool = find_perf_analyzer(settings)  # before any work: a missing tool is said first
    folder = Path(photos) if photos else resolve_catalog(None, settings)
    data = [p.read_bytes() for p in bench_photos(folder, count)]
    served = ensure_model(settings=settings)
    own, theirs = [], []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        url = ensure_server(settings, stack, expected_version=served.version).url
        inputs = write_input_data(data, Path(tmp) / "photos.json")
        for clients in concurrency or CONCURRENCY:
            rate, latencies = closed_loop(data, url, clients)
            own.append(LoadPoint(clients, rate, *percentiles_ms(latencies)))
            theirs.append(measure(tool, url, inputs, clients, window_ms=window_ms))
    plot = plot_sweep(own, theirs, settings.home / "bench" / "load-sweep.png")
    return (f"{len(data)} photos from {folder}; {os.cpu_count()} CPU cores; model {served}; "
            f"batch 1; plot: {plot}\n{format_sweep(own, theirs)}")

