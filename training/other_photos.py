"""Category photos framed unlike the training ones, mapped onto the training classes.

``clothing-dataset-small``'s validation split comes from the same photographers,
beds and floors as its training split, so it says 0.9 where other people's
photos say 0.8. Two sets that do not share that framing: studio product photos
(``fashion-product-images``, by article type) and garments as worn in street
photos (``ccp-street``, cropped to their labelled boxes). Both keep the
catalogue's stable hash split: the ``test`` tenth is reported once. Recipes are
chosen on the worn garments of the other photos, which nothing trains on, and
on the products' ``validation`` tenth (their ``train`` part may be trained on).
Only unambiguous names are mapped (a blouse or a top could be a shirt or a
t-shirt, so neither is).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from PIL import Image

from fashion_search.catalog import CatalogItem, hash_split, open_catalog
from fashion_search.errors import CatalogError

# fashion-product-images articleType -> clothing-dataset-small class
PRODUCT_CLASSES = {
    "Tshirts": "t-shirt", "Shirts": "shirt", "Sweaters": "longsleeve",
    "Sweatshirts": "longsleeve", "Jackets": "outwear", "Dresses": "dress", "Skirts": "skirt",
    "Shorts": "shorts", "Trousers": "pants", "Jeans": "pants", "Track Pants": "pants",
    "Caps": "hat", "Casual Shoes": "shoes", "Sports Shoes": "shoes", "Formal Shoes": "shoes",
    "Heels": "shoes", "Flats": "shoes",
}
# ccp-street label -> clothing-dataset-small class
WORN_CLASSES = {
    "t-shirt": "t-shirt", "shirt": "shirt", "sweater": "longsleeve",
    "sweatshirt": "longsleeve", "jumper": "longsleeve", "hoodie": "longsleeve",
    "coat": "outwear", "jacket": "outwear", "blazer": "outwear", "dress": "dress",
    "skirt": "skirt", "shorts": "shorts", "pants": "pants", "jeans": "pants", "hat": "hat",
    "shoes": "shoes", "boots": "shoes", "sneakers": "shoes", "heels": "shoes",
    "pumps": "shoes", "flats": "shoes", "loafers": "shoes", "wedges": "shoes",
}
CHOOSING_PER_CLASS = 150  # the choosing sets, balanced so that shoes and t-shirts do not decide
MIN_SHARE = 0.02  # a worn garment's box covers at least this share of its photo
MARGIN = 0.1      # of the box's size, on each side, as a shopper's crop would leave
PRODUCT_COLUMN = "articleType"


def per_category(items: list[CatalogItem], limit: int) -> list[CatalogItem]:
    """At most ``limit`` photos of each category, in catalogue order."""
    seen: dict[str, int] = {}
    kept = []
    for item in items:
        seen[item.category] = seen.get(item.category, 0) + 1
        if seen[item.category] <= limit:
            kept.append(item)
    return kept


def _wanted(split: str) -> Iterable[str]:
    """The hash split's parts for ``validation`` (all but the report's tenth) or ``test``."""
    if split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', not {split!r}")
    return ("test",) if split == "test" else ("train", "validation")


def product_photos(source: Path, split: str) -> list[CatalogItem]:
    """Studio product photos whose article type names one of the classes.

    Split by the catalogue's hash tenths, as the catalogue suite splits it:
    ``train`` may be trained on (``TrainConfig.mapped_products``), so choosing
    reads the ``validation`` tenth alone and the report the ``test`` tenth.
    """
    if split not in ("train", "validation", "test"):
        raise ValueError(f"split must be 'train', 'validation' or 'test', not {split!r}")
    items = open_catalog(source, PRODUCT_COLUMN)
    return [replace(i, category=PRODUCT_CLASSES[i.category], split=split) for i in items
            if i.category in PRODUCT_CLASSES and hash_split(i.id) == split]


def _box_with_margin(box: tuple[int, int, int, int], size: tuple[int, int]
                     ) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    dx, dy = round((x1 - x0) * MARGIN), round((y1 - y0) * MARGIN)
    return max(0, x0 - dx), max(0, y0 - dy), min(size[0], x1 + dx), min(size[1], y1 + dy)


def worn_garments(source: Path, split: str) -> list[CatalogItem]:
    """Each mapped garment of a street photo, cropped to its box with a margin."""
    parts = _wanted(split)
    boxes = source / "boxes.csv"
    if not boxes.exists():
        raise CatalogError(f"{source}: no boxes.csv; worn garments need the street photos' boxes")
    sizes: dict[str, tuple[int, int]] = {}
    items = []
    with boxes.open(newline="") as f:
        for row in csv.DictReader(f):
            kind = WORN_CLASSES.get(row["label"])
            photo_id = Path(row["photo"]).stem
            if kind is None or hash_split(photo_id) not in parts:
                continue
            path = source / "photos" / row["photo"]
            if row["photo"] not in sizes:
                with Image.open(path) as image:
                    sizes[row["photo"]] = image.size
            size = sizes[row["photo"]]
            box = tuple(int(row[k]) for k in ("x0", "y0", "x1", "y1"))
            if (box[2] - box[0]) * (box[3] - box[1]) < MIN_SHARE * size[0] * size[1]:
                continue
            items.append(CatalogItem(f"{source.name}/{photo_id}/{row['label']}", path, kind,
                                     {"label": row["label"]}, _box_with_margin(box, size),
                                     split))
    return items


def other_photo_sets(products: Path | None, worn: Path | None
                     ) -> dict[str, list[CatalogItem]]:
    """The four sets by name: products and worn garments, choosing and reported once.

    The choosing sets keep at most ``CHOOSING_PER_CLASS`` photos of each class.
    """
    sets = {}
    for split, said in (("validation", "choosing"), ("test", "report once")):
        cap = CHOOSING_PER_CLASS if split == "validation" else None
        for name, source, read in (("products as classes", products, product_photos),
                                   ("worn garments", worn, worn_garments)):
            if source:
                items = read(source, split)
                sets[f"{name} ({said})"] = per_category(items, cap) if cap else items
    return {name: items for name, items in sets.items() if items}
