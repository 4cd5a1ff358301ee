"""What a catalogue collection holds: its fields, its description, its rows, its name.

A collection's schema follows the catalogue: besides the vector, category and
image path, every catalogue column is a field of its own, so any of them can
filter a search. The description records the model, catalogue and run that
filled it, so a reader can tell what is live without a side file.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient

from fashion_search import colour
from fashion_search.client import ModelInfo
from fashion_search.vectordb.vectors import (
    COLOUR_SCALE,
    blended_score,
    collection_metric,
    query_vector,
    stored_vector,
)

DEFAULT_ALIAS = "catalog"
LOOK_ALIKE = "match"  # as close as this share of the catalogue's own near neighbours
SAME_ITEM = "same item"  # the chance it is the product in the photo (same_item.py)
MATCH_MEANING = {LOOK_ALIKE: "as close as this share of the catalogue's own nearest neighbours",
                 SAME_ITEM: "the chance it is the product in the photo (fitted on street "
                            "photos of products they were not trained on)"}
VECTOR_FIELD = "embedding"
PREFIX = "items_"
MAX_ID = 512
MAX_TEXT = 1024
MAX_PATH = 4 * MAX_TEXT
MAX_TOP_K = 16_384  # Milvus's most results for one search or query
HNSW = {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}}
# a server collection's partition-key partitions (2.3's default of 64 slows unfiltered search)
SERVER_OPTIONS = {"num_partitions": 16}


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    score: float
    category: str
    image_path: str
    labels: dict[str, str] = field(default_factory=dict)
    match: float | None = None  # calibrated score, 0..1; None for a catalogue too small to scale
    reading: str = ""  # what ``match`` means: LOOK_ALIKE or SAME_ITEM


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection holds, kept in its description."""

    name: str
    model_version: str
    dim: int
    metric: str = "COSINE"
    alias: str = DEFAULT_ALIAS
    catalog: str = ""
    run: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # catalogue column -> field
    colour: str = ""  # the colour descriptor stored beside each embedding, "" for none
    colour_dim: int = 0
    colour_scale: float = 1.0  # the colour part's scale in a stored vector (vectors.py)

    @property
    def vector_dim(self) -> int:
        return self.dim + self.colour_dim

    def query(self, embedding: np.ndarray, colour: np.ndarray | None = None,
              weight: float = 0.0) -> np.ndarray:
        """The search vector for this collection's layout (see vectors.py)."""
        return query_vector(embedding, colour, weight, self.colour_dim, self.colour_scale)

    def score(self, distance: float, weight: float = 0.0) -> float:
        """Milvus' distance for :meth:`query` -> the weighted mean similarity."""
        return blended_score(distance, weight, self.colour_dim, self.metric, self.colour_scale)

    @classmethod
    def for_model(cls, name: str, model: ModelInfo, alias: str = DEFAULT_ALIAS,
                  catalog: str = "", run: str = "", columns: dict[str, str] | None = None
                  ) -> CollectionInfo:
        """A collection for what the served model gives: embedding and, if any, colour."""
        return cls(name, model.version, model.dim, collection_metric(model.metric), alias,
                   catalog, run, dict(columns or {}), model.colour,
                   colour.DIM if model.colour else 0, COLOUR_SCALE if model.colour else 1.0)


@dataclass
class Row:
    id: str
    embedding: np.ndarray
    category: str
    image_path: str
    model_version: str
    content_hash: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    colour: np.ndarray | None = None


def build_schema(info: CollectionInfo, partition_key: bool) -> CollectionSchema:
    """Fields for ``info``; with ``partition_key`` a category filter reads one partition."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                        description=json.dumps(asdict(info)))
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
    schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=info.vector_dim)
    schema.add_field("category", DataType.VARCHAR, max_length=MAX_TEXT,
                     is_partition_key=partition_key)
    schema.add_field("image_path", DataType.VARCHAR, max_length=MAX_PATH)
    schema.add_field("model_version", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("labels", DataType.JSON)
    for name in info.columns.values():
        schema.add_field(name, DataType.VARCHAR, max_length=MAX_TEXT)
    return schema


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` bytes of UTF-8 (Milvus counts bytes), never mid-character."""
    return text.encode()[:limit].decode(errors="ignore")


def too_long(item_id: str, image_path: str) -> str | None:
    """Why a row could not be stored whole (its id or path over Milvus's limits), or None."""
    for what, text, limit in (("id", item_id, MAX_ID), ("path", image_path, MAX_PATH)):
        if len(text.encode()) > limit:
            return f"its {what} is {len(text.encode())} bytes long, over {limit}; shorten it"
    return None


def to_record(row: Row, info: CollectionInfo) -> dict:
    """A row as a collection of ``info`` takes it."""
    vector = stored_vector(row.embedding, row.colour, info.colour_dim, info.colour_scale)
    record = {"id": row.id, VECTOR_FIELD: vector.tolist(),
              "category": clip(row.category), "image_path": row.image_path,
              "model_version": row.model_version, "content_hash": row.content_hash,
              "labels": row.labels}
    for column, name in info.columns.items():
        record[name] = clip(str(row.labels.get(column, "")))
    return record


def collection_name(model_version: str, run: str = "") -> str:
    name = PREFIX + re.sub(r"[^0-9A-Za-z_]", "_", model_version)
    return f"{name}__{run}" if run else name


def new_run_id() -> str:
    """Sortable by time, unique across processes."""
    now = time.time()
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(now)) + f"{int(now * 1e6) % 1_000_000:06d}"
    return f"{stamp}_{np.random.default_rng().bytes(2).hex()}"


