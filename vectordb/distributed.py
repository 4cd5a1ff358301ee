"""The full index on Ray Data: many workers, several Triton replicas, one Milvus server.

The same steps as the single-process index (read, embed through Triton, write
rows into a new collection, check it, move the alias), with the middle run as
a Ray Data pipeline: an actor pool of Triton clients, each writing its batches
to the Milvus server in 1,000-row writes. The driver creates the collection,
and checks it and moves the alias once, after every worker has finished.
Install with ``pip install "fashion-search[distributed]"``; without an address
Ray starts locally, with one (``ray://HEAD:10001`` or ``auto``) it joins a
cluster.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fashion_search.catalog import CatalogItem
from fashion_search.client import EmbeddingClient
from fashion_search.config import BATCH_SIZE, KEEP_COLLECTIONS
from fashion_search.errors import CatalogBusy, FashionSearchError
from fashion_search.vectordb.filters import catalogue_columns
from fashion_search.vectordb.ingest import embed_batch, to_rows
from fashion_search.vectordb.lifecycle import (
    IndexReport,
    abandon,
    go_live,
    start_run,
    unique_ids,
    verify,
    writer,
)
from fashion_search.vectordb.schema import DEFAULT_ALIAS, CollectionInfo, collection_name, new_run_id
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)


class EmbedAndWrite:
    """One Ray actor: a Triton client and a Milvus connection, reused for every batch."""

    def __init__(self, triton_urls: Sequence[str], milvus_uri: str, token: str, alias: str,
                 collection: str, version: str, timeout_s: float):
        url = triton_urls[os.getpid() % len(triton_urls)]  # spread actors over the replicas
        self.client = EmbeddingClient(url, timeout_s=timeout_s)
        self.store = CatalogStore(milvus_uri, token, alias)
        self.collection = collection
        self.version = version
        if self.client.info().version != version:
            raise FashionSearchError(f"Triton at {url} serves {self.client.info().version}, "
                                     f"not {version}; every replica must serve the same model")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [CatalogItem(i, Path(p), c, json.loads(labels), tuple(json.loads(box)) or None)
                 for i, p, c, labels, box in zip(batch["id"], batch["path"], batch["category"],
                                                 batch["labels"], batch["bbox"])]
        kept, found, skipped = embed_batch(self.client, items)
        written = self.store.insert(self.collection, to_rows(kept, found, self.version))
        sample = kept[0][0].id if kept else ""
        return {"indexed": np.array([written]), "skipped": np.array([json.dumps(skipped)]),
                "sample_id": np.array([sample]),
                "sample": np.array([found.embeddings[0] if kept else np.zeros(0, np.float32)],
                                   dtype=object)}


def _records(items: Sequence[CatalogItem]) -> list[dict[str, Any]]:
    return [{"id": i.id, "path": str(i.path), "category": i.category,
             "labels": json.dumps(i.labels), "bbox": json.dumps(list(i.bbox or ()))}
            for i in items]


def start_ray(address: str | None, workers: int) -> None:
    """Join the cluster at ``address``, or start a local Ray for this process.

    A local Ray on a small, busy machine can take more than its default 30 s
    to start its control store, and now and then its node manager misses the
    30 s Ray allows it (not configurable); one more start gets it up.
    """
    import ray

    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "180")
    for attempt in (1, 2):
        try:
            ray.init(include_dashboard=False, log_to_driver=False, num_cpus=max(2, workers))
            return
        except Exception as err:  # Ray raises a bare Exception for this
            if attempt == 2 or "timed out during startup" not in str(err):
                raise
            log.warning("the local Ray did not start (%s); starting it once more", err)
            ray.shutdown()


def rebuild_distributed(
    items: Sequence[CatalogItem], triton_urls: Sequence[str], milvus_uri: str,
    token: str = "", alias: str = DEFAULT_ALIAS, catalog: str = "", workers: int = 2,
    batch_size: int = BATCH_SIZE, keep: int = KEEP_COLLECTIONS, ray_address: str | None = None,
    timeout_s: float = 60.0,
) -> IndexReport:
    """A full index whose embedding and writing run on ``workers`` Ray actors."""
    import ray  # the optional extra, imported only here

    if "://" not in milvus_uri:
        raise CatalogBusy("a Milvus Lite file serves one process, so workers cannot share it; "
                          "give a Milvus server URI (http://HOST:19530) for a distributed index")
    items = unique_ids(items)
    client = EmbeddingClient(triton_urls[0], timeout_s=timeout_s)
    info = client.info()
    client.close()
    store = CatalogStore(milvus_uri, token, alias)
    run = new_run_id()
    name = collection_name(info.version, run)
    report = IndexReport(name, info.version, "full")
    columns = catalogue_columns(item.labels for item in items)
    started = time.perf_counter()
    try:
        with writer(store):
            report.dropped = start_run(store, CollectionInfo.for_model(
                name, info, alias, catalog, run, columns))
            if not ray.is_initialized():
                start_ray(ray_address, workers)
            try:
                results = ray.data.from_items(_records(items)).map_batches(
                    EmbedAndWrite, batch_size=batch_size, concurrency=workers, num_cpus=0.5,
                    fn_constructor_kwargs={"triton_urls": list(triton_urls),
                                           "milvus_uri": milvus_uri, "token": token,
                                           "alias": alias, "collection": name,
                                           "version": info.version, "timeout_s": timeout_s},
                ).take_all()
                report.timings["embed"] = time.perf_counter() - started
                checked = time.perf_counter()
                indexed = sum(int(r["indexed"]) for r in results)
                report.skipped = [tuple(s) for r in results for s in json.loads(r["skipped"])]
                samples = [(r["sample_id"], r["sample"]) for r in results if r["sample_id"]][:5]
                verify(store, name, indexed, samples)
            except BaseException:
                abandon(store, name)
                raise
            report.dropped += go_live(store, name, keep)  # once, after every worker finished
            report.timings["verify and switch"] = time.perf_counter() - checked
        report.added = report.indexed = indexed
    finally:
        store.close()
    log.info("%s", report.summary())
    return report
