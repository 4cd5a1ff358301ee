"""Catalogue search at scale: latency, recall against exact search, build time and memory.

Rows are real embeddings from the served model: the product photos, plus
copies of them with a small random jitter until the collection has ``rows``
rows, so neighbours are real look-alikes and recall means something (random
vectors make ANN recall meaningless). Queries are real photos held out of the
collection. Each backend and index type is measured in one run.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient
from tqdm import tqdm

from fashion_search import triton_config as tc
from fashion_search.catalog import CatalogItem, open_catalog
from fashion_search.checkpoint import choose_model
from fashion_search.config import BATCH_SIZE, Settings, load_settings
from fashion_search.export.run import ensure_model
from fashion_search.onnx_graph import onnx_session
from fashion_search.preprocessing import preprocess
from fashion_search.vectordb.filters import quote
from fashion_search.vectordb.schema import (
    VECTOR_FIELD,
    CollectionInfo,
    Row,
    build_schema,
    to_record,
)

log = logging.getLogger(__name__)

K = 10
JITTER = 0.25  # norm of the noise added to a copy, against unit vectors


@dataclass
class ScaleRow:
    backend: str
    index: str
    search: str
    rows: int
    build_s: float
    p50_ms: float
    p99_ms: float
    recall: float
    filtered_p50_ms: float
    filtered_p99_ms: float
    filtered_recall: float
    memory_mb: float


def real_embeddings(items: Sequence[CatalogItem], settings: Settings) -> tuple[np.ndarray, str]:
    """The served model's embeddings of ``items``, cached under the home folder."""
    choice = choose_model(settings=settings)
    served = ensure_model(choice=choice, settings=settings)
    cache = settings.home / "bench" / f"embeddings-{served.version}-{len(items)}.npy"
    if cache.is_file():
        return np.load(cache), served.version
    session = onnx_session(served.repository / tc.EMBEDDER / "1" / "model.onnx")
    contract = choice.load().preprocessing
    vectors = []
    for start in tqdm(range(0, len(items), BATCH_SIZE), desc="embedding photos", unit="batch"):
        batch = items[start:start + BATCH_SIZE]
        pixels = np.stack([preprocess(i.read_bytes(), contract, name=str(i.path)) for i in batch])
        vectors.append(session.run([tc.EMBEDDING], {tc.PIXELS: pixels})[0])
    result = np.concatenate(vectors).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, result)
    return result, served.version


def grow(base: np.ndarray, categories: Sequence[str], rows: int, seed: int = 0
         ) -> tuple[np.ndarray, list[str]]:
    """``rows`` vectors: the real ones first, then jittered copies of them."""
    rng = np.random.default_rng(seed)
    picks = np.concatenate([np.arange(len(base)), rng.integers(0, len(base), rows - len(base))])
    vectors = base[picks]
    for start in range(len(base), rows, 50_000):  # in chunks: a million copies is gigabytes
        chunk = vectors[start:start + 50_000]
        chunk += rng.standard_normal(chunk.shape).astype(np.float32) * (JITTER / np.sqrt(
            base.shape[1]))
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
    return vectors, [categories[i] for i in picks]


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray | None = None
                ) -> np.ndarray:
    """Indices of the true top ``K`` by cosine, in chunks so memory stays flat."""
    best_scores = np.full((len(queries), K), -np.inf, np.float32)
    best_ids = np.zeros((len(queries), K), np.int64)
    for start in range(0, len(vectors), 50_000):
        scores = queries @ vectors[start:start + 50_000].T
        if mask is not None:
            scores = np.where(mask[:, start:start + 50_000], scores, -np.inf)
        ids = np.arange(start, start + scores.shape[1])[None, :].repeat(len(queries), 0)
        both_scores = np.concatenate([best_scores, scores], axis=1)
        both_ids = np.concatenate([best_ids, ids], axis=1)
        order = np.argsort(-both_scores, axis=1)[:, :K]
        best_scores = np.take_along_axis(both_scores, order, 1)
        best_ids = np.take_along_axis(both_ids, order, 1)
    return best_ids


def milvus_rss_mb(lite: bool) -> float:
    """Resident memory of the Milvus Lite processes, or of the Milvus server processes."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            program = Path(argv[0]).name
            if "python" in program or not ("milvus_lite" in argv[0] if lite else
                                           program == "milvus" and "standalone" in argv):
                continue
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        except (OSError, AttributeError, IndexError):
            continue
    return total / 1024


def _timed_searches(search: Callable[[np.ndarray, str | None], list[int]], queries: np.ndarray,
                    categories: Sequence[str] | None, truth: np.ndarray
                    ) -> tuple[float, float, float]:
    latencies, hits = [], 0
    for n, query in enumerate(queries):
        start = time.perf_counter()
        found = search(query, categories[n] if categories else None)
        latencies.append((time.perf_counter() - start) * 1000)
        hits += len(set(found) & set(truth[n].tolist()))
    return (float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)),
            hits / truth.size)


def measure(client: MilvusClient, backend: str, index: dict, search_params: dict,
            vectors: np.ndarray, categories: list[str], queries: np.ndarray,
            query_categories: list[str], truth: np.ndarray, filtered_truth: np.ndarray,
            lite: bool) -> list[ScaleRow]:
    """Insert, build ``index``, then time searches for each entry of ``search_params``."""
    name = f"scale_{index['index_type'].lower()}_{len(vectors)}"
    if client.has_collection(name):
        client.drop_collection(name)
    info = CollectionInfo(name, "bench", vectors.shape[1], alias="bench")
    client.create_collection(name, schema=build_schema(info, partition_key=not lite))
    started = time.perf_counter()
    for start in tqdm(range(0, len(vectors), 1000), desc=f"{backend} insert", unit="k rows"):
        client.insert(name, [to_record(Row(str(i), vectors[i], categories[i], "", "bench"), {})
                             for i in range(start, min(start + 1000, len(vectors)))])
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    client.flush(name)  # sealed segments get the index; growing ones are searched brute force
    params = client.prepare_index_params()
    params.add_index(VECTOR_FIELD, metric_type="COSINE", **index)
    client.create_index(name, params)
    client.load_collection(name)
    client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    build_s = time.perf_counter() - started
    log.info("%s %s: insert %.1fs, index and load %.1fs", backend, index["index_type"],
             insert_s, build_s)
    rows = []
    for label, params_ in search_params.items():
        def search(query, category, params_=params_):
            result = client.search(name, [query.tolist()], limit=K, search_params=params_,
                                   filter=f"category == {quote(category)}" if category else "",
                                   output_fields=[])
            return [int(hit["id"]) for hit in result[0]]

        search(queries[0], None)  # warm up
        p50, p99, recall = _timed_searches(search, queries, None, truth)
        fp50, fp99, frecall = _timed_searches(search, queries, query_categories, filtered_truth)
        rows.append(ScaleRow(backend, index["index_type"], label, len(vectors), build_s, p50,
                             p99, recall, fp50, fp99, frecall, milvus_rss_mb(lite)))
    client.drop_collection(name)
    return rows


SETUPS = {
    "lite": [({"index_type": "FLAT"}, {"exact": {}}),
             ({"index_type": "IVF_FLAT", "params": {"nlist": 1024}},
              {f"nprobe {p}": {"params": {"nprobe": p}} for p in (16, 32, 64)})],
    "server": [({"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}},
                {f"ef {e}": {"params": {"ef": e}} for e in (64, 128, 256)}),
               ({"index_type": "IVF_FLAT", "params": {"nlist": 1024}},
                {f"nprobe {p}": {"params": {"nprobe": p}} for p in (16, 32, 64)})],
}


def format_scale(rows: Sequence[ScaleRow]) -> str:
    lines = [f"{'backend':<8} {'index':<9} {'search':<10} {'rows':>9} {'build s':>8} "
             f"{'p50 ms':>7} {'p99 ms':>7} {'R@10':>6}  {'filtered p50':>12} {'p99':>6} "
             f"{'R@10':>6} {'RSS MB':>7}"]
    for r in rows:
        lines.append(f"{r.backend:<8} {r.index:<9} {r.search:<10} {r.rows:>9,} {r.build_s:8.1f} "
                     f"{r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.recall:6.3f}  {r.filtered_p50_ms:12.2f} "
                     f"{r.filtered_p99_ms:6.2f} {r.filtered_recall:6.3f} {r.memory_mb:7.0f}")
    return "\n".join(lines)


def bench_catalog(
    catalog: str | Path | None = None, rows: int = 100_000, queries: int = 200,
    server_uri: str | None = None, lite: bool = True, settings: Settings | None = None,
) -> str:
    """The scale table for Milvus Lite and, given ``server_uri``, a Milvus server."""
    settings = settings or load_settings()
    items = open_catalog(catalog or settings.data_dir / "fashion-product-images")
    embeddings, version = real_embeddings(items, settings)
    rng = np.random.default_rng(1)
    held = rng.choice(len(items), size=queries, replace=False)
    kept = np.setdiff1d(np.arange(len(items)), held)
    vectors, categories = grow(embeddings[kept], [items[i].category for i in kept], rows)
    query_vectors = embeddings[held]
    query_categories = [items[i].category for i in held]
    truth = exact_top_k(vectors, query_vectors)
    same = np.asarray(categories)[None, :] == np.asarray(query_categories)[:, None]
    filtered_truth = exact_top_k(vectors, query_vectors, same)
    results: list[ScaleRow] = []
    with tempfile.TemporaryDirectory(prefix="fashion-search-scale-") as tmp:
        backends = {"lite": MilvusClient(str(Path(tmp) / "scale.db"))} if lite else {}
        if server_uri:
            backends["server"] = MilvusClient(uri=server_uri)
        for backend, client in backends.items():
            for index, search_params in SETUPS[backend]:
                results += measure(client, backend, index, search_params, vectors, categories,
                                   query_vectors, query_categories, truth, filtered_truth,
                                   backend == "lite")
            client.close()
    header = (f"{rows:,} rows of {version} embeddings ({len(kept):,} real product photos plus "
              f"jittered copies), {queries} held-out real photos as queries, top {K}, "
              f"{os.cpu_count()} CPU cores")
    return header + "\n" + format_scale(results)
