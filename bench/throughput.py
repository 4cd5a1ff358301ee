"""Throughput and latency of every way to embed a photo, in one run, on the same photos.

Every row starts from encoded photo bytes, so decoding and preprocessing are
counted everywhere: PyTorch eager, onnxruntime in-process, and Triton's
``embed_image`` over gRPC at batch 1, a full batch and with 8 concurrent clients; then
the end-to-end query (bytes -> top 10 ids) against a 10,000-item collection.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import tritonclient.grpc as grpcclient

from fashion_search import colour
from fashion_search import triton_config as tc
from fashion_search.batch_slices import run_in_slices, slice_rows
from fashion_search.bench.passes import PASSES, median_rate, rates_in_turns
from fashion_search.catalog import CatalogItem, photo_paths
from fashion_search.checkpoint import LoadedModel, choose_model
from fashion_search.client import EmbeddingClient
from fashion_search.config import BATCH_SIZE as BATCH
from fashion_search.config import Settings, load_settings
from fashion_search.errors import MissingInput
from fashion_search.export.run import ensure_model
from fashion_search.onnx_graph import onnx_session
from fashion_search.pixel_buffers import PixelBuffer, decoded_ahead
from fashion_search.preprocessing import preprocess_photos
from fashion_search.serving.search import VisualSearch
from fashion_search.serving.serve import ensure_server
from fashion_search.vectordb.indexing import resolve_catalog
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.schema import VECTOR_FIELD, CollectionInfo, collection_name
from fashion_search.vectordb.schema import Row as CatalogRow
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)

CLIENTS = 8  # the row the targets compare; its stage rows say where the time goes
# A query after the server idled this long: on a shared machine a photo's network then
# takes milliseconds longer than back to back, whatever the cores did meanwhile (docs/benchmarks.md).
IDLE_S = 0.1
CONCURRENCY = (1, 2, 4, CLIENTS, 16)
INTERLEAVED_PASSES = 5  # the in-process rows, whose ratio to the bare model is a target


@dataclass
class BenchResult:
    header: str
    rows: list

    def table(self) -> str:
        return f"{self.header}\n{format_table(self.rows, self.rows[1].photos_per_s or 1.0)}"


@dataclass
class Row:
    path: str
    photos_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""


def _pixels(photos: Sequence[bytes], contract, buffer: PixelBuffer | None = None) -> np.ndarray:
    return preprocess_photos(photos, contract, out=buffer.rows(len(photos)) if buffer else None)[0]


def bench_local(photos: Sequence[bytes], onnx_path: Path, loaded: LoadedModel
                ) -> tuple[list[Row], Callable[[], float]]:
    """The in-process rows, and one in-process pass (its rate) to time in turns with others."""
    contract = loaded.preprocessing
    model = loaded.model.eval()
    buffer = PixelBuffer(contract)  # one batch's memory, reused as an in-process loop would

    def eager(batch):
        with torch.inference_mode():
            return model(torch.from_numpy(_pixels(batch, contract)))

    session = onnx_session(onnx_path)

    def embed(pixels):  # as the product runs a batch on a CPU: a few photos per call
        return run_in_slices(session, [tc.EMBEDDING], tc.PIXELS, pixels)

    def ort(batch):
        return embed(_pixels(batch, contract, buffer))

    def ort_colour(batch):  # the same work as the server: embedding and colour descriptor
        pixels, colours = preprocess_photos(batch, contract, colours=True,
                                            out=buffer.rows(len(batch)))
        return embed(pixels), colours

    quiet = onnx_session(onnx_path, spinning=False)

    def pipelined(all_photos):  # as evaluation embeds, its onnxruntime threads not spinning
        batches = [all_photos[i:i + BATCH] for i in range(0, len(all_photos), BATCH)]
        decoded = decoded_ahead(batches, lambda b, into: _pixels(b, contract, into), contract, 2)
        for pixels in decoded:
            run_in_slices(quiet, [tc.EMBEDDING], tc.PIXELS, pixels)

    ready = _pixels(photos, contract)

    def whole(batch_pixels):
        return session.run([tc.EMBEDDING], {tc.PIXELS: batch_pixels})

    threads = torch.get_num_threads()

    def one_pass() -> float:
        return median_rate(photos, ort, BATCH, passes=1)

    ort_rate, colour_rate, pipelined_rate, bare_rate, whole_rate = rates_in_turns(
        [(photos, ort, BATCH), (photos, ort_colour, BATCH), (photos, pipelined, len(photos)),
         (ready, embed, BATCH), (ready, whole, BATCH)], passes=INTERLEAVED_PASSES)
    return [
        Row("PyTorch eager, in-process", median_rate(photos, eager, BATCH, passes=1),
            note=f"batch {BATCH}, {threads} threads"),
        Row("onnxruntime, in-process", ort_rate,
            note=f"batch {BATCH}, run {slice_rows(session)} at a time"),
        Row("  + colour descriptor", colour_rate, note="the server's work per photo"),
        Row("  pipelined: next batches decoded alongside", pipelined_rate,
            note="2 decode threads + onnxruntime, as evaluation runs"),
        Row("  bare model, pixels ready", bare_rate,
            note=f"batch {BATCH}, the ceiling; rows above it timed in turns"),
        Row(f"  bare model, {BATCH} photos per call", whole_rate,
            note="a CPU's caches overflow (fashion_search/batch_slices.py)"),
    ], one_pass


def bench_triton(photos: Sequence[bytes], url: str,
                 in_process: Callable[[], float] | None = None) -> list[Row]:
    """Batch 1 from 1 to 16 closed-loop clients (as Triton's perf_analyzer sweeps), and a full batch.

    ``in_process`` (one in-process pass, its rate) runs before each pass of the
    ``CLIENTS`` row, so the target's ratio compares rates timed in turns.
    """
    rows = []
    for clients in CONCURRENCY:
        before: dict = {}  # Triton's counters once the clients are warm, for the stage rows
        turns: list[float] = []
        timed_in_turns = in_process is not None and clients == CLIENTS

        def between(kept=turns, wanted=timed_in_turns) -> None:
            if wanted:
                kept.append(in_process())

        rate, latencies = closed_loop(photos, url, clients, passes=PASSES, between=between,
                                      on_start=lambda kept=before: kept.update(server_stats(url)))
        note = "1 client" if clients == 1 else "dynamic batching"
        rows.append(Row(f"Triton gRPC, batch 1, {clients} client{'s' * (clients > 1)}", rate,
                        *percentiles_ms(latencies), note))
        if clients == CLIENTS:
            rows += stage_rows(before, server_stats(url))
        if turns:
            local = float(np.median(turns))
            rows.append(Row(f"  in-process, in turns with {clients} clients", local,
                            note=f"{clients} clients / in-process, timed in turns: "
                                 f"{rate / local:.2f}"))
    client = EmbeddingClient(url)
    rows.insert(1, Row(f"Triton gRPC, batch {BATCH}", median_rate(photos, client.embed, BATCH),
                       note="1 client"))
    client.close()
    return rows


def closed_loop(photos: Sequence[bytes], url: str, clients: int,
                on_start: Callable[[], object] = lambda: None, passes: int = 1,
                between: Callable[[], object] = lambda: None) -> tuple[float, list[float]]:
    """Each client sends its next photo when the last one is answered; all photos once a
    pass. The rate is the median pass's, as for the in-process rows; latencies pool them."""
    own = [EmbeddingClient(url) for _ in range(clients)]
    for client in own:
        client.embed([photos[0]])  # connected and warm before the clock starts
    on_start()
    latencies: list[float] = []

    def worker(index: int) -> None:
        for photo in photos[index::clients]:
            start = time.perf_counter()
            own[index].embed([photo])
            latencies.append(time.perf_counter() - start)

    rates = []
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(passes):
            between()
            start = time.perf_counter()
            list(pool.map(worker, range(clients)))
            rates.append(len(photos) / (time.perf_counter() - start))
    for client in own:
        client.close()
    return float(np.median(rates)), latencies


def server_stats(url: str) -> dict[str, tuple[int, int, int, int]]:
    """Per model: executions, photos, queue ns, compute ns (Triton's own counters)."""
    client = grpcclient.InferenceServerClient(url)
    out = {}
    for name in served_steps(client):
        stats = client.get_inference_statistics(name).model_stats[0]
        # Per-request counters repeat a batch's time for each request in it; the
        # per-batch-size counters hold each execution's time once.
        compute = sum(b.compute_input.ns + b.compute_infer.ns + b.compute_output.ns
                      for b in stats.batch_stats)
        queue = stats.inference_stats.queue.ns
        out[name] = (stats.execution_count, stats.inference_count, queue, compute)
    client.close()
    return out


def served_steps(client: grpcclient.InferenceServerClient) -> list[str]:
    """The models that serve ``embed_image``, in order: the ensemble's steps, or the one
    model of a fused CPU server."""
    ensemble = client.get_model_config(tc.ENSEMBLE).config
    return [step.model_name for step in ensemble.ensemble_scheduling.step] or [tc.ENSEMBLE]


def stage_rows(before: dict, after: dict) -> list[Row]:
    """Where the time goes inside Triton: each stage's capacity per model instance."""
    rows = []
    for name in after:
        runs, photos, queue, compute = (a - b for a, b in zip(after[name], before[name]))
        if not runs or not photos:
            continue
        rows.append(Row(f"  stage {name} (server side)", photos / (compute / 1e9),
                        note=f"avg batch {photos / runs:.1f}, queue {queue / photos / 1e6:.1f} "
                             f"ms/photo, compute {compute / photos / 1e6:.1f} ms/photo"))
    return rows


def percentiles_ms(seconds: Sequence[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_query(photos: Sequence[bytes], url: str, collection_size: int, queries: int
                ) -> list[Row]:
    """Photo bytes to top-10 ids against a collection of ``collection_size`` rows.

    The photos' real embeddings and colours are in the collection; the remaining
    rows are random unit vectors, which cost the same to search. Three ways to
    rank: the embedding alone, the default colour weight in the one search (and
    with the category vote's second search, as the demo page asks), and (the
    alternative not taken) a re-rank of the embedding's top 100 by colour. The
    rows send each query when the last is answered, as the Triton rows do; the
    last one waits ``IDLE_S`` first, as a query from a person would.
    """
    client = EmbeddingClient(url)
    info = client.info()
    real = client.features(list(photos))
    rng = np.random.default_rng(0)
    extra = max(0, collection_size - len(photos))
    filler = _unit(rng.standard_normal((extra, info.dim)))
    shades = _unit(np.abs(rng.standard_normal((extra, colour.DIM))))
    vectors = np.concatenate([real.embeddings, filler])[:collection_size]
    colours = (np.concatenate([real.colours, shades])[:collection_size]
               if real.colours is not None else [None] * len(vectors))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = CatalogStore(str(Path(tmp) / "bench.db"), alias="bench")
        name = collection_name(info.version, "bench")
        store.create_collection(CollectionInfo.for_model(name, info, "bench"))
        store.insert(name, [CatalogRow(f"item-{i}", vector, f"c{i % 10}", "", info.version,
                                       colour=shade)
                            for i, (vector, shade) in enumerate(zip(vectors, colours))])
        store.point_alias(name)
        search = VisualSearch(client, store)
        search.search(photos[0], k=10)
        default = colour.DEFAULT_WEIGHT

        def colour_weighted(photo: bytes) -> list[str]:
            return [h.id for h in search.search(photo, k=10)]

        ways: list[tuple[str, Callable[[bytes], list[str]], float]] = [
            ("shape only", lambda p: [h.id for h in search.search(p, k=10, colour_weight=0.0)], 0),
            (f"colour weight {default:g}", colour_weighted, 0),
            ("+ suggestions", lambda p: [h.id for h in search.find(p, k=10).hits], 0),
            ("re-rank top 100", lambda p: _reranked(client, store, name, p, default), 0),
            (f"{IDLE_S * 1000:.0f} ms apart", colour_weighted, IDLE_S),
        ]
        for how, ranked, idle in ways:
            latencies = []
            for i in range(queries):
                photo = photos[i % len(photos)]
                time.sleep(idle)
                start = time.perf_counter()
                ids = ranked(photo)
                latencies.append(time.perf_counter() - start)
                if ids[0] != f"item-{i % len(photos)}":
                    raise RuntimeError(f"photo {i % len(photos)} did not find itself first")
            p50, p99 = percentiles_ms(latencies)
            rows.append(Row(f"query: top 10 of {collection_size:,}, {how}", 1000 / p50, p50, p99,
                            f"{queries} queries, FLAT index"
                            + (f", colour weight {default:g}, server idle between" if idle else "")))
        store.close()
    client.close()
    return rows


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _reranked(client: EmbeddingClient, store: CatalogStore, name: str, photo: bytes,
              weight: float, depth: int = 100) -> list[str]:
    found = client.features([photo])
    info = store.info(name)
    query = info.query(found.embeddings[0])
    hits = store.client.search(name, [query.tolist()], limit=depth, output_fields=[VECTOR_FIELD])
    stored = np.asarray([h["entity"][VECTOR_FIELD] for h in hits[0]], np.float32)
    scores = stored[:, :info.dim] @ found.embeddings[0]
    if found.colours is not None:
        colours = stored[:, info.dim:] / info.colour_scale  # stored scaled (vectors.py)
        scores = scores + weight * (colours @ found.colours[0])
    return [str(hits[0][i]["id"]) for i in np.argsort(-scores)[:10]]


def bench_ingest(paths: Sequence[Path], url: str) -> Row:
    """The whole ingestion pipeline, to compare with the model's own rate."""

    items = [CatalogItem(p.stem, p, "bench") for p in paths]
    client = EmbeddingClient(url)
    with tempfile.TemporaryDirectory() as tmp:
        store = CatalogStore(str(Path(tmp) / "ingest.db"), alias="bench")
        report = rebuild(items, client, store, progress=False)
        store.close()
    client.close()
    return Row("ingest: files -> Triton -> Milvus", report.rate,
               note=f"batch {BATCH}, 4 requests in flight")


def bench_photos(folder: Path, count: int) -> list[Path]:
    """The first ``count`` photos under ``folder``; a missing or photo-less folder is refused."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInput(f"{folder}: no such folder; give --photos a folder of JPEG or PNG photos")
    paths = photo_paths(folder, count)
    if not paths:
        raise MissingInput(f"{folder}: no photos in it; give --photos a folder of JPEG or PNG photos")
    if len(paths) < count:
        log.warning("only %d photos under %s", len(paths), folder)
    return paths


def format_table(rows: Sequence[Row], baseline: float) -> str:
    lines = [f"{'path':<42} {'photos/s':>9} {'vs ort':>7} {'p50 ms':>8} {'p99 ms':>8}  note",
             "-" * 100]
    for row in rows:
        rate = f"{row.photos_per_s:9.1f}" if row.photos_per_s else f"{'':>9}"
        ratio = f"{row.photos_per_s / baseline:6.2f}x" if row.photos_per_s else f"{'':>7}"
        p50 = f"{row.p50_ms:8.1f}" if row.p50_ms is not None else f"{'':>8}"
        p99 = f"{row.p99_ms:8.1f}" if row.p99_ms is not None else f"{'':>8}"
        lines.append(f"{row.path:<42} {rate} {ratio} {p50} {p99}  {row.note}")
    return "\n".join(lines)


def bench(
    photos: str | Path | None = None,
    count: int = 500,
    collection_size: int = 10_000,
    queries: int = 200,
    settings: Settings | None = None,
) -> BenchResult:
    """Run every measurement; the table is also saved as JSON under ``home``."""

    settings = settings or load_settings()
    folder = Path(photos) if photos else resolve_catalog(None, settings)
    paths = bench_photos(folder, count)
    data = [p.read_bytes() for p in paths]
    choice = choose_model(settings=settings)
    served = ensure_model(choice=choice, settings=settings)
    onnx_path = served.repository / tc.EMBEDDER / "1" / "model.onnx"
    with ExitStack() as stack:
        client = ensure_server(settings, stack, expected_version=served.version)
        url = client.url
        rows, in_process = bench_local(data, onnx_path, choice.load())
        rows += bench_triton(data, url, in_process)
        rows.append(bench_ingest(paths, url))
        rows.extend(bench_query(data, url, collection_size, queries))
    header = (f"{len(data)} photos from {folder}; {os.cpu_count()} CPU cores; model {served}; "
              f"ratios against onnxruntime in-process")
    out = settings.home / "bench" / "throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"header": header, "rows": [asdict(r) for r in rows]}, indent=2))
    return BenchResult(header, rows)
