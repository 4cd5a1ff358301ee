"""Street-to-shop scores through the product's own path: Triton, then Milvus.

The product photos are indexed by the same ingestion that indexes a
catalogue, into a fresh Milvus Lite file, and each street photo is a search
through :class:`VisualSearch`, so the figures describe what users get. They
must equal the in-process figures; if they do not, the served product is not
the model that was measured.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashion_search.client import EmbeddingClient
from fashion_search.config import Settings
from fashion_search.search import VisualSearch
from fashion_search.training.catalog import CatalogItem
from fashion_search.training.checkpoint import LoadedModel

log = logging.getLogger(__name__)


class ServedModelMismatch(RuntimeError):
    """Triton serves a different model from the one being evaluated."""


def served_scores(loaded: LoadedModel, checkpoint: Path | None, queries: list[CatalogItem],
                  gallery: list[CatalogItem], settings: Settings, progress: bool = True
                  ) -> np.ndarray:
    """(queries, gallery) similarities as search returns them; starts Triton if none runs."""
    from fashion_search.export.run import ensure_model
    from fashion_search.serve import ensure_server
    from fashion_search.vectordb.ingest import ingest
    from fashion_search.vectordb.store import CatalogStore

    position = {item.id: n for n, item in enumerate(gallery)}
    scores = np.full((len(queries), len(gallery)), -np.inf)
    with contextlib.ExitStack() as stack:
        client = EmbeddingClient(settings.triton_url)
        if not client.is_ready():
            ensure_model(checkpoint=checkpoint, settings=settings)
            client = ensure_server(settings, stack)
        if client.info().version != loaded.version:
            raise ServedModelMismatch(
                f"Triton at {settings.triton_url} serves {client.info().version}, not the "
                f"evaluated {loaded.version}; export the checkpoint and restart the server"
            )
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="fashion-search-eval-"))
        store = CatalogStore(str(Path(tmp) / "eval.db"))
        stack.callback(store.close)
        report = ingest(gallery, client, store, progress=progress)
        if report.skipped:
            raise ValueError(f"{len(report.skipped)} gallery photos could not be indexed, "
                             f"first: {report.skipped[0][1]}")
        search = VisualSearch(client, store)
        for row, query in enumerate(tqdm(queries, desc="served searches", unit="query",
                                         disable=not progress)):
            for hit in search.search(query.read_bytes(), k=len(gallery), name=str(query.path)):
                scores[row, position[hit.id]] = hit.score
    return scores
