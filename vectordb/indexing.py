"""The ``index`` step: a catalogue folder or CSV -> the live Milvus collection."""

from __future__ import annotations

import logging
from pathlib import Path

from fashion_search.catalog import open_catalog
from fashion_search.client import EmbeddingClient
from fashion_search.config import BATCH_SIZE, KEEP_COLLECTIONS, Settings, load_settings, save_resolved_config
from fashion_search.datasets import DEFAULT_CATALOG_URL, default_catalog
from fashion_search.vectordb.lifecycle import (
    IndexReport,
    catalog_key,
    rebuild,
    switch_back,
    update,
)
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)


def resolve_catalog(catalog: str | Path | None, settings: Settings, progress: bool = True) -> Path:
    """The catalogue asked for, else the configured one, else the default download."""
    chosen = catalog or settings.catalog
    if chosen:
        return Path(chosen).expanduser()
    return default_catalog(settings.cache_dir, settings.default_catalog_url or DEFAULT_CATALOG_URL,
                           progress=progress)


def index(
    catalog: str | Path | None = None,
    triton_url: str | None = None,
    milvus_uri: str | None = None,
    category_column: str | None = None,
    incremental: bool = False,
    keep: int = KEEP_COLLECTIONS,
    batch_size: int = BATCH_SIZE,
    limit: int | None = None,
    progress: bool = True,
    store: CatalogStore | None = None,
    settings: Settings | None = None,
) -> IndexReport:
    """Make the live collection equal to the catalogue (a new one, or updated in place)."""
    settings = settings or load_settings()
    path = resolve_catalog(catalog, settings, progress)
    items = open_catalog(path, category_column=category_column)
    if limit:
        items = items[:limit]
    log.info("indexing %d photos from %s", len(items), path)
    client = EmbeddingClient(triton_url or settings.triton_url, timeout_s=settings.triton_timeout_s)
    own_store = store is None
    if own_store:
        store = CatalogStore(milvus_uri or settings.resolved_milvus_uri, settings.milvus_token)
    step = update if incremental else rebuild
    try:
        report = step(items, client, store, catalog_key(path), keep, batch_size, progress)
    finally:
        client.close()
        if own_store:
            store.close()
    save_resolved_config(
        settings.home / "index-config.json", settings=settings,
        index={"catalog": str(path), "category_column": category_column, "batch_size": batch_size,
               "incremental": incremental, "keep": keep, "limit": limit, "report": report},
    )
    return report


def switch_back_catalog(milvus_uri: str | None = None, settings: Settings | None = None
                        ) -> tuple[str, str]:
    """The ``index --switch-back`` step: the collection live before this one, live again."""
    settings = settings or load_settings()
    store = CatalogStore(milvus_uri or settings.resolved_milvus_uri, settings.milvus_token)
    try:
        return switch_back(store)
    finally:
        store.close()
