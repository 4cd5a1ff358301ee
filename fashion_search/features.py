"""What embedding a batch of photos gives, row by row, whoever computed it.

Kept apart from the gRPC client so in-process embedding (evaluation, the
match scale at the end of training) needs no Triton client library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Features:
    """Embeddings, colour descriptors and category probabilities of a batch of photos."""

    embeddings: np.ndarray
    colours: np.ndarray | None = None  # unit colour descriptors, when computed
    probabilities: np.ndarray | None = None  # in the model's label order, for a classifier
