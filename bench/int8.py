"""The int8 variant against the float graph: speed on this CPU, recall on unseen pairs.

Both graphs embed the same preprocessed photos in one run: the bare model's
photos/s at batch 32, and street-to-shop recall on the unseen pairs of the
trained model's own split (the 500 street photos against all 2,000 shop
photos), the figure the int8 variant may lose at most a point of. The recipe
is chosen on other photos: street photos of pairs the model trained on
(the most sensitive to int8: their matches hang on fine detail) and
clothing-dataset-small's validation photos.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashion_search.bench.preprocessing_parity import Embed, onnx_embedder, unit_embeddings
from fashion_search.catalog import open_catalog
from fashion_search.checkpoint import choose_model
from fashion_search.config import BATCH_SIZE, Settings, load_settings
from fashion_search.evaluation.evaluate import (
    StreetToShop,
    score_street_to_shop,
    street_to_shop_set,
    trained_with,
)
from fashion_search.export.onnx_export import export_onnx
from fashion_search.export.quantize import SUFFIX, calibration_photos, quantize_int8
from fashion_search.preprocessing import preprocess_photos
from fashion_search.training.data import load_pairs, pair_items
from fashion_search.training.metrics import sorted_relevance

log = logging.getLogger(__name__)

RESAMPLES = 2000
TRAINED_QUERIES = 500


@dataclass
class VariantRow:
    name: str
    photos_per_s: float
    trained_r1: float  # the recipe is chosen on these four
    trained_top1_kept: float
    validation_p1: float
    validation_top1_kept: float
    recall_at_1: float  # unseen pairs: reported, never tuned on
    recall_at_10: float
    hits_at_1: np.ndarray  # per unseen street photo: its product ranked first


def _rate(embed: Embed, pixels: np.ndarray, repeats: int = 3) -> float:
    batch = pixels[:BATCH_SIZE]
    embed(batch)
    started = time.perf_counter()
    for _ in range(repeats):
        embed(batch)
    return repeats * len(batch) / (time.perf_counter() - started)


def _pixels(items: Sequence, contract, desc: str) -> np.ndarray:
    photos = [i.read_bytes() for i in tqdm(items, desc=desc, unit="photo")]
    return preprocess_photos(photos, contract, [str(i.path) for i in items])[0]


def paired_interval(first: np.ndarray, second: np.ndarray, resamples: int = RESAMPLES,
                    seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``second - first`` per query, with a 95% bootstrap interval over the queries."""
    change = np.asarray(second, np.float64) - np.asarray(first, np.float64)
    rng = np.random.default_rng(seed)
    means = change[rng.integers(0, len(change), (resamples, len(change)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(change.mean()), float(low), float(high)


def _validation(settings: Settings) -> tuple[list, list, np.ndarray]:
    """clothing-dataset-small: validation photos query the train photos (labels for P@1)."""
    items = open_catalog(settings.data_dir / "clothing-dataset-small")
    queries = [i for i in items if (i.split or "").lower() == "validation"]
    index = [i for i in items if (i.split or "").lower() == "train"]
    same = (np.array([i.category for i in queries])[:, None]
            == np.array([i.category for i in index])[None, :])
    return queries, index, same


def trained_pairs(source: Path, split: dict, gallery_of: StreetToShop) -> StreetToShop:
    """Street photos of pairs the model trained on, against the unseen set's gallery
    (embedded once for both)."""
    pairs, train, _ = load_pairs(source, split.get("unseen_pairs", 500), split.get("seed", 0),
                                 None)
    if [i.path for i in gallery_of.gallery] != [pair_items(p, source.name)[1].path
                                                for p in pairs]:
        raise ValueError(f"the gallery given is not the shop photos of {source}'s pairs, in "
                         "order; build it with street_to_shop_set from the same split")
    position = {p.id: n for n, p in enumerate(pairs)}
    chosen = train[::max(1, len(train) // TRAINED_QUERIES)][:TRAINED_QUERIES]
    return StreetToShop([pair_items(p, source.name)[0] for p in chosen], gallery_of.gallery,
                        [position[p.id] for p in chosen])


def _first_hits(embed: Embed, queries: np.ndarray, gallery: np.ndarray,
                data: StreetToShop) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """(first result per query, whether it is the match, recall report)."""
    scores = unit_embeddings(embed, queries) @ gallery.T
    report, _ = score_street_to_shop(scores, data)
    return np.argmax(scores, axis=1), sorted_relevance(scores, data.relevance())[:, 0], report


def bench_int8(settings: Settings | None = None) -> str:
    """The float and int8 graphs of the chosen model, side by side.

    The float graph is exported here, not taken from the built repository,
    which holds the int8 one when ``FASHION_SEARCH_PRECISION=int8``.
    """
    settings = settings or load_settings()
    choice = choose_model(settings=settings)
    loaded = choice.load()
    contract = loaded.preprocessing
    fp32_path = export_onnx(loaded, settings.home / "bench" / f"{loaded.version}.onnx")
    int8_path = quantize_int8(fp32_path, fp32_path.with_name(f"{loaded.version}{SUFFIX}.onnx"),
                              calibration_photos(settings)["train"], contract)
    split = trained_with(choice.checkpoint)
    source = settings.data_dir / "street2shop-dev"
    street = street_to_shop_set(source, split.get("unseen_pairs", 500), split.get("seed", 0),
                                None)
    trained = trained_pairs(source, split, street)
    queries = _pixels(street.queries, contract, "unseen street photos")
    trained_q = _pixels(trained.queries, contract, "trained street photos")
    gallery = _pixels(street.gallery, contract, "shop photos")
    val_queries, val_index, same = _validation(settings)
    val_q = _pixels(val_queries, contract, "validation photos")
    val_i = _pixels(val_index, contract, "train photos")
    rows, float_firsts = [], None
    for name, path in (("float32", fp32_path), ("int8 (QDQ, per channel)", int8_path)):
        embed = onnx_embedder(path, device="cpu")
        val_first = np.argmax(unit_embeddings(embed, val_q) @ unit_embeddings(embed, val_i).T,
                              axis=1)
        shop = unit_embeddings(embed, gallery)
        trained_first, _, trained_report = _first_hits(embed, trained_q, shop, trained)
        _, hits, report = _first_hits(embed, queries, shop, street)
        float_firsts = float_firsts or (val_first, trained_first)
        rows.append(VariantRow(name, _rate(embed, gallery), trained_report["recall@1"],
                               float((trained_first == float_firsts[1]).mean()),
                               float(same[np.arange(len(val_first)), val_first].mean()),
                               float((val_first == float_firsts[0]).mean()),
                               report["recall@1"], report["recall@10"], hits))
    return _table(loaded.version, rows, len(val_queries), len(val_index), street, trained)


def _table(version: str, rows: list[VariantRow], val_queries: int, val_index: int,
           street: StreetToShop, trained: StreetToShop) -> str:
    lines = [f"{version}; speed of the bare graph, batch {BATCH_SIZE}; "
             "kept = same first result as float32",
             f"trained: {len(trained.queries)} street photos of trained pairs against "
             f"{len(trained.gallery)} shop photos (R@1, kept)",
             f"validation: {val_queries} clothing-dataset-small validation photos against "
             f"{val_index} train photos (P@1, kept)",
             f"unseen: {len(street.queries)} street photos against {len(street.gallery)} shop "
             f"photos (R@1 change: 95% interval over the queries, {RESAMPLES} resamples)",
             f"{'':<26} {'':>9} {'trained':>14} {'validation':>14} {'unseen':>13}",
             f"{'graph':<26} {'photos/s':>9} {'R@1':>6} {'kept':>7} {'P@1':>6} {'kept':>7} "
             f"{'R@1':>6} {'R@10':>6}  R@1 change"]
    for r in rows:
        change = ""
        if r is not rows[0]:
            mean, low, high = paired_interval(rows[0].hits_at_1, r.hits_at_1)
            change = f"{mean * 100:+.1f} points [{low * 100:+.1f}, {high * 100:+.1f}]"
        lines.append(f"{r.name:<26} {r.photos_per_s:9.1f} {r.trained_r1:6.3f} "
                     f"{r.trained_top1_kept:7.3f} {r.validation_p1:6.3f} "
                     f"{r.validation_top1_kept:7.3f} {r.recall_at_1:6.3f} {r.recall_at_10:6.3f}  "
                     f"{change}")
    return "\n".join(lines)
