"""The catalogue in Milvus: one collection per indexing run, behind an alias.

A collection's dimension and metric come from the model (vectors.py); it
records (in its description) the model version, the catalogue and the run that
filled it, and each row the model version that embedded it. An index run fills
a new collection and then points the alias at it, so searches never see a mix
of two catalogues or two models. A Milvus server has native aliases; Milvus Lite
has none, so there the pointer is a row in a small collection of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from fashion_search.colour import check_weight
from fashion_search.config import ENV_PREFIX, load_settings
from fashion_search.errors import (
    CatalogNotIndexed,
    CollectionMismatch,
    InvalidRequest,
    MilvusFailure,
    MilvusUnavailable,
    UnknownCategory,
    clipped,
    shown,
)
from fashion_search.vectordb.bookkeeping import POINTER_COLLECTION, STRONG, Bookkeeping
from fashion_search.vectordb.calibration import NEIGHBOURS, ScoreScale, spread_sample
from fashion_search.vectordb.filters import expression, quote, resolve_where
from fashion_search.vectordb.lock import LiteFileLock
from fashion_search.vectordb.milvus_calls import GuardedClient
from fashion_search.vectordb.schema import (
    DEFAULT_ALIAS,
    HNSW,
    LOOK_ALIKE,
    MAX_TOP_K,
    PREFIX,
    SERVER_OPTIONS,
    VECTOR_FIELD,
    CollectionInfo,
    Hit,
    Row,
    build_schema,
    to_record,
)
from fashion_search.vectordb.vectors import effective_weight

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT_S = 5.0  # how long clean-up after a failure waits on Milvus (it may be the failure)
POINTER_TTL_S = 5.0  # how long a search trusts its idea of the alias
WRITE_BATCH = 1000  # Milvus Lite slows badly above ~2k rows per call
HNSW_SEARCH = {"params": {"ef": 128}}


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library logger for one call whose failure is expected and handled."""
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        target.setLevel(level)


class CatalogStore(Bookkeeping):
    """Milvus Lite (a file path) or a Milvus server (an ``http://`` URI)."""

    def __init__(self, uri: str, token: str = "", alias: str = DEFAULT_ALIAS,
                 timeout_s: float | None = None):
        self.uri = uri
        self.timeout_s = load_settings().milvus_timeout_s if timeout_s is None else timeout_s
        self.alias = alias
        self.is_lite = "://" not in uri
        self._lock = LiteFileLock(Path(uri).expanduser()) if self.is_lite else None
        if self._lock:
            self._lock.acquire()  # names the other process instead of Lite's bare failure
        try:
            with warnings.catch_warnings():
                # milvus-lite 2.5 imports pkg_resources, which warns on every start.
                warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
                # pymilvus shares one connection among clients of the same URI, and closing
                # any of them closes it for all: each store gets a connection of its own.
                self.client = GuardedClient(MilvusClient(
                    uri=uri, token=token, alias=f"fashion-search-{uuid.uuid4().hex}",
                    timeout=self.timeout_s), uri, self.timeout_s)
        except MilvusException as err:
            self._release()
            raise MilvusUnavailable(
                f"cannot open the Milvus catalogue at {uri} ({err.message}); check "
                f"{ENV_PREFIX}MILVUS_URI, or leave it unset to use a local Milvus Lite file"
            ) from err
        self._values: tuple[str, dict[str, list[str]]] | None = None  # (collection, field values)
        self._current: tuple[str, float] | None = None
        self._infos: dict[str, CollectionInfo] = {}
        self._scales: dict[str, ScoreScale | None] = {}

    # --- collections -------------------------------------------------------
    def create_collection(self, info: CollectionInfo) -> str:
        """A new, empty collection for ``info``; its schema has a field per catalogue column."""
        if self.client.has_collection(info.name):
            got = self.info(info.name)
            if (got.dim, got.colour_dim) != (info.dim, info.colour_dim):
                raise CollectionMismatch(
                    f"collection {info.name} in {self.uri} holds {got.dim}-d embeddings and "
                    f"{got.colour_dim} colour values but the model gives {info.dim} and "
                    f"{info.colour_dim}; drop the collection or use another "
                    f"{ENV_PREFIX}MILVUS_URI")
            self.client.load_collection(info.name)
            return info.name
        schema = build_schema(info, partition_key=not self.is_lite)
        index = self.client.prepare_index_params()
        spec, options = ({"index_type": "FLAT"}, {}) if self.is_lite else (HNSW, SERVER_OPTIONS)
        index.add_index(VECTOR_FIELD, metric_type=info.metric, **spec)
        self.client.create_collection(info.name, schema=schema, index_params=index, **options)
        self._infos[info.name] = info
        log.info("created collection %s (dim %d, %s)", info.name, info.dim, info.metric)
        return info.name

    def info(self, name: str) -> CollectionInfo:
        if name not in self._infos:
            described = self.client.describe_collection(name)
            try:
                data = json.loads(described.get("description") or "{}")
                self._infos[name] = CollectionInfo(**data)
            except (json.JSONDecodeError, TypeError) as err:
                raise CollectionMismatch(
                    f"collection {name} in {self.uri} does not say what it holds (made by an "
                    "earlier version or another program); index the catalogue again with "
                    "`fashion-search index`") from err
        return self._infos[name]

    def collections(self) -> list[CollectionInfo]:
        """This alias's collections, oldest run first."""
        found = []
        for name in self.client.list_collections():
            if not name.startswith(PREFIX):
                continue
            try:
                info = self.info(name)
            except CollectionMismatch:
                continue  # not ours to prune
            if info.alias == self.alias:
                found.append(info)
        return sorted(found, key=lambda i: (i.run, i.name))

    def drop(self, name: str) -> None:
        self.client.drop_collection(name)
        self._infos.pop(name, None)
        self.forget_run(name)
        log.info("dropped collection %s", name)

    def cleanup_calls(self) -> contextlib.AbstractContextManager[None]:
        """Calls inside wait briefly: clean-up after a failure must not hang on a gone Milvus."""
        return self.client.waiting_at_most(CLEANUP_TIMEOUT_S)

    # --- the alias -----------------------------------------------------------
    def point_alias(self, name: str) -> None:
        """Make searches through the alias use ``name`` from now on, in one step."""
        if self.is_lite:
            self._small_collection(POINTER_COLLECTION, "alias", ["collection"])
            self.client.upsert(POINTER_COLLECTION,
                               [{"alias": self.alias, "collection": name, "unused": [0.0, 0.0]}])
        elif self._native_target() is None:
            self.client.create_alias(name, self.alias)
        else:
            self.client.alter_alias(name, self.alias)
        self.refresh()
        log.info("alias %s -> %s", self.alias, name)

    def refresh(self) -> None:
        """Forget what this process cached about the live collection."""
        self._values = None
        self._current = None

    def _native_target(self) -> str | None:
        try:
            with _quiet("pymilvus"):  # a missing alias is an answer here, not an error
                return self.client.describe_alias(self.alias)["collection_name"]
        except MilvusFailure:
            return None

    def _pointer_target(self) -> str | None:
        if self.is_lite:
            if not self.client.has_collection(POINTER_COLLECTION):
                return None
            self.client.load_collection(POINTER_COLLECTION)
            rows = self.client.query(POINTER_COLLECTION, filter=f"alias == {quote(self.alias)}",
                                     output_fields=["collection"])
            return rows[0]["collection"] if rows else None
        return self._native_target()

    def current_collection(self) -> str:
        """The collection behind the alias, re-read at most every few seconds."""
        now = time.monotonic()
        if self._current and now - self._current[1] < POINTER_TTL_S:
            return self._current[0]
        name = self._pointer_target()
        if name and self.client.has_collection(name):
            if not self._current or self._current[0] != name:
                self.client.load_collection(name)
            self._current = (name, now)
            return name
        raise CatalogNotIndexed(
            f"the catalogue at {self.uri} has not been indexed yet; "
            "run `fashion-search index --catalog PATH` first"
        )

    # --- rows ----------------------------------------------------------------
    def insert(self, name: str, rows: Sequence[Row]) -> int:
        """Add rows whose ids the collection does not hold yet.

        Rows go in by insert, not upsert: the Milvus 2.3 server files upserted
        rows under the wrong partition key, and category filters then miss them.
        """
        info = self.info(name)
        records = [to_record(row, info) for row in rows]
        for start in range(0, len(records), WRITE_BATCH):
            self.client.insert(name, records[start:start + WRITE_BATCH])
        return len(records)

    def replace(self, name: str, rows: Sequence[Row]) -> int:
        """Insert rows, first deleting any rows with the same ids."""
        self.delete(name, [row.id for row in rows])
        return self.insert(name, rows)

    def delete(self, name: str, ids: Sequence[str]) -> int:
        for start in range(0, len(ids), WRITE_BATCH):
            chunk = ids[start:start + WRITE_BATCH]
            self.client.delete(name, filter=f"id in [{', '.join(quote(i) for i in chunk)}]")
        return len(ids)

    def scan(self, name: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row's ``fields``, in batches (no server-side snapshot on Lite; pymilvus copes)."""
        # The 2.3 server gives the iterator no snapshot time; a strong read first makes
        # every earlier write visible to it.
        self.count(name)
        with _quiet("pymilvus.orm.iterator"):
            iterator = self.client.query_iterator(name, batch_size=2000, output_fields=fields,
                                                  **STRONG)
            while batch := iterator.next():
                yield from batch
            iterator.close()

    def stored(self, name: str) -> dict[str, tuple[str, str]]:
        """Item id -> (content hash, image path) of every row."""
        return {row["id"]: (row["content_hash"], row["image_path"])
                for row in self.scan(name, ["content_hash", "image_path"])}

    def move(self, name: str, paths: Mapping[str, str]) -> int:
        """Point rows at their photos' new paths (a moved or renamed catalogue), keeping
        their vectors: the photos did not change, so nothing is embedded again."""
        ids = sorted(paths)
        for start in range(0, len(ids), WRITE_BATCH):
            chunk = ids[start:start + WRITE_BATCH]
            rows = self.client.query(name, filter=f"id in [{', '.join(map(quote, chunk))}]",
                                     output_fields=["*"], **STRONG)
            for row in rows:
                row["image_path"] = paths[row["id"]]
            self.delete(name, chunk)
            self.client.insert(name, rows)
        return len(ids)

    def count(self, name: str | None = None) -> int:
        name = name or self.current_collection()
        result = self.client.query(name, filter="", output_fields=["count(*)"], **STRONG)
        return int(result[0]["count(*)"])

    def field_values(self) -> dict[str, list[str]]:
        """Every value of the category and of each label field in the current collection."""
        name = self.current_collection()
        if self._values is None or self._values[0] != name:
            fields = ["category", *self.info(name).columns.values()]
            found: dict[str, set[str]] = {f: set() for f in fields}
            for row in self.scan(name, fields):
                for f in fields:
                    found[f].add(row[f])
            self._values = (name, {f: sorted(v - {""}) for f, v in found.items()})
        return self._values[1]

    def categories(self) -> list[str]:
        """Every category in the current collection, sorted."""
        return self.field_values()["category"]

    def labels(self) -> dict[str, list[str]]:
        """Catalogue column -> its values, for every label a search can filter on."""
        values = self.field_values()
        columns = self.info(self.current_collection()).columns
        return {column: values[f] for column, f in columns.items()}

    def example_paths(self, count: int) -> list[str]:
        """Image paths of one item from each of the first ``count`` categories."""
        name = self.current_collection()
        paths = []
        for category in self.categories()[:count]:
            rows = self.client.query(name, filter=expression(category),
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
        raise UnknownCategory(f"unknown category {shown(category)}; choose one of: "
                              f"{', '.join(clipped(c) for c in known)}")

    def search(self, embedding: np.ndarray, k: int = 10, category: str | None = None,
               where: Mapping[str, Sequence[str]] | None = None,
               colour: np.ndarray | None = None, colour_weight: float = 0.0) -> list[Hit]:
        """Top ``k`` items by similarity, optionally within a category and label values.

        With the query's ``colour`` descriptor, ``colour_weight`` (0..1) weighs
        colour similarity against the embedding's; each hit's ``match`` is its
        calibrated score.
        """
        if not 1 <= k <= MAX_TOP_K:
            raise InvalidRequest(f"the number of results must be 1 to {MAX_TOP_K:,} (Milvus "
                                 f"returns at most {MAX_TOP_K:,} per search), got {k:,}")
        weight = check_weight(colour_weight)
        name = self.current_collection()
        info = self.info(name)
        category = self.resolve_category(category) if category else None
        checked = resolve_where(where, info.columns, self.field_values()) if where else None
        weight = effective_weight(colour, weight, info.colour_dim)
        query = info.query(embedding, colour, weight)
        found = self._search(name, [query], k, expression(category, checked))[0]
        scale = self.score_scale(name)
        hits = []
        for r in found:
            score = info.score(r["distance"], weight)
            hits.append(Hit(str(r["id"]), score, r["entity"]["category"],
                            r["entity"]["image_path"], r["entity"].get("labels") or {},
                            scale(score) if scale else None, LOOK_ALIKE if scale else ""))
        return hits

    def _search(self, name: str, queries: Sequence[np.ndarray], k: int, filter: str = ""
                ) -> list[list[dict]]:
        return self.client.search(
            name, [np.asarray(q, dtype=np.float32).tolist() for q in queries], limit=k,
            filter=filter, output_fields=["category", "image_path", "labels"],
            search_params={} if self.is_lite else HNSW_SEARCH,
            consistency_level="Session",  # a writer reads its own writes; others may lag a little
        )

    def score_scale(self, name: str | None = None) -> ScoreScale | None:
        """The collection's calibration, measured on first use and kept (see calibration.py)."""
        name = name or self.current_collection()
        if name not in self._scales:
            info = self.info(name)
            ids = [row["id"] for row in self.client.query(name, filter="", output_fields=["id"],
                                                           limit=MAX_TOP_K, **STRONG)]
            sample = spread_sample(sorted(ids))
            scores: list[float] = []
            if len(sample) > 1:
                rows = self.client.query(name, filter=f"id in [{', '.join(map(quote, sample))}]",
                                         output_fields=[VECTOR_FIELD], **STRONG)
                queries = [info.query(np.asarray(r[VECTOR_FIELD][:info.dim])) for r in rows]
                found = self._search(name, queries, min(NEIGHBOURS + 1, len(ids)))
                for row, hits in zip(rows, found):
                    scores.extend(info.score(h["distance"])
                                  for h in hits if str(h["id"]) != str(row["id"]))
            self._scales[name] = ScoreScale.fit(np.asarray(scores))
        return self._scales[name]

    def _release(self) -> None:
        if self._lock:
            self._lock.release(on_last=self._stop_lite)

    def _stop_lite(self) -> None:
        """Stop this process's Milvus Lite server for the file, which otherwise keeps it
        open (and other processes out) until this process exits."""
        from milvus_lite.server_manager import server_manager_instance

        if str(Path(self.uri).expanduser().resolve()) in server_manager_instance._servers:
            server_manager_instance.release_server(str(Path(self.uri).expanduser()))

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self._release()
