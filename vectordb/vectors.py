"""One vector field for two features: the CNN embedding and the colour descriptor.

A stored vector is ``[embedding, a * colour]``, both parts unit length before
the scale ``a``. A query is ``[embedding, (w / a) * colour]``, so its inner
product with a stored vector is ``s_embedding + w * s_colour``: the user's
colour weight applies at query time,
in one search, on Milvus Lite and on any server version (a second vector field
with a weighted hybrid search needs Milvus 2.4+, and would rank the same
sum). With the cosine metric, Milvus divides by the constant norms; the score
reported is the weighted mean ``(s_embedding + w * s_colour) / (1 + w)``, which
is the plain embedding similarity at ``w = 0``.

Why the scale: an ANN index (IVF clusters, an HNSW graph) is built from the
distances between stored vectors, ``s_embedding + a^2 * s_colour``. With
``a^2`` equal to the default weight, the index's geometry is the default
query's, and its recall holds; with ``a = 1`` the colour half of each vector
pulled the clusters away from what a query asks (IVF recall@10 fell to 0.12).
Collections made before the scale record ``a = 1`` and keep working.

Why the inner product: both parts are unit length (normalised here), so every
stored vector has the same norm and the inner product ranks as the cosine
does, without Milvus normalising each row at every search (a quarter of a
10,000-row Milvus Lite search). Collections made with the cosine metric keep
it and keep working.
"""

from __future__ import annotations

import math

import numpy as np

from fashion_search import colour as colour_feature
from fashion_search.errors import InvalidRequest

COLOUR_SCALE = math.sqrt(colour_feature.DEFAULT_WEIGHT)  # ``a`` above, for new collections
INNER_PRODUCT = "IP"


def collection_metric(model_metric: str) -> str:
    """The Milvus metric a new collection searches with, for the model's own metric."""
    return INNER_PRODUCT if model_metric.upper() == "COSINE" else model_metric


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def stored_vector(embedding: np.ndarray, colour: np.ndarray | None, colour_dim: int,
                  scale: float = 1.0) -> np.ndarray:
    """What a row's vector field holds."""
    embedding = _unit(embedding)
    if not colour_dim:
        return embedding
    if colour is None or np.asarray(colour).size != colour_dim:
        raise InvalidRequest(f"this collection stores a {colour_dim}-value colour descriptor "
                             f"beside each embedding; the row has none")
    return np.concatenate([embedding, scale * _unit(colour)])


def query_vector(embedding: np.ndarray, colour: np.ndarray | None, weight: float,
                 colour_dim: int, scale: float = 1.0) -> np.ndarray:
    """The search vector for ``weight``; without a colour it searches by embedding alone."""
    embedding = _unit(embedding)
    if not colour_dim:
        return embedding
    if colour is None or weight == 0:
        return np.concatenate([embedding, np.zeros(colour_dim, np.float32)])
    return np.concatenate([embedding, weight / scale * _unit(colour)])


def effective_weight(colour: np.ndarray | None, weight: float, colour_dim: int) -> float:
    """The weight a search really applies (0 when either side has no colour)."""
    return float(weight) if colour_dim and colour is not None else 0.0


def blended_score(distance: float, weight: float, colour_dim: int, metric: str,
                  scale: float = 1.0) -> float:
    """Milvus' distance for a query of :func:`query_vector` -> the weighted mean similarity."""
    metric = metric.upper()
    if not colour_dim or metric not in ("COSINE", INNER_PRODUCT):
        return float(distance)
    if metric == INNER_PRODUCT:  # s_e + w s_c
        return float(distance) / (1.0 + weight)
    # cosine = (s_e + w s_c) / (|stored| |query|), |stored| = sqrt(1 + a^2),
    # |query| = sqrt(1 + (w / a)^2)
    stored_norm = math.sqrt(1.0 + scale * scale)
    query_norm = math.sqrt(1.0 + (weight / scale) ** 2)
    return float(distance) * stored_norm * query_norm / (1.0 + weight)
