"""Metric-learning losses from pytorch-metric-learning, chosen by name.

Each named recipe pairs a loss with the miner it works best with. Proxy
losses hold learnable proxies (one per class), so they need the class count
and are trained and checkpointed with the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from pytorch_metric_learning import losses, miners
from torch import nn

from fashion_search.errors import RecipeError


@dataclass
class MetricLoss:
    """A loss and its optional miner, called on (embeddings, labels)."""

    loss: nn.Module
    miner: miners.BaseMiner | None = None

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        tuples = self.miner(embeddings, labels) if self.miner is not None else None
        return self.loss(embeddings, labels, tuples)


def _multi_similarity(classes: int, dim: int) -> MetricLoss:
    return MetricLoss(losses.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5),
                      miners.MultiSimilarityMiner(epsilon=0.1))


def _triplet_hard(classes: int, dim: int) -> MetricLoss:
    return MetricLoss(losses.TripletMarginLoss(margin=0.2),
                      miners.TripletMarginMiner(margin=0.2, type_of_triplets="hard"))


def _proxy_anchor(classes: int, dim: int) -> MetricLoss:
    return MetricLoss(losses.ProxyAnchorLoss(num_classes=classes, embedding_size=dim,
                                             margin=0.1, alpha=32))


LOSSES: dict[str, Callable[[int, int], MetricLoss]] = {
    "multi_similarity": _multi_similarity,
    "triplet_hard": _triplet_hard,
    "proxy_anchor": _proxy_anchor,
}


def make_loss(name: str, classes: int, dim: int) -> MetricLoss:
    """The named loss for ``classes`` labels and ``dim``-sized embeddings."""
    if name not in LOSSES:
        raise RecipeError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name](classes, dim)
