"""Street-to-shop figures through the product's own path: Triton, then Milvus.

Photos go to Triton as encoded bytes (its preprocess model decodes them), the
product embeddings go into a fresh Milvus Lite collection, and each street
photo is a Milvus search over all of them. The figures must equal the
in-process ones; if they do not, the served product is not the model that
was measured.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashion_search.client import EmbeddingClient
from fashion_search.config import Settings
from fashion_search.training.catalog import CatalogItem
from fashion_search.training.checkpoint import LoadedModel

log = logging.getLogger(__name__)

BATCH = 32


class ServedModelMismatch(RuntimeError):
    """Triton serves a different model from the one being evaluated."""


def embed_served(client: EmbeddingClient, items: Sequence[CatalogItem], desc: str,
                 progress: bool) -> np.ndarray:
    parts = []
    with tqdm(total=len(items), desc=desc, unit="photo", disable=not progress) as bar:
        for start in range(0, len(items), BATCH):
            batch = items[start:start + BATCH]
            parts.append(client.embed([i.read_bytes() for i in batch]))
            bar.update(len(batch))
    return np.concatenate(parts)


def search_scores(queries: np.ndarray, gallery: np.ndarray, ids: Sequence[str], version: str,
                  metric: str, progress: bool) -> np.ndarray:
    """(queries, gallery) similarity as Milvus returns it, every gallery item ranked."""
    from fashion_search.vectordb.store import CatalogStore

    position = {item_id: n for n, item_id in enumerate(ids)}
    with tempfile.TemporaryDirectory(prefix="fashion-search-eval-") as tmp:
        store = CatalogStore(str(Path(tmp) / "eval.db"))
        try:
            name = store.ensure_collection(version, gallery.shape[1], metric)
            store.upsert(name, ids, gallery, [""] * len(ids), [""] * len(ids),
                         [{}] * len(ids), version)
            store.point_alias(name)
            scores = np.full((len(queries), len(ids)), -np.inf)
            for row, query in enumerate(tqdm(queries, desc="Milvus searches", unit="query",
                                             disable=not progress)):
                for hit in store.search(query, k=len(ids)):
                    scores[row, position[hit.id]] = hit.score
        finally:
            store.close()
    return scores


def served_street_to_shop(loaded: LoadedModel, checkpoint: Path | None, street,
                          settings: Settings, progress: bool = True):
    """The street-to-shop figures of ``loaded`` as served; starts Triton if none runs."""
    from fashion_search.export.run import ensure_model
    from fashion_search.serve import ensure_server
    from fashion_search.training.evaluate import CURVE_KS, RECALL_KS, ModelFigures
    from fashion_search.training.metrics import recall_at_k, retrieval_report, sorted_relevance

    with contextlib.ExitStack() as stack:
        client = EmbeddingClient(settings.triton_url)
        if not client.is_ready():
            ensure_model(checkpoint=checkpoint, settings=settings)
            client = ensure_server(settings, stack)
        info = client.info()
        if info.version != loaded.version:
            raise ServedModelMismatch(
                f"Triton at {settings.triton_url} serves {info.version}, not the evaluated "
                f"{loaded.version}; export the checkpoint and restart the server"
            )
        queries = embed_served(client, street.queries, "served: street photos", progress)
        gallery = embed_served(client, street.gallery, "served: product photos", progress)
        ids = [item.id for item in street.gallery]
        scores = search_scores(queries, gallery, ids, info.version, info.metric, progress)
    figures = ModelFigures("served (Triton+Milvus)", info.version)
    ranked = sorted_relevance(scores, street.relevance())
    figures.street2shop = retrieval_report(ranked, RECALL_KS)
    figures.curve = {k: recall_at_k(ranked, k) for k in CURVE_KS if k <= len(ids)}
    log.info("served: %s", figures.street2shop)
    return figures
