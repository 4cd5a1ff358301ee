"""A trained model's match scale for street photos, fitted on its validation pairs.

Fitted on what is served: the exported graph and the server's colour
descriptor, through the same in-process path evaluation uses, so the chance a
shopper reads belongs to the scores the catalogue search returns. The pairs
are the validation pairs (never the unseen ones), searched against all the
products of their folder, trained ones included.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

import numpy as np

from fashion_search import colour
from fashion_search.checkpoint import LoadedModel, load_model, read_checkpoint, save_checkpoint
from fashion_search.config import Settings, load_settings
from fashion_search.errors import RecipeError
from fashion_search.export.embedder import OnnxEmbedder
from fashion_search.same_item import SameItemScale, fit_same_item
from fashion_search.training.config import TrainConfig
from fashion_search.training.data import TrainingData, load_training_data
from fashion_search.training.plots import plot_match_scale

log = logging.getLogger(__name__)


def fit_match_scale(loaded: LoadedModel, data: TrainingData, progress: bool = True
                    ) -> SameItemScale | None:
    """The scale on ``data``'s validation pairs; None when there are none."""
    if not data.queries:
        log.info("no validation pairs: the model carries no street photo match scale")
        return None
    embedder = OnnxEmbedder(loaded)
    try:
        queries = embedder.features(data.queries, "match scale: street photos", progress)
        gallery = embedder.features(data.gallery, "match scale: product photos", progress)
    finally:
        embedder.close()
    scale = fit_same_item(queries.embeddings, gallery.embeddings, np.asarray(data.matches),
                          queries.colours, gallery.colours)
    log.info("street photo match scale fitted on %d validation pairs against %d products",
             len(data.queries), len(data.gallery))
    return scale


def recipe_of(checkpoint: Path) -> TrainConfig:
    """The recipe a checkpoint was trained with (defaults for settings it predates)."""
    saved = read_checkpoint(checkpoint).get("config", {})
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in saved.items() if k in known})


def calibrate_checkpoint(checkpoint: Path, settings: Settings | None = None,
                         progress: bool = True) -> SameItemScale:
    """Fit the scale for a trained model and write it into its checkpoint (atomically)."""
    settings = settings or load_settings()
    checkpoint = Path(checkpoint)
    payload = read_checkpoint(checkpoint)
    data = load_training_data(recipe_of(checkpoint), settings.data_dir)
    loaded = load_model(checkpoint)
    scale = fit_match_scale(loaded, data, progress)
    if scale is None:
        raise RecipeError(f"{checkpoint}: its recipe holds no validation pairs to fit a match "
                          "scale on; train with --train-pairs and --validation-pairs")
    loaded.same_item = scale.to_json()
    save_checkpoint(checkpoint, loaded, {"history": payload.get("history", [])})
    plot_match_scale(scale, colour.DEFAULT_WEIGHT, checkpoint.parent / "match-scale.png")
    return scale
