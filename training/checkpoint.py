"""Checkpoints that carry everything needed to rebuild and serve a model.

A checkpoint holds the weights plus the backbone name, embedding size,
preprocessing contract, label map and the resolved training config, so export
and evaluation never guess how a model was trained.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from fashion_search.preprocessing import PreprocessConfig
from fashion_search.training.backbone import EmbeddingModel, create_backbone

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


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
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """The raw payload, with a clear error for a missing or foreign file."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: no such checkpoint; train one with "
                                "`fashion-search train` or leave it out for the ImageNet model")
    payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{checkpoint}: not a fashion-search checkpoint (no state_dict)")
    return payload


def load_model(
    checkpoint: Path | None = None, backbone: str = "efficientnet_lite0",
    weights: Path | None = None,
) -> LoadedModel:
    """The trained model in ``checkpoint``, else the untuned backbone (packaged or ``weights``)."""
    if checkpoint is None:
        model = EmbeddingModel(create_backbone(backbone, pretrained=True, weights=weights)).eval()
        return LoadedModel(model, backbone, PreprocessConfig(),
                           "weights" if weights else "imagenet")
    payload = read_checkpoint(checkpoint)
    dim = payload["embedding_dim"] if payload.get("projection") else None
    model = EmbeddingModel(create_backbone(payload["backbone"], pretrained=False), dim,
                           payload.get("labels", []))
    model.load_state_dict(payload["state_dict"], strict=True)
    return LoadedModel(
        model.eval(), payload["backbone"],
        PreprocessConfig.from_json(payload["preprocessing"]), "finetuned",
        payload.get("config", {}),
    )
