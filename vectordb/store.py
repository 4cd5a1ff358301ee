"""The catalogue in Milvus: one collection per model version, behind an alias.

The collection's dimension and metric come from the model, and each row says
which model version embedded it. A re-index fills a new collection and then
points the alias at it, so searches never see a mix of two models. Milvus
Lite has no aliases, so the pointer is also kept in a small collection that
works on Lite and on a server alike.
"""

from __future__ import annotations

import json
import logging
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from fashion_search.config import ENV_PREFIX
from fashion_search.errors import (
    CatalogNotIndexed,
    CollectionMismatch,
    InvalidRequest,
    MilvusUnavailable,
    UnknownCategory,
)

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "catalog"
VECTOR_FIELD = "embedding"
POINTER_COLLECTION = "fashion_search_aliases"
MAX_ID = 512
MAX_TEXT = 1024
POINTER_TTL_S = 5.0  # how long a search trusts its idea of the alias
UPSERT_BATCH = 1000  # Milvus Lite slows badly above ~2k rows per call


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    category: str
    image_path: str
    labels: dict[str, str] = field(default_factory=dict)


def collection_name(model_version: str) -> str:
    return "items_" + re.sub(r"[^0-9A-Za-z_]", "_", model_version)


def category_filter(category: str | None) -> str:
    """A Milvus expression from a parameter; the value is quoted, never pasted."""
    if not category:
        return ""
    return f"category == {json.dumps(category, ensure_ascii=False)}"


class CatalogStore:
    """Milvus Lite (a file path) or a Milvus server (an ``http://`` URI)."""

    def __init__(self, uri: str, token: str = "", alias: str = DEFAULT_ALIAS):
        self.uri = uri
        self.alias = alias
        if "://" not in uri:
            Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                # milvus-lite 2.5 imports pkg_resources, which warns on every start.
                warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
                self.client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        except MilvusException as err:
            raise MilvusUnavailable(
                f"cannot open the Milvus catalogue at {uri} ({err.message}); check "
                f"{ENV_PREFIX}MILVUS_URI, or leave it unset to use a local Milvus Lite file"
            ) from err
        self._categories: list[str] | None = None
        self._current: tuple[str, float] | None = None

    # --- collections -------------------------------------------------------
    def ensure_collection(self, model_version: str, dim: int, metric: str = "COSINE") -> str:
        """Create the collection for this model version if it does not exist."""
        name = collection_name(model_version)
        if self.client.has_collection(name):
            got = self.dimension(name)
            if got != dim:
                raise CollectionMismatch(
                    f"collection {name} in {self.uri} holds {got}-d vectors but the model gives "
                    f"{dim}-d ones; drop the collection or use another {ENV_PREFIX}MILVUS_URI")
            self.client.load_collection(name)
            return name
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("category", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("image_path", DataType.VARCHAR, max_length=MAX_TEXT * 4)
        schema.add_field("model_version", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("labels", DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index(VECTOR_FIELD, index_type="FLAT", metric_type=metric)
        self.client.create_collection(name, schema=schema, index_params=index)
        log.info("created collection %s (dim %d, %s)", name, dim, metric)
        return name

    def dimension(self, name: str) -> int:
        for spec in self.client.describe_collection(name)["fields"]:
            if spec["name"] == VECTOR_FIELD:
                return int(spec["params"]["dim"])
        raise CollectionMismatch(f"collection {name} in {self.uri} has no {VECTOR_FIELD} field; "
                                 "it was not made by fashion-search: use another collection")

    def _ensure_pointer(self) -> None:
        if self.client.has_collection(POINTER_COLLECTION):
            self.client.load_collection(POINTER_COLLECTION)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("alias", DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("collection", DataType.VARCHAR, max_length=256)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
        index = self.client.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="L2")
        self.client.create_collection(POINTER_COLLECTION, schema=schema, index_params=index)

    def point_alias(self, name: str) -> None:
        """Make searches through the alias use ``name`` from now on."""
        self._ensure_pointer()
        self.client.upsert(POINTER_COLLECTION,
                           [{"alias": self.alias, "collection": name, "unused": [0.0, 0.0]}])
        self._categories = None
        self._current = None
        log.info("alias %s -> %s", self.alias, name)

    def current_collection(self) -> str:
        """The collection behind the alias, re-read at most every few seconds."""
        now = time.monotonic()
        if self._current and now - self._current[1] < POINTER_TTL_S:
            return self._current[0]
        if self.client.has_collection(POINTER_COLLECTION):
            self.client.load_collection(POINTER_COLLECTION)
            rows = self.client.query(POINTER_COLLECTION,
                                     filter=f"alias == {json.dumps(self.alias)}",
                                     output_fields=["collection"])
            if rows and self.client.has_collection(rows[0]["collection"]):
                name = rows[0]["collection"]
                if not self._current or self._current[0] != name:
                    self.client.load_collection(name)
                    self._categories = None
                self._current = (name, now)
                return name
        raise CatalogNotIndexed(
            f"the catalogue at {self.uri} has not been indexed yet; "
            "run `fashion-search index --catalog PATH` first"
        )

    # --- rows ----------------------------------------------------------------
    def upsert(self, name: str, ids: Sequence[str], embeddings: np.ndarray,
               categories: Sequence[str], image_paths: Sequence[str],
               labels: Sequence[dict], model_version: str) -> int:
        rows = [
            {"id": i, VECTOR_FIELD: e.astype(np.float32).tolist(), "category": c,
             "image_path": p, "model_version": model_version, "labels": lab}
            for i, e, c, p, lab in zip(ids, embeddings, categories, image_paths, labels)
        ]
        for start in range(0, len(rows), UPSERT_BATCH):
            self.client.upsert(name, rows[start:start + UPSERT_BATCH])
        return len(rows)

    def count(self, name: str | None = None) -> int:
        name = name or self.current_collection()
        result = self.client.query(name, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def categories(self) -> list[str]:
        """Every category in the current collection, sorted."""
        if self._categories is None:
            name = self.current_collection()
            found: set[str] = set()
            # Milvus Lite has no server-side snapshot for iterators; pymilvus warns and copes.
            iterator_log = logging.getLogger("pymilvus.orm.iterator")
            level = iterator_log.level
            iterator_log.setLevel(logging.ERROR)
            try:
                iterator = self.client.query_iterator(name, batch_size=2000,
                                                      output_fields=["category"])
                while batch := iterator.next():
                    found.update(row["category"] for row in batch)
                iterator.close()
            finally:
                iterator_log.setLevel(level)
            self._categories = sorted(found)
        return self._categories

    def example_paths(self, count: int) -> list[str]:
        """Image paths of one item from each of the first ``count`` categories."""
        name = self.current_collection()
        paths = []
        for category in self.categories()[:count]:
            rows = self.client.query(name, filter=category_filter(category),
                                     output_fields=["image_path"], limit=1)
            paths.extend(row["image_path"] for row in rows)
        return paths

    def resolve_category(self, category: str) -> str:
        """The catalogue's spelling of ``category``, matched ignoring case."""
        known = self.categories()
        if category in known:
            return category
        folded = [c for c in known if c.casefold() == category.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        raise UnknownCategory(f"unknown category {category!r}; choose one of: {', '.join(known)}")

    def search(self, embedding: np.ndarray, k: int = 10, category: str | None = None) -> list[Hit]:
        """Top ``k`` items by similarity, optionally only within ``category``."""
        if k < 1:
            raise InvalidRequest(f"the number of results must be at least 1, got {k}")
        name = self.current_collection()
        category = self.resolve_category(category) if category else None
        result = self.client.search(
            name, [np.asarray(embedding, dtype=np.float32).tolist()], limit=k,
            filter=category_filter(category),
            output_fields=["category", "image_path", "labels"],
        )
        return [
            Hit(str(r["id"]), float(r["distance"]), r["entity"]["category"],
                r["entity"]["image_path"], r["entity"].get("labels") or {})
            for r in result[0]
        ]

    def close(self) -> None:
        self.client.close()
