"""Same-item pairs (a street photo and the shop photo of the same garment).

The split into pairs to train on and pairs kept unseen is a function of the
ids and a seed only, so training and evaluation always agree on it.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from fashion_search.errors import CatalogError, RecipeError

PAIRS_FILE = "pairs.csv"


@dataclass(frozen=True)
class Pair:
    """One garment photographed twice: worn (query) and in the shop (product)."""

    id: str
    query: Path
    product: Path


def read_pairs(root: str | Path) -> list[Pair]:
    """``root/pairs.csv`` with columns ``person,product`` (paths relative to ``root``)."""
    root = Path(root).expanduser()
    table = root / PAIRS_FILE
    if not table.is_file():
        raise CatalogError(f"{root}: no {PAIRS_FILE}; a pairs folder needs a CSV with columns "
                           "person,product naming the two photos of each garment")
    pairs, missing = [], []
    with table.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"person", "product"} <= set(reader.fieldnames or []):
            raise CatalogError(f"{table}: needs columns person,product; has {reader.fieldnames}")
        for row in reader:
            person, shop = (row["person"] or "").strip(), (row["product"] or "").strip()
            if not person or not shop:
                raise CatalogError(f"{table}, line {reader.line_num}: a pair needs both a person "
                                   "and a product photo")
            query, product = root / person, root / shop
            if not (query.is_file() and product.is_file()):
                missing.append(person)
                continue
            pairs.append(Pair(Path(shop).stem, query, product))
    if missing:
        raise CatalogError(f"{table}: {len(missing)} pairs name photos that do not exist, "
                           f"first {missing[0]}")
    if len({p.id for p in pairs}) != len(pairs):
        raise CatalogError(f"{table}: product photos must be unique per pair")
    return pairs


def split_pairs(pairs: list[Pair], unseen: int, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(pairs to train on, ``unseen`` pairs training never sees), drawn by id with ``seed``."""
    if not 0 <= unseen <= len(pairs):
        raise RecipeError(f"cannot keep {unseen} of {len(pairs)} pairs unseen; lower "
                          "--unseen-pairs")
    ids = sorted(p.id for p in pairs)
    held = set(random.Random(seed).sample(ids, unseen))
    ordered = sorted(pairs, key=lambda p: p.id)
    return [p for p in ordered if p.id not in held], [p for p in ordered if p.id in held]
