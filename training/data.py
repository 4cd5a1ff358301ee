"""What training and its validation read: photos, labels and pair matches.

Several catalogues can train at once. Category names become classifier
labels (the union over the category catalogues); each pair is its own class
for the metric loss. The unseen pairs of ``pairs`` are not read at all: they
are the report's (``fashion-search evaluate``). Recipes are chosen on
validation pairs held out of ``train_pairs`` instead: their street photos
query every product photo of their folder, the trained ones staying in as
distractors, as the unseen pairs' do in the report.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from fashion_search.catalog import CatalogItem, hash_split, open_catalog
from fashion_search.training.config import TrainConfig
from fashion_search.training.other_photos import per_category, product_photos
from fashion_search.training.pairs import Pair, read_pairs, split_pairs

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    labels: list[str] = field(default_factory=list)
    categorised: list[CatalogItem] = field(default_factory=list)
    category_index: list[int] = field(default_factory=list)
    validation: list[CatalogItem] = field(default_factory=list)
    validation_index: list[int] = field(default_factory=list)
    pair_photos: list[CatalogItem] = field(default_factory=list)  # query, product, query, ...
    queries: list[CatalogItem] = field(default_factory=list)      # validation street photos
    gallery: list[CatalogItem] = field(default_factory=list)      # their folders' products
    matches: list[int] = field(default_factory=list)              # gallery index per query

    @property
    def pair_count(self) -> int:
        return len(self.pair_photos) // 2


def resolve_source(path: str | Path, data_dir: Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() or path.exists() else Path(data_dir) / path


def pair_items(pair: Pair, source: str) -> tuple[CatalogItem, CatalogItem]:
    return (CatalogItem(f"{source}/query/{pair.id}", pair.query, ""),
            CatalogItem(f"{source}/product/{pair.id}", pair.product, ""))


def _in_split(item: CatalogItem, split: str) -> bool:
    return item.split is None or item.split.lower().startswith(split.lower()[:3])


def load_pairs(source: Path, unseen: int, seed: int, limit: int | None
               ) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(all pairs, pairs to train on, unseen pairs); ``limit`` trims each side for tests."""
    pairs = read_pairs(source)
    train, held = split_pairs(pairs, min(unseen, len(pairs)), seed)
    if limit:
        train, held = train[:limit], held[:limit]
        pairs = sorted(train + held, key=lambda p: p.id)
    return pairs, train, held


def _hold_validation_pairs(data: TrainingData, name: str, pairs: list[Pair],
                          config: TrainConfig) -> list[Pair]:
    """Keep ``config.validation_pairs`` of ``pairs`` (at most a fifth) as validation
    queries against all of their products; the rest, returned, are trained on.

    Drawn as ``fashion-search evaluate --pairs FOLDER --unseen-pairs N`` draws
    its unseen pairs, so that command scores any model on the same ones.
    """
    train, held = split_pairs(pairs, min(config.validation_pairs, len(pairs) // 5), config.seed)
    position = {p.id: len(data.gallery) + n for n, p in enumerate(pairs)}
    data.gallery += [pair_items(p, name)[1] for p in pairs]
    data.queries += [pair_items(p, name)[0] for p in held]
    data.matches += [position[p.id] for p in held]
    return train


def load_training_data(config: TrainConfig, data_dir: Path) -> TrainingData:
    data = TrainingData()
    train_items, validation_items = [], []
    for source in config.categories:
        items = open_catalog(resolve_source(source, data_dir), config.category_column)
        if not any(i.split for i in items):  # keep the held-out tenths out of training
            items = [replace(i, split=hash_split(i.id)) for i in items]
        train = [i for i in items if _in_split(i, config.train_split)]
        validation = [i for i in items if _in_split(i, config.validation_split)]
        if config.limit:
            train, validation = per_category(train, config.limit), per_category(validation,
                                                                                 config.limit)
        train_items += [i for i in train if i.category]
        validation_items += [i for i in validation if i.category]
    if config.mapped_products:  # at most as many studio photos of a class as everyday ones
        have = Counter(i.category for i in train_items)
        mapped = product_photos(resolve_source(config.mapped_products, data_dir), "train")
        taken: Counter[str] = Counter()
        for item in mapped:
            if taken[item.category] < have[item.category]:
                taken[item.category] += 1
                train_items.append(item)
    data.labels = sorted({i.category for i in train_items})
    index = {label: n for n, label in enumerate(data.labels)}
    data.categorised = train_items
    data.category_index = [index[i.category] for i in train_items]
    data.validation = [i for i in validation_items if i.category in index]
    data.validation_index = [index[i.category] for i in data.validation]

    trained: list[tuple[str, list[Pair]]] = []  # (folder name, pairs), ``pairs`` first
    for source in config.pairs:
        path = resolve_source(source, data_dir)
        seen = load_pairs(path, config.unseen_pairs, config.seed, config.limit)[1]
        trained.append((path.name, seen))
    for source in config.train_pairs:
        path = resolve_source(source, data_dir)
        pairs = sorted(read_pairs(path), key=lambda p: p.id)
        trained.append((path.name, pairs[:config.limit] if config.limit else pairs))
    first_held = len(config.pairs) if config.train_pairs else 0
    for n, (name, pairs) in enumerate(trained):
        if n >= first_held:
            pairs = _hold_validation_pairs(data, name, pairs, config)
        for pair in pairs:
            data.pair_photos.extend(pair_items(pair, name))
    log.info("training on %d categorised photos (%d labels) and %d pairs; validating on %d "
             "categorised photos and %d held-out pairs against %d products",
             len(data.categorised), len(data.labels), data.pair_count, len(data.validation),
             len(data.queries), len(data.gallery))
    return data
