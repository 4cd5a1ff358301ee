"""A model -> the served ONNX graph: the contract's tensor names, facts in its metadata."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from fashion_search import tensor_names as tc
from fashion_search.checkpoint import LoadedModel
from fashion_search.onnx_graph import export_module

log = logging.getLogger(__name__)

METRIC = "COSINE"


def output_names(loaded: LoadedModel) -> list[str]:
    """The embedding, plus category probabilities when the model has a classifier."""
    return [tc.EMBEDDING] + ([tc.CATEGORY_PROBS] if loaded.labels else [])


def export_onnx(loaded: LoadedModel, path: Path, opset: int = 18) -> Path:
    """Export with tensor names from the serving contract; metadata carries preprocessing."""
    metadata = {
        "preprocessing": loaded.preprocessing.to_json(),
        "model_version": loaded.version,
        "backbone": loaded.backbone,
        "embedding_dim": str(loaded.model.embedding_dim),
        "metric": METRIC,
        "labels": json.dumps(loaded.labels),
        "same_item": loaded.same_item,
    }
    example = torch.randn(2, *loaded.preprocessing.input_shape)
    export_module(loaded.model, example, path, tc.PIXELS, output_names(loaded), metadata, opset)
    log.info("exported %s (%s) to %s", loaded.version, loaded.backbone, path)
    return path
