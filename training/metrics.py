"""Retrieval and classification metrics on score matrices.

Ties are counted against the model: among equal scores the wrong items rank
first, so a model cannot score well by giving everything the same score,
and results do not depend on the order a search engine returns ties in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sorted_relevance(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per query, the gallery's relevance flags in ranked order (best score first)."""
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must be the "
                         "same (queries, gallery) shape")
    if not relevant.any(axis=1).all():
        raise ValueError("every query needs at least one relevant gallery item")
    # lexsort sorts by the last key first: score descending, then irrelevant first.
    order = np.lexsort((relevant, -scores), axis=1)
    return np.take_along_axis(relevant, order, axis=1)


def recall_at_k(ranked: np.ndarray, k: int) -> float:
    """Share of queries with a relevant item in the top ``k``."""
    return float(ranked[:, :k].any(axis=1).mean())


def precision_at_k(ranked: np.ndarray, k: int) -> float:
    """Mean share of relevant items among each query's top ``k``."""
    return float(ranked[:, :k].mean(axis=1).mean())


def mean_average_precision(ranked: np.ndarray) -> float:
    """Mean over queries of the precision at each relevant item's rank."""
    hits = np.cumsum(ranked, axis=1)
    positions = np.arange(1, ranked.shape[1] + 1)
    precision = np.where(ranked, hits / positions, 0.0)
    return float((precision.sum(axis=1) / ranked.sum(axis=1)).mean())


def top_k_accuracy(probabilities: np.ndarray, labels: Sequence[int], k: int) -> float:
    """Share of rows whose true label is among the ``k`` highest (ties count against)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    true = probabilities[np.arange(len(labels)), labels]
    better_or_tied = (probabilities >= true[:, None]).sum(axis=1) - 1
    return float((better_or_tied < k).mean())


def retrieval_report(ranked: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """recall@k for each k, and mAP."""
    report = {f"recall@{k}": recall_at_k(ranked, k) for k in ks}
    report["mAP"] = mean_average_precision(ranked)
    return report
