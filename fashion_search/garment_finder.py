"""The garment finder: the pretrained backbone's trunk, a light label-map head, and boxes.

The head labels every 8x8 patch of the photo with a class (fused from the trunk's
stride 8, 16 and 32 features); each garment kind's box is then the extent of the
patches labelled with it, which is how the street photos' boxes are drawn (one
box per label; two shoes make one box), less any second cluster of a one-piece
kind. Boxes come out of the graph itself, so the served model answers boxes, not
maps, and needs no code beside it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from fashion_search.backbone import create_backbone
from fashion_search.config import DEFAULT_BACKBONE
from fashion_search.errors import CheckpointError
from fashion_search.garments import CLASSES, FIRST_KIND, IN_PARTS, KINDS, FinderSettings

log = logging.getLogger(__name__)

TRUNK_BLOCKS = 6  # EfficientNet stages used: through stride 32
TAPS = (2, 4, 5)  # the stages whose outputs the head fuses (strides 8, 16, 32)
TUNED_FROM = 5  # stages from here on train with the head; the ones before stay ImageNet's


class Trunk(nn.Module):
    """The backbone's stem and first stages; answers the tapped stages' feature maps."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE, pretrained: bool = True):
        super().__init__()
        net = create_backbone(backbone, pretrained=pretrained)
        if not hasattr(net, "blocks"):
            raise CheckpointError(f"the garment finder needs an EfficientNet trunk, not {backbone}")
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.blocks = nn.ModuleList(list(net.blocks)[:TRUNK_BLOCKS])
        with torch.no_grad():
            self.channels = [f.shape[1] for f in self.eval()(torch.zeros(1, 3, 64, 64))]

    def early(self, pixels: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The frozen part: (its taps, the map the tuned stages start from)."""
        x, taps = self.stem(pixels), []
        for index, block in enumerate(self.blocks[:TUNED_FROM]):
            x = block(x)
            if index in TAPS:
                taps.append(x)
        return taps, x

    def late(self, taps: list[torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
        taps = list(taps)
        for index, block in enumerate(self.blocks[TUNED_FROM:], TUNED_FROM):
            x = block(x)
            if index in TAPS:
                taps.append(x)
        return taps

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        return self.late(*self.early(pixels))


class Head(nn.Module):
    """Top-down fusion of the taps to stride 8, then a class per patch."""

    def __init__(self, channels: list[int], width: int, classes: int = len(CLASSES)):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        # the whole photo's gist, so a dress is told from a top over a skirt
        self.context = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels[-1], width, 1))
        self.fuse = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, classes, 1))

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        x = self.lateral[-1](taps[-1]) + self.context(taps[-1])
        for lateral, tap in zip(self.lateral[-2::-1], taps[-2::-1]):
            x = lateral(tap) + nn.functional.interpolate(x, size=tap.shape[-2:], mode="nearest")
        return self.fuse(x)


def kind_boxes(logits: torch.Tensor, min_patches: int = 2, gap: int = -1
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Label-map logits (N, classes, H, W) -> per kind: box (N, K, 4) in the square's unit
    coordinates, score (N, K) and share of the square (N, K).

    A kind's box spans the rows and columns holding at least ``min_patches`` of its patches,
    so a stray patch does not stretch it; with ``gap`` >= 0, a one-piece kind's box keeps
    only the run of such lines around its densest line (runs apart by up to ``gap`` lines
    join), so a second cluster elsewhere does not either. Its score is its patches' mean
    probability.
    """
    probs = logits.softmax(dim=1)
    height, width = logits.shape[-2:]
    label = probs.argmax(dim=1, keepdim=True)
    kinds = torch.arange(FIRST_KIND, len(CLASSES), device=logits.device).view(1, -1, 1, 1)
    mask = (label == kinds).to(probs.dtype)  # (N, K, H, W)
    count = mask.sum(dim=(2, 3))
    score = (probs[:, FIRST_KIND:] * mask).sum(dim=(2, 3)) / count.clamp(min=1.0)
    share = count / float(height * width)
    one_piece = torch.tensor([kind not in IN_PARTS for kind in KINDS],
                             device=logits.device).view(1, -1, 1)

    def extent(lines: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.arange(size, device=lines.device, dtype=probs.dtype).view(1, 1, -1)
        used = lines >= min_patches
        if gap >= 0:
            joined = used.to(probs.dtype).flatten(0, 1).unsqueeze(1)
            if gap:
                joined = nn.functional.max_pool1d(joined, 2 * gap + 1, stride=1, padding=gap)
            run = torch.cumsum(1.0 - joined.squeeze(1).view_as(lines), dim=-1)
            densest = run.gather(-1, lines.argmax(dim=-1, keepdim=True))
            used = used & ((run == densest) | ~one_piece)
        first = torch.where(used, index, torch.full_like(lines, float(size))).amin(dim=-1)
        last = torch.where(used, index, torch.full_like(lines, -1.0)).amax(dim=-1)
        return first / size, (last + 1).clamp(min=0) / size

    top, bottom = extent(mask.sum(dim=3), height)
    left, right = extent(mask.sum(dim=2), width)
    boxes = torch.stack([left, top, right, bottom], dim=-1)
    score = torch.where(bottom > top, score, torch.zeros_like(score))
    return boxes, score, share


class GarmentFinder(nn.Module):
    """Pixels in the finder's contract -> (boxes, scores, shares), one row per kind."""

    def __init__(self, settings: FinderSettings | None = None, pretrained: bool = True):
        super().__init__()
        self.settings = settings or FinderSettings()
        self.trunk = Trunk(self.settings.backbone, pretrained)
        self.head = Head(self.trunk.channels, self.settings.width)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(pixels))

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return kind_boxes(self.logits(pixels), self.settings.min_patches, self.settings.gap)


def save_finder(model: GarmentFinder, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"settings": model.settings.to_json(), "kinds": list(KINDS),
                "classes": list(CLASSES), "state_dict": model.state_dict()}, partial)
    partial.replace(path)  # a killed save never leaves half a checkpoint under the name
    return path


def load_finder(path: Path) -> GarmentFinder:
    """A trained finder; refused clearly when the file is not one or its kinds changed."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no garment finder here; train one with "
                              "`fashion-search train-garments`")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        settings = FinderSettings.from_json(saved["settings"])
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise CheckpointError(f"{path}: not a garment finder checkpoint ({err}); train one "
                              "with `fashion-search train-garments`") from err
    if list(saved.get("classes", [])) != list(CLASSES):
        raise CheckpointError(f"{path}: trained for the classes {saved.get('classes')}, not "
                              f"{list(CLASSES)}; train it again")
    model = GarmentFinder(settings, pretrained=False)
    model.load_state_dict(saved["state_dict"])
    return model.eval()
