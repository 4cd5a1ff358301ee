"""Ingestion: catalogue photos -> Triton embeddings -> rows in one Milvus collection.

Reading files, embedding and writing overlap (several requests in flight) so
the model, not the pipeline around it, sets the pace. A photo the server
cannot read is retried alone, reported by name and skipped; the rest go on.
Which collection, and when it goes live, is the lifecycle's business.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from fashion_search.catalog import CatalogItem
from fashion_search.client import EmbeddingClient, Features
from fashion_search.config import BATCH_SIZE
from fashion_search.errors import EmbeddingError, FashionSearchError
from fashion_search.vectordb.schema import Row, too_long
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)

SAMPLES = 5  # items kept to check that a finished collection finds them


@dataclass
class IngestReport:
    collection: str
    model_version: str
    indexed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    samples: list[tuple[str, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.indexed / self.seconds if self.seconds else 0.0


def content_hash(item: CatalogItem, raw: bytes | None = None) -> str:
    """Changes when the photo, its crop box, its category or its labels change.

    ``raw`` is the file's bytes when the caller has already read them.
    """
    digest = hashlib.sha256(item.path.read_bytes() if raw is None else raw)
    digest.update(json.dumps([item.category, item.labels, item.bbox], sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _read(item: CatalogItem) -> tuple[bytes, str] | str:
    if reason := too_long(item.id, str(item.path)):
        return f"{item.path}: {reason}"
    try:
        raw = item.path.read_bytes()  # read once: it is both the payload and the hash's input
        return (raw if item.bbox is None else item.read_bytes()), content_hash(item, raw)
    except FashionSearchError as err:  # an unreadable photo or a bad box, already named
        return str(err)
    except (OSError, ValueError) as err:
        return f"{item.path}: cannot read the file ({err})"


def embed_batch(
    client: EmbeddingClient, items: Sequence[CatalogItem]
) -> tuple[list[tuple[CatalogItem, str]], Features, list[tuple[str, str]]]:
    """Embed a batch; on a refusal, embed one by one to name the bad photos."""
    payloads = [_read(item) for item in items]
    skipped = [(it.id, p) for it, p in zip(items, payloads) if isinstance(p, str)]
    good = [(it, p) for it, p in zip(items, payloads) if not isinstance(p, str)]
    if not good:
        return [], Features(np.zeros((0, 0), np.float32)), skipped
    try:
        found = client.features([data for _, (data, _) in good])
        return [(it, digest) for it, (_, digest) in good], found, skipped
    except EmbeddingError:
        kept, singles = [], []
        for item, (data, digest) in good:
            try:
                singles.append(client.features([data]))
                kept.append((item, digest))
            except EmbeddingError as err:
                skipped.append((item.id, f"{item.path}: {err.reason}"))
        return kept, _stacked(singles), skipped


def _stacked(parts: Sequence[Features]) -> Features:
    if not parts:
        return Features(np.zeros((0, 0), np.float32))
    colours = [p.colours for p in parts]
    return Features(np.concatenate([p.embeddings for p in parts]),
                    None if any(c is None for c in colours) else np.concatenate(colours))


def to_rows(kept: Sequence[tuple[CatalogItem, str]], found: Features, version: str
            ) -> list[Row]:
    """Catalogue rows from embedded items and their content hashes."""
    colours = found.colours if found.colours is not None else [None] * len(kept)
    return [Row(item.id, vector, item.category, str(item.path), version, digest, item.labels,
                colour)
            for (item, digest), vector, colour in zip(kept, found.embeddings, colours)]


def _batches(items: Sequence[CatalogItem], size: int) -> Iterator[Sequence[CatalogItem]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def ingest(
    items: Sequence[CatalogItem], client: EmbeddingClient, store: CatalogStore, collection: str,
    batch_size: int = BATCH_SIZE, in_flight: int = 4, progress: bool = True,
    desc: str = "indexing", replace: bool = False,
) -> IngestReport:
    """Embed every item with the served model and write it into ``collection``.

    ``replace`` first deletes rows with the same ids (an update in place).
    """
    write = store.replace if replace else store.insert
    version = client.info().version
    report = IngestReport(collection, version)
    started = time.perf_counter()
    bar = tqdm(total=len(items), unit="photo", desc=desc, disable=not progress,
               dynamic_ncols=True)
    try:
        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            pending: deque = deque()
            batches = _batches(items, batch_size)
            while True:
                while len(pending) < 2 * in_flight and (batch := next(batches, None)) is not None:
                    pending.append(pool.submit(embed_batch, client, batch))
                if not pending:
                    break
                kept, found, skipped = pending.popleft().result()
                if kept:
                    rows = to_rows(kept, found, version)
                    report.indexed += write(collection, rows)
                    if len(report.samples) < SAMPLES:
                        report.samples.append((rows[0].id, rows[0].embedding))
                for _, reason in skipped:
                    log.warning("skipped %s", reason)
                report.skipped.extend(skipped)
                bar.update(len(kept) + len(skipped))
                bar.set_postfix(skipped=len(report.skipped))
    finally:
        bar.close()  # before an error is printed, not after it when the process exits
    report.seconds = time.perf_counter() - started
    log.info("embedded %d photos into %s in %.1fs (%.1f photos/s), skipped %d",
             report.indexed, collection, report.seconds, report.rate, len(report.skipped))
    return report
