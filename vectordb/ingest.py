"""Ingestion: catalogue photos -> Triton embeddings -> Milvus upserts.

Reading files, embedding and writing overlap (several requests in flight) so
the model, not the pipeline around it, sets the pace. A photo the server
cannot read is retried alone, reported by name and skipped; the rest go on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from fashion_search.catalog import CatalogItem
from fashion_search.client import EmbeddingClient
from fashion_search.config import BATCH_SIZE
from fashion_search.errors import EmbeddingError
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    collection: str
    model_version: str
    indexed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.indexed / self.seconds if self.seconds else 0.0


def _read(item: CatalogItem) -> bytes | str:
    try:
        return item.read_bytes()
    except (OSError, ValueError) as err:
        return f"{item.path}: cannot read the file ({err})"


def _embed_batch(
    client: EmbeddingClient, items: Sequence[CatalogItem]
) -> tuple[list[CatalogItem], np.ndarray, list[tuple[str, str]]]:
    """Embed a batch; on a refusal, embed one by one to name the bad photos."""
    payloads = [_read(item) for item in items]
    skipped = [(it.id, p) for it, p in zip(items, payloads) if isinstance(p, str)]
    good = [(it, p) for it, p in zip(items, payloads) if isinstance(p, bytes)]
    if not good:
        return [], np.zeros((0, 0), np.float32), skipped
    try:
        vectors = client.embed([p for _, p in good])
        return [it for it, _ in good], vectors, skipped
    except EmbeddingError:
        kept, rows = [], []
        for item, payload in good:
            try:
                rows.append(client.embed_one(payload))
                kept.append(item)
            except EmbeddingError as err:
                skipped.append((item.id, f"{item.path}: {err.reason}"))
        return kept, np.stack(rows) if rows else np.zeros((0, 0), np.float32), skipped


def _batches(items: Sequence[CatalogItem], size: int) -> Iterator[Sequence[CatalogItem]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def ingest(
    items: Sequence[CatalogItem], client: EmbeddingClient, store: CatalogStore,
    batch_size: int = BATCH_SIZE, in_flight: int = 4, progress: bool = True,
) -> IngestReport:
    """Upsert every item into the collection for the served model, then switch the alias."""
    info = client.info()
    name = store.ensure_collection(info.version, info.dim, info.metric)
    report = IngestReport(name, info.version)
    started = time.perf_counter()
    bar = tqdm(total=len(items), unit="photo", desc="indexing", disable=not progress,
               dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        pending: deque = deque()
        batches = _batches(items, batch_size)
        while True:
            while len(pending) < 2 * in_flight and (batch := next(batches, None)) is not None:
                pending.append(pool.submit(_embed_batch, client, batch))
            if not pending:
                break
            kept, vectors, skipped = pending.popleft().result()
            if kept:
                report.indexed += store.upsert(
                    name, [i.id for i in kept], vectors, [i.category for i in kept],
                    [str(i.path) for i in kept], [i.labels for i in kept], info.version,
                )
            for _, reason in skipped:
                log.warning("skipped %s", reason)
            report.skipped.extend(skipped)
            bar.update(len(kept) + len(skipped))
            bar.set_postfix(skipped=len(report.skipped))
    bar.close()
    store.point_alias(name)
    report.seconds = time.perf_counter() - started
    log.info("indexed %d photos into %s in %.1fs (%.1f photos/s), skipped %d",
             report.indexed, name, report.seconds, report.rate, len(report.skipped))
    return report
