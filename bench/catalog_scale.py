"""Catalogue search at scale: latency, recall against exact search, build time and memory.

Rows are what the catalogue stores for real photos: the served model's
embedding beside the colour descriptor of each product photo. Past the real
photos, each further row mixes a real photo's vector with one of its ten
nearest real neighbours (a random share of up to a half) plus a little noise:
distinct items that sit where real look-alikes do, so recall means something
(random vectors make ANN recall meaningless, and plain jittered copies make
clusters of near-ties). Queries are real photos held out of the collection,
sent as the product sends them (default colour weight). Each backend and index
type is measured in one run.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient
from tqdm import tqdm

from fashion_search import colour
from fashion_search import triton_config as tc
from fashion_search.bench.process_memory import resident_mb
from fashion_search.catalog import CatalogItem, open_catalog
from fashion_search.checkpoint import choose_model
from fashion_search.config import BATCH_SIZE, Settings, load_settings
from fashion_search.export.run import ensure_model
from fashion_search.onnx_graph import onnx_session
from fashion_search.preprocessing import preprocess_photos
from fashion_search.vectordb.filters import quote
from fashion_search.vectordb.schema import (
    VECTOR_FIELD,
    CollectionInfo,
    Row,
    build_schema,
    to_record,
)
from fashion_search.vectordb.vectors import (
    COLOUR_SCALE,
    collection_metric,
    query_vector,
    stored_vector,
)

log = logging.getLogger(__name__)

K = 10
NEIGHBOURS = 10  # a synthetic row mixes a real photo with one of its nearest real photos
MAX_MIX = 0.5  # share of the neighbour in the mix
NOISE = 0.05  # norm of the noise added to each part of a synthetic row


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


@dataclass
class Photos:
    """Real photos as the catalogue stores them, and as a query sends them."""

    stored: np.ndarray  # [embedding, a * colour] per photo (vectors.py)
    queries: np.ndarray  # [embedding, w * colour] per photo
    dim: int  # embedding part
    version: str


def real_vectors(items: Sequence[CatalogItem], settings: Settings) -> Photos:
    """The served model's stored and query vectors of ``items``, cached under the home folder."""
    choice = choose_model(settings=settings)
    served = ensure_model(choice=choice, settings=settings)
    cache = settings.home / "bench" / f"vectors-{served.version}-{colour.NAME}-{len(items)}.npz"
    if cache.is_file():
        found = np.load(cache)
        embeddings, colours = found["embeddings"], found["colours"]
    else:
        session = onnx_session(served.repository / tc.EMBEDDER / "1" / "model.onnx")
        contract = choice.load().preprocessing
        embedded, described = [], []
        for start in tqdm(range(0, len(items), BATCH_SIZE), desc="embedding photos", unit="batch"):
            batch = items[start:start + BATCH_SIZE]
            pixels, shades = preprocess_photos([i.read_bytes() for i in batch], contract,
                                               [str(i.path) for i in batch], colours=True)
            embedded.append(session.run([tc.EMBEDDING], {tc.PIXELS: pixels})[0])
            described += list(shades)
        embeddings = np.concatenate(embedded).astype(np.float32)
        colours = np.stack(described).astype(np.float32)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, embeddings=embeddings, colours=colours)
    stored = np.stack([stored_vector(e, c, colour.DIM, COLOUR_SCALE)
                       for e, c in zip(embeddings, colours)])
    queries = np.stack([query_vector(e, c, colour.DEFAULT_WEIGHT, colour.DIM, COLOUR_SCALE)
                        for e, c in zip(embeddings, colours)])
    return Photos(stored, queries, embeddings.shape[1], served.version)


def _rescale_parts(vectors: np.ndarray, dim: int, colour_norm: float) -> None:
    """Scales each row's embedding part to unit length and its colour part to ``colour_norm``."""
    for part, norm in ((slice(0, dim), 1.0), (slice(dim, None), colour_norm)):
        lengths = np.linalg.norm(vectors[:, part], axis=1, keepdims=True)
        vectors[:, part] *= norm / np.maximum(lengths, 1e-12)


def nearest_real(base: np.ndarray, count: int = NEIGHBOURS) -> np.ndarray:
    """Each real row's ``count`` nearest other real rows."""
    found = np.zeros((len(base), count), np.int64)
    for start in range(0, len(base), 2000):
        scores = base[start:start + 2000] @ base.T
        scores[np.arange(len(scores)), np.arange(start, start + len(scores))] = -np.inf
        found[start:start + 2000] = np.argpartition(-scores, count, axis=1)[:, :count]
    return found


def grow(base: np.ndarray, categories: Sequence[str], rows: int, dim: int,
         colour_norm: float = COLOUR_SCALE, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``rows`` vectors: the real ones first, then mixes of real neighbours."""
    rng = np.random.default_rng(seed)
    extra = rows - len(base)
    picks = np.concatenate([np.arange(len(base)), rng.integers(0, len(base), extra)])
    vectors = base[picks]
    if extra > 0:
        neighbours = nearest_real(base)
        partners = neighbours[picks[len(base):], rng.integers(0, NEIGHBOURS, extra)]
        for start in range(len(base), rows, 50_000):  # in chunks: a million rows is gigabytes
            chunk = vectors[start:start + 50_000]
            other = base[partners[start - len(base):start - len(base) + len(chunk)]]
            share = rng.uniform(0, MAX_MIX, (len(chunk), 1)).astype(np.float32)
            chunk += share * (other - chunk)
            noise = rng.standard_normal(chunk.shape).astype(np.float32)
            _rescale_parts(noise, dim, colour_norm)
            _rescale_parts(chunk, dim, colour_norm)
            chunk += NOISE * noise
            _rescale_parts(chunk, dim, colour_norm)
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
    def is_milvus(argv: list[str]) -> bool:
        if "python" in Path(argv[0]).name:
            return False
        return ("milvus_lite" in argv[0] if lite
                else Path(argv[0]).name == "milvus" and "standalone" in argv)

    return resident_mb(is_milvus)


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


@dataclass(frozen=True)
class Setup:
    """One index on one backend, and the search settings tried on it."""

    backend: str
    index: dict
    searches: dict[str, dict] = field(default_factory=lambda: {"default": {}})
    partitions: int = 0  # partition-key partitions (a server's category filter reads one)
    category_index: bool = False  # a scalar index on the category, for filters in one graph

    @property
    def label(self) -> str:
        return (self.index["index_type"] + (f"/{self.partitions}p" if self.partitions else "")
                + ("+cat" if self.category_index else ""))


def measure(client: MilvusClient, setup: Setup, vectors: np.ndarray, categories: list[str],
            queries: np.ndarray, query_categories: list[str], truth: np.ndarray,
            filtered_truth: np.ndarray) -> list[ScaleRow]:
    """Insert, build the index, then time searches for each of the setup's search settings."""
    name = f"scale_{re.sub(r'[^0-9a-z]', '_', setup.label.lower())}_{len(vectors)}"
    if client.has_collection(name):
        client.drop_collection(name)
    info = CollectionInfo(name, "bench", vectors.shape[1], collection_metric("COSINE"),
                          alias="bench")  # the metric the product's collections search with
    options = {"num_partitions": setup.partitions} if setup.partitions else {}
    client.create_collection(name, schema=build_schema(info, partition_key=bool(setup.partitions)),
                             **options)
    started = time.perf_counter()
    for start in tqdm(range(0, len(vectors), 1000), desc=f"{setup.backend} {setup.label} insert",
                      unit="k rows"):
        client.insert(name, [to_record(Row(str(i), vectors[i], categories[i], "", "bench"), info)
                             for i in range(start, min(start + 1000, len(vectors)))])
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    client.flush(name)  # sealed segments get the index; growing ones are searched brute force
    params = client.prepare_index_params()
    params.add_index(VECTOR_FIELD, metric_type=info.metric, **setup.index)
    if setup.category_index:
        params.add_index("category")  # the server's default scalar index for the type
    client.create_index(name, params)
    client.load_collection(name)
    client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    build_s = time.perf_counter() - started
    log.info("%s %s: insert %.1fs, index and load %.1fs", setup.backend, setup.label, insert_s,
             build_s)
    rows = []
    for label, search_params in setup.searches.items():
        def search(query, category, search_params=search_params):
            result = client.search(name, [query.tolist()], limit=K, search_params=search_params,
                                   filter=f"category == {quote(category)}" if category else "",
                                   output_fields=[])
            return [int(hit["id"]) for hit in result[0]]

        for query in queries[:5]:  # warm up
            search(query, None)
        p50, p99, recall = _timed_searches(search, queries, None, truth)
        fp50, fp99, frecall = _timed_searches(search, queries, query_categories, filtered_truth)
        rows.append(ScaleRow(setup.backend, setup.label, label, len(vectors), build_s, p50, p99,
                             recall, fp50, fp99, frecall, milvus_rss_mb(setup.backend == "lite")))
        log.info("measured:\n%s", format_scale(rows[-1:]))
    client.drop_collection(name)
    return rows


HNSW_BUILD = {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}}
HNSW_SEARCHES = {f"ef {e}": {"params": {"ef": e}} for e in (64, 128)}
SETUPS = [
    Setup("lite", {"index_type": "FLAT"}, {"exact": {}}),
    # Lite searches with its own fixed probe count whatever nprobe says
    Setup("lite", {"index_type": "IVF_FLAT", "params": {"nlist": 1024}}),
    Setup("server", HNSW_BUILD, HNSW_SEARCHES),
    Setup("server", HNSW_BUILD, HNSW_SEARCHES, category_index=True),
    Setup("server", HNSW_BUILD, HNSW_SEARCHES, partitions=16),
    Setup("server", {"index_type": "IVF_FLAT", "params": {"nlist": 1024}},
          {f"nprobe {p}": {"params": {"nprobe": p}} for p in (16, 32)}),
]


def format_scale(rows: Sequence[ScaleRow]) -> str:
    lines = [f"{'backend':<8} {'index':<12} {'search':<10} {'rows':>9} {'build s':>8} "
             f"{'p50 ms':>7} {'p99 ms':>7} {'R@10':>6}  {'filtered p50':>12} {'p99':>6} "
             f"{'R@10':>6} {'RSS MB':>7}"]
    for r in rows:
        lines.append(f"{r.backend:<8} {r.index:<12} {r.search:<10} {r.rows:>9,} {r.build_s:8.1f} "
                     f"{r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.recall:6.3f}  {r.filtered_p50_ms:12.2f} "
                     f"{r.filtered_p99_ms:6.2f} {r.filtered_recall:6.3f} {r.memory_mb:7.0f}")
    return "\n".join(lines)


def bench_catalog(
    catalog: str | Path | None = None, rows: int = 100_000, queries: int = 200,
    server_uri: str | None = None, lite: bool = True, indexes: Sequence[str] = (),
    settings: Settings | None = None,
) -> str:
    """The scale table for Milvus Lite and, given ``server_uri``, a Milvus server.

    ``indexes`` keeps only the setups of those labels (``FLAT``, ``HNSW/16p``...).
    """
    settings = settings or load_settings()
    items = open_catalog(catalog or settings.data_dir / "fashion-product-images")
    photos = real_vectors(items, settings)
    rng = np.random.default_rng(1)
    held = rng.choice(len(items), size=queries, replace=False)
    kept = np.setdiff1d(np.arange(len(items)), held)
    vectors, categories = grow(photos.stored[kept], [items[i].category for i in kept], rows,
                               photos.dim)
    query_vectors = photos.queries[held]
    query_categories = [items[i].category for i in held]
    truth = exact_top_k(vectors, query_vectors)
    same = np.asarray(categories)[None, :] == np.asarray(query_categories)[:, None]
    filtered_truth = exact_top_k(vectors, query_vectors, same)
    results: list[ScaleRow] = []
    with tempfile.TemporaryDirectory(prefix="fashion-search-scale-") as tmp:
        backends = {"lite": MilvusClient(str(Path(tmp) / "scale.db"))} if lite else {}
        if server_uri:
            backends["server"] = MilvusClient(uri=server_uri)
        for setup in SETUPS:
            if setup.backend in backends and (not indexes or setup.label in indexes):
                results += measure(backends[setup.backend], setup, vectors, categories,
                                   query_vectors, query_categories, truth, filtered_truth)
        for client in backends.values():
            client.close()
    header = (f"{rows:,} rows of {photos.version} vectors ({len(kept):,} real product photos "
              f"plus mixes of real neighbours), {queries} held-out real photos as queries at "
              f"colour weight {colour.DEFAULT_WEIGHT:g}, top {K}, "
              f"{os.cpu_count()} CPU cores")
    return header + "\n" + format_scale(results)
