"""Checkpoints that carry everything needed to rebuild and serve a model, and the rule
that picks which model a step uses.

A checkpoint holds the weights plus the backbone name, embedding size,
preprocessing contract, label map and the resolved training config, all as
plain data, so it loads with ``torch.load(weights_only=True)`` and export and
evaluation never guess how a model was trained.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from fashion_search.backbone import EmbeddingModel, create_backbone, native_size
from fashion_search.config import DEFAULT_BACKBONE, Settings
from fashion_search.errors import CheckpointError, RecipeError
from fashion_search.files import atomic_path
from fashion_search.preprocessing import PreprocessConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.pt"  # a finished training run's model
LAST_FILE = "last.pt"    # the latest epoch of a run, for --resume


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 over a module's names and tensors: equal digests, equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class LoadedModel:
    """A model ready for inference with the facts that travel with it."""

    model: EmbeddingModel
    backbone: str
    preprocessing: PreprocessConfig
    source: str
    config: dict[str, Any] = field(default_factory=dict)
    same_item: str = ""  # a street photo's match scale, fitted on held-out pairs (same_item.py)

    @property
    def labels(self) -> list[str]:
        """Category names in the classifier's order (empty without a classifier)."""
        return self.model.labels

    @cached_property
    def version(self) -> str:
        """Short stable name: backbone, source, and a digest of the weights."""
        return f"{self.backbone}-{self.source}-{weights_digest(self.model)[:8]}"


def save_checkpoint(path: Path, loaded: LoadedModel, extra: dict[str, Any] | None = None) -> Path:
    """Write atomically: a crash mid-save keeps the previous checkpoint."""
    payload = {
        "format_version": FORMAT_VERSION,
        "backbone": loaded.backbone,
        "embedding_dim": loaded.model.embedding_dim,
        "projection": not isinstance(loaded.model.projection, torch.nn.Identity),
        "preprocessing": loaded.preprocessing.to_json(),
        "labels": list(loaded.model.labels),
        "config": loaded.config,
        "state_dict": loaded.model.state_dict(),
        "same_item": loaded.same_item,
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


REQUIRED_KEYS = ("state_dict", "backbone", "preprocessing")


def read_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """The raw payload; only tensors and plain data are unpickled, never code."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        raise CheckpointError(f"{checkpoint}: a folder, not a checkpoint; give the .pt file "
                              "`fashion-search train` wrote")
    if not checkpoint.is_file():
        raise CheckpointError(f"{checkpoint}: no such checkpoint; train one with "
                              "`fashion-search train` or leave it out for the ImageNet model")
    try:
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch's loaders fail in many ways on stray files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if isinstance(err, pickle.UnpicklingError) and "Unpickler error:" in str(err):
            # torch's own first lines advise loading the file unsafely: not advice to pass on
            found = str(err).split("Unpickler error:", 1)[1].strip().splitlines() or ["-"]
            first = f"the safe loader, which never runs a file's code, refused it: {found[0]}"
        raise CheckpointError(f"{checkpoint}: not a readable fashion-search checkpoint "
                              f"({first[:200]})") from err
    missing = [key for key in REQUIRED_KEYS if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise CheckpointError(f"{checkpoint}: not a fashion-search checkpoint (no "
                              f"{', '.join(missing)})")
    return payload


def load_model(
    checkpoint: Path | None = None, backbone: str = DEFAULT_BACKBONE,
    weights: Path | None = None,
) -> LoadedModel:
    """The trained model in ``checkpoint``, else the untuned backbone (packaged or ``weights``)."""
    if checkpoint is None:
        model = EmbeddingModel(create_backbone(backbone, pretrained=True, weights=weights)).eval()
        return LoadedModel(model, backbone, PreprocessConfig(size=native_size(backbone)),
                           "weights" if weights else "imagenet")
    payload = read_checkpoint(checkpoint)
    dim = payload["embedding_dim"] if payload.get("projection") else None
    model = EmbeddingModel(create_backbone(payload["backbone"], pretrained=False), dim,
                           payload.get("labels", []))
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{checkpoint}: weights do not fit {payload['backbone']} "
                              f"({str(err).splitlines()[0]})") from err
    return LoadedModel(
        model.eval(), payload["backbone"],
        PreprocessConfig.from_json(payload["preprocessing"]), "finetuned",
        payload.get("config", {}), payload.get("same_item", ""),
    )


def trained_model_path(settings: Settings) -> Path:
    """Where ``fashion-search train`` leaves its model by default."""
    return settings.training_dir / MODEL_FILE


@dataclass(frozen=True)
class ModelChoice:
    """Which model a step uses: a checkpoint, or an untuned backbone."""

    checkpoint: Path | None = None
    backbone: str = DEFAULT_BACKBONE
    weights: Path | None = None

    def load(self) -> LoadedModel:
        return load_model(self.checkpoint, self.backbone, self.weights)

    def describe(self) -> str:
        if self.checkpoint is not None:
            return f"the trained model {self.checkpoint}"
        if self.weights is not None:
            return f"the untuned {self.backbone} with weights from {self.weights}"
        return f"the untuned ImageNet {self.backbone}; `fashion-search train` makes a trained one"


def choose_model(
    checkpoint: Path | None = None, untuned: bool = False, backbone: str | None = None,
    weights: Path | None = None, settings: Settings | None = None,
) -> ModelChoice:
    """The one rule every step follows: the checkpoint named, else the trained model
    when there is one, else the untuned backbone.

    ``untuned``, ``backbone`` or ``weights`` ask for an untuned backbone even
    when a trained model exists.
    """
    wants_untuned = untuned or backbone is not None or weights is not None
    if checkpoint is not None:
        if wants_untuned:
            raise RecipeError("a checkpoint already names its backbone and weights; give "
                              "--checkpoint or --untuned/--backbone/--weights, not both")
        return ModelChoice(Path(checkpoint))
    if not wants_untuned:
        trained = trained_model_path(settings or Settings())
        if trained.is_file():
            return ModelChoice(trained)
    return ModelChoice(None, backbone or DEFAULT_BACKBONE, Path(weights) if weights else None)
