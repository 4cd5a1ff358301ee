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

from fashion_search.catalog import CatalogItem
from fashion_search.checkpoint import LoadedModel
from fashion_search.client import EmbeddingClient
from fashion_search.config import Settings
from fashion_search.errors import CatalogError
from fashion_search.export.run import ensure_model, served_version
from fashion_search.serving.search import VisualSearch
from fashion_search.serving.serve import ensure_server
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)


def served_scores(loaded: LoadedModel, checkpoint: Path | None, queries: list[CatalogItem],
                  gallery: list[CatalogItem], settings: Settings, progress: bool = True
                  ) -> np.ndarray:
    """(queries, gallery) similarities as search returns them; starts Triton if none runs."""
    position = {item.id: n for n, item in enumerate(gallery)}
    scores = np.full((len(queries), len(gallery)), -np.inf)
    with contextlib.ExitStack() as stack:
        probe = EmbeddingClient(settings.triton_url, timeout_s=settings.triton_timeout_s)
        running = probe.is_ready()
        probe.close()
        if not running:
            ensure_model(checkpoint=checkpoint, untuned=checkpoint is None, settings=settings,
                         progress=progress)
        client = ensure_server(settings, stack,
                               expected_version=served_version(loaded, settings))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="fashion-search-eval-"))
        store = CatalogStore(str(Path(tmp) / "eval.db"))
        stack.callback(store.close)
        report = rebuild(gallery, client, store, progress=progress)
        if report.skipped:
            raise CatalogError(f"{len(report.skipped)} product photos could not be indexed, "
                               f"first: {report.skipped[0][1]}; fix or remove them")
        search = VisualSearch(client, store)
        for row, query in enumerate(tqdm(queries, desc="served searches", unit="query",
                                         disable=not progress)):
            for hit in search.search(query.read_bytes(), k=len(gallery), name=str(query.path),
                                     colour_weight=0.0):
                scores[row, position[hit.id]] = hit.score
    return scores
