"""The int8 variant against the float graph: speed on this CPU, recall on unseen pairs.

Both graphs embed the same preprocessed photos in one run: the bare model's
photos/s at batch 32, and street-to-shop recall on the unseen pairs of the
trained model's own split (the 500 street photos against all 2,000 shop
photos), the figure the int8 variant may lose at most a point of.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from fashion_search.bench.preprocessing_parity import Embed, onnx_embedder, unit_embeddings
from fashion_search.catalog import open_catalog
from fashion_search.checkpoint import choose_model
from fashion_search.config import BATCH_SIZE, Settings, load_settings
from fashion_search.export.onnx_export import export_onnx
from fashion_search.export.quantize import SUFFIX, calibration_photos, quantize_int8
from fashion_search.preprocessing import preprocess_photos
from fashion_search.training.evaluate import (
    score_street_to_shop,
    street_to_shop_set,
    trained_with,
)
from fashion_search.training.metrics import sorted_relevance

log = logging.getLogger(__name__)

RESAMPLES = 2000


@dataclass
class VariantRow:
    name: str
    photos_per_s: float
    validation_p1: float  # the recipe is chosen on these two
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
    street = street_to_shop_set(settings.data_dir / "street2shop-dev",
                                split.get("unseen_pairs", 500), split.get("seed", 0), None)
    queries = _pixels(street.queries, contract, "street photos")
    gallery = _pixels(street.gallery, contract, "shop photos")
    val_queries, val_index, same = _validation(settings)
    val_q = _pixels(val_queries, contract, "validation photos")
    val_i = _pixels(val_index, contract, "train photos")
    rows, float_top1 = [], None
    for name, path in (("float32", fp32_path), ("int8 (QDQ, per channel)", int8_path)):
        embed = onnx_embedder(path, device="cpu")
        top1 = np.argmax(unit_embeddings(embed, val_q) @ unit_embeddings(embed, val_i).T, axis=1)
        float_top1 = top1 if float_top1 is None else float_top1
        scores = unit_embeddings(embed, queries) @ unit_embeddings(embed, gallery).T
        report, _ = score_street_to_shop(scores, street)
        hits = sorted_relevance(scores, street.relevance())[:, 0]
        rows.append(VariantRow(name, _rate(embed, gallery),
                               float(same[np.arange(len(top1)), top1].mean()),
                               float((top1 == float_top1).mean()),
                               report["recall@1"], report["recall@10"], hits))
    return _table(loaded.version, rows, len(val_queries), len(val_index), street)


def _table(version: str, rows: list[VariantRow], val_queries: int, val_index: int,
           street) -> str:
    lines = [f"{version}; speed of the bare graph, batch {BATCH_SIZE}",
             f"validation: {val_queries} clothing-dataset-small validation photos against "
             f"{val_index} train photos (P@1; top 1 kept = same first result as float32)",
             f"unseen: {len(street.queries)} street photos against {len(street.gallery)} shop "
             f"photos (R@1 change: 95% interval over the queries, {RESAMPLES} resamples)",
             f"{'graph':<26} {'photos/s':>9} {'val P@1':>8} {'top 1 kept':>10} {'R@1':>6} "
             f"{'R@10':>6}  R@1 change"]
    for r in rows:
        change = ""
        if r is not rows[0]:
            mean, low, high = paired_interval(rows[0].hits_at_1, r.hits_at_1)
            change = f"{mean * 100:+.1f} points [{low * 100:+.1f}, {high * 100:+.1f}]"
        lines.append(f"{r.name:<26} {r.photos_per_s:9.1f} {r.validation_p1:8.3f} "
                     f"{r.validation_top1_kept:10.3f} {r.recall_at_1:6.3f} {r.recall_at_10:6.3f}  "
                     f"{change}")
    return "\n".join(lines)
