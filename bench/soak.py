"""Is the server's memory bounded? Minutes of load, with a memory curve.

Eight clients send one photo at a time without pause, one sends batches of
64, and every few seconds one sends an oversized blob (which the server must
refuse, not keep). Every second the resident memory of the Triton processes
(``tritonserver`` and its Python backend stubs) is sampled. Bounded means the
last minute's memory is no higher than the first loaded minute's, give or
take allocator noise.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from fashion_search import triton_config as tc
from fashion_search.bench.process_memory import program_is, resident_mb
from fashion_search.bench.throughput import bench_photos
from fashion_search.config import Settings, load_settings
from fashion_search.export.run import ensure_model
from fashion_search.serving.serve import ensure_server

log = logging.getLogger(__name__)

TRITON_PROCESSES = ("tritonserver", "triton_python_backend_stub")
BLOB_MB = 60
BLOB_EVERY_S = 10.0


def triton_rss_mb() -> float:
    """Resident memory of ``tritonserver`` and its Python backend stubs."""
    return resident_mb(program_is(*TRITON_PROCESSES))


@dataclass
class SoakResult:
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, RSS MB)
    outcomes: Counter = field(default_factory=Counter)

    def by_minute(self) -> list[tuple[int, float, float]]:
        """(minute, mean RSS, peak RSS) for each minute of the run."""
        rows = []
        for minute in range(int(self.samples[-1][0] // 60) + 1):
            values = [rss for t, rss in self.samples if minute * 60 <= t < (minute + 1) * 60]
            if values:
                rows.append((minute + 1, float(np.mean(values)), float(max(values))))
        return rows


def _infer(client: grpcclient.InferenceServerClient, photos: Sequence[bytes]) -> str:
    batch = np.array([[p] for p in photos], dtype=object)
    request = grpcclient.InferInput(tc.INPUT_BYTES, list(batch.shape), "BYTES")
    request.set_data_from_numpy(batch)
    try:
        client.infer(tc.ENSEMBLE, [request])
        return "ok"
    except InferenceServerException as err:
        return str(err.status())


def soak(url: str, photos: Sequence[bytes], seconds: float, clients: int = 8,
         sample: Callable[[], float] = triton_rss_mb) -> SoakResult:
    """Load the server for ``seconds`` and sample its memory every second."""
    result, lock, stop = SoakResult(), threading.Lock(), threading.Event()
    blob = b"\xff\xd8" + os.urandom(BLOB_MB * 2**20) + b"\xff\xd9"

    def worker(kind: int) -> None:
        client = grpcclient.InferenceServerClient(url)
        n, last_blob = kind, time.monotonic()
        while not stop.is_set():
            if kind == 0 and time.monotonic() - last_blob > BLOB_EVERY_S:
                outcome, last_blob = "blob " + _infer(client, [blob]), time.monotonic()
            elif kind == 1:
                outcome = "batch64 " + _infer(client, [photos[(n + i) % len(photos)]
                                                       for i in range(64)])
            else:
                outcome = "single " + _infer(client, [photos[n % len(photos)]])
            n += clients
            with lock:
                result.outcomes[outcome] += 1
        client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while (elapsed := time.monotonic() - started) < seconds:
        result.samples.append((elapsed, sample()))
        time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return result


def plot_memory(result: SoakResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.plot([t / 60 for t, _ in result.samples], [rss for _, rss in result.samples])
    axis.set_xlabel("minutes of load")
    axis.set_ylabel("Triton resident memory (MB)")
    axis.set_title("Triton memory under load (8 clients, 64-photo batches, oversized blobs)")
    axis.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def bench_soak(photos: str | Path, minutes: float = 3.0, count: int = 200,
               settings: Settings | None = None) -> str:
    """The soak's memory table; the curve goes to ``<home>/bench/soak-memory.png``."""
    from contextlib import ExitStack

    settings = settings or load_settings()
    data = [p.read_bytes() for p in bench_photos(Path(photos), count)]
    served = ensure_model(settings=settings)
    with ExitStack() as stack:
        client = ensure_server(settings, stack, expected_version=served.version)
        before = triton_rss_mb()
        result = soak(client.url, data, minutes * 60)
        after = triton_rss_mb()
    plot = plot_memory(result, settings.home / "bench" / "soak-memory.png")
    lines = [f"Triton resident memory under {minutes:g} min of load; idle before: {before:.0f} MB, "
             f"after: {after:.0f} MB; curve: {plot}",
             f"{'minute':>6} {'mean MB':>8} {'peak MB':>8}"]
    lines += [f"{m:>6} {mean:8.0f} {peak:8.0f}" for m, mean, peak in result.by_minute()]
    lines.append("requests: " + ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())))
    return "\n".join(lines)
