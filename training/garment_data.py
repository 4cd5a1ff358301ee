"""The street photos with a label for every pixel (``ccp-street``), as the finder learns them.

A photo's split comes from a hash of its id (:func:`fashion_search.catalog.hash_split`):
a tenth for choosing (epochs, the score threshold), a tenth reported once, the rest
trained on, the same on every machine.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_search.catalog import hash_split
from fashion_search.errors import CatalogError
from fashion_search.garments import CLASSES, KINDS, class_of
from fashion_search.preprocessing import PreprocessConfig, fitted_size

OUTPUT_STRIDE = 4  # the label map is learnt at a quarter of the input size


@dataclass(frozen=True)
class StreetPhoto:
    name: str  # as in boxes.csv, e.g. 0001.jpg
    path: Path
    mask: Path
    split: str


@dataclass(frozen=True)
class KindBox:
    """One kind's ground truth in one photo: the extent of all its labels' pixels."""

    box: tuple[int, int, int, int]  # right and bottom exclusive
    share: float  # of the photo's pixels


def require_street(root: Path) -> Path:
    root = Path(root)
    missing = [p for p in ("photos", "masks", "labels.csv", "boxes.csv") if not (root / p).exists()]
    if missing:
        raise CatalogError(f"{root}: not the labelled street photos (missing {', '.join(missing)}); "
                           "point --data at the folder holding ccp-street")
    return root


def street_photos(root: Path, splits: tuple[str, ...] = ("train", "validation", "test")
                  ) -> list[StreetPhoto]:
    root = require_street(root)
    photos = []
    for path in sorted((root / "photos").glob("*.jpg")):
        split = hash_split(path.name)
        if split in splits:
            photos.append(StreetPhoto(path.name, path, root / "masks" / f"{path.stem}.png", split))
    return photos


def class_table(root: Path) -> np.ndarray:
    """Mask value -> finder class index (256 entries; unknown values are background)."""
    table = np.zeros(256, dtype=np.int64)
    with (Path(root) / "labels.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            table[int(row["value"])] = CLASSES.index(class_of(row["label"]))
    return table


def target_map(mask_path: Path, table: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """A photo's mask -> class indices on the finder's output grid, fitted as its pixels are."""
    mask = Image.open(mask_path)
    size = config.size
    new = fitted_size(*mask.size, config)
    canvas = Image.new("L", (size, size), 0)
    canvas.paste(mask.resize(new, Image.Resampling.NEAREST),
                 ((size - new[0]) // 2, (size - new[1]) // 2))
    half = OUTPUT_STRIDE // 2
    return table[np.asarray(canvas)[half::OUTPUT_STRIDE, half::OUTPUT_STRIDE]]


def kind_truth(root: Path) -> dict[str, dict[str, KindBox]]:
    """photo name -> kind -> its box and share, from ``boxes.csv`` (labels of a kind joined)."""
    root = require_street(root)
    sizes: dict[str, tuple[int, int]] = {}
    joined: dict[str, dict[str, list]] = defaultdict(dict)
    with (root / "boxes.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            kind = class_of(row["label"])
            if kind not in KINDS:
                continue
            if row["photo"] not in sizes:
                with Image.open(root / "photos" / row["photo"]) as image:
                    sizes[row["photo"]] = image.size
            box = [int(row[k]) for k in ("x0", "y0", "x1", "y1")]
            box[2] += 1  # boxes.csv is inclusive
            box[3] += 1
            seen = joined[row["photo"]].get(kind)
            joined[row["photo"]][kind] = box + [int(row["pixels"])] if seen is None else [
                min(seen[0], box[0]), min(seen[1], box[1]), max(seen[2], box[2]),
                max(seen[3], box[3]), seen[4] + int(row["pixels"])]
    truth = {}
    for photo, kinds in joined.items():
        width, height = sizes[photo]
        truth[photo] = {k: KindBox(tuple(v[:4]), v[4] / (width * height)) for k, v in kinds.items()}
    return truth
