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

from fashion_search import triton_config as tc
from fashion_search.bench.preprocessing_parity import Embed, onnx_embedder, unit_embeddings
from fashion_search.catalog import hash_split, open_catalog
from fashion_search.checkpoint import choose_model
from fashion_search.config import BATCH_SIZE, Settings, load_settings
from fashion_search.export.quantize import quantize_int8
from fashion_search.export.run import ensure_model
from fashion_search.preprocessing import preprocess_photos
from fashion_search.training.evaluate import (
    score_street_to_shop,
    street_to_shop_set,
    trained_with,
)

log = logging.getLogger(__name__)

CALIBRATION_PHOTOS = 128


@dataclass
class VariantRow:
    name: str
    photos_per_s: float
    recall_at_1: float
    recall_at_10: float


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


def bench_int8(settings: Settings | None = None) -> str:
    """The float and int8 graphs of the served model, side by side."""
    settings = settings or load_settings()
    choice = choose_model(settings=settings)
    loaded = choice.load()
    served = ensure_model(choice=choice, settings=settings)
    fp32_path = served.repository / tc.EMBEDDER / "1" / "model.onnx"
    catalogue = [i for i in open_catalog(settings.data_dir / "fashion-product-images")
                 if hash_split(i.id) == "train"]  # never a photo that is held out
    calibration = [i.read_bytes() for i in catalogue[::max(1, len(catalogue)
                                                           // CALIBRATION_PHOTOS)]]
    int8_path = quantize_int8(fp32_path, settings.home / "bench" / f"{served.version}-int8.onnx",
                              calibration[:CALIBRATION_PHOTOS], loaded.preprocessing)
    split = trained_with(choice.checkpoint)
    street = street_to_shop_set(settings.data_dir / "street2shop-dev",
                                split.get("unseen_pairs", 500), split.get("seed", 0), None)
    queries = _pixels(street.queries, loaded.preprocessing, "street photos")
    gallery = _pixels(street.gallery, loaded.preprocessing, "shop photos")
    rows = []
    for name, path in (("float32", fp32_path), ("int8 (QDQ, per channel)", int8_path)):
        embed = onnx_embedder(path, device="cpu")
        report, _ = score_street_to_shop(
            unit_embeddings(embed, queries) @ unit_embeddings(embed, gallery).T, street)
        rows.append(VariantRow(name, _rate(embed, gallery),
                               report["recall@1"], report["recall@10"]))
    lines = [f"{served.version}: {len(street.queries)} unseen street photos against "
             f"{len(street.gallery)} shop photos; speed of the bare graph, batch {BATCH_SIZE}",
             f"{'graph':<26} {'photos/s':>9} {'R@1':>6} {'R@10':>6}"]
    lines += [f"{r.name:<26} {r.photos_per_s:9.1f} {r.recall_at_1:6.3f} {r.recall_at_10:6.3f}"
              for r in rows]
    return "\n".join(lines)
