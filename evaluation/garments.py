"""What finding the garment does to search, scored in-process on photos nothing trained on.

Two questions. Street-to-shop: each street photo searched whole, by its garment's
crop alone, and as ``--garment auto`` searches it (the crop blended with the whole
photo), over the same products; on the validation pairs, where the blend's weight is
chosen, and on the unseen pairs, scored once. Category: each
garment the finder reports on the street photos' reporting tenth, cropped as a
shopper's search would be, queries ``clothing-dataset-small`` (its kinds mapped
onto the set's classes); the true boxes, cropped the same way, are the ceiling.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashion_search.catalog import CatalogItem, open_catalog
from fashion_search.checkpoint import choose_model
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.errors import FashionSearchError
from fashion_search.evaluation.evaluate import (
    score_street_to_shop,
    street_to_shop_set,
    trained_with,
)
from fashion_search.export.embedder import OnnxEmbedder
from fashion_search.export.garment_export import OnnxFinder, finder_checkpoint
from fashion_search.files import write_text_atomic
from fashion_search.garment_finder import load_finder
from fashion_search.garments import (
    AUTO,
    MARGIN,
    Garment,
    choose_garment,
    grown,
    read_garments,
    with_whole,
)
from fashion_search.images import upright_size
from fashion_search.preprocessing import preprocess
from fashion_search.training.config import TrainConfig
from fashion_search.training.data import resolve_source
from fashion_search.training.garment_data import kind_truth, street_photos
from fashion_search.training.metrics import precision_at_k, sorted_relevance

log = logging.getLogger(__name__)

# garment kind -> the clothing-dataset-small classes a search for it should bring
CLOTHING_CLASSES = {
    "tops": ("t-shirt", "shirt", "longsleeve"), "outerwear": ("outwear",),
    "dresses": ("dress",), "skirts": ("skirt",), "trousers": ("pants",),
    "shorts": ("shorts",), "shoes": ("shoes",), "hats": ("hat",),
}


@dataclass
class GarmentReport:
    setup: dict = field(default_factory=dict)
    # "validation: whole photo" ... "unseen: --garment auto" -> recall@K and mAP
    street2shop: dict[str, dict[str, float]] = field(default_factory=dict)
    cropped: int = 0  # unseen street photos on which auto found a garment to crop
    category: list[dict] = field(default_factory=list)  # per kind: finder and true boxes
    # precision@10 of the kind auto picks on each reporting photo: whole, crop, as auto searches
    auto_kind: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        lines = ["| street-to-shop | " + " | ".join(next(iter(
            self.street2shop.values()), {})) + " |"]
        lines.append("|" + "---|" * (len(lines[0].split("|")) - 2))
        for name, figures in self.street2shop.items():
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in figures.values()) + " |")
        lines += ["", f"auto found a garment to crop on {self.cropped} of "
                  f"{self.setup.get('street2shop queries')} unseen street photos", "",
                  "| kind | finder crops | P@10 | true-box crops | P@10 |", "|---|---|---|---|---|"]
        for row in self.category:
            lines.append(f"| {row['kind']} | {row['finder crops']} | {row['finder P@10']:.3f} | "
                         f"{row['true crops']} | {row['true P@10']:.3f} |")
        lines += ["", f"| auto's garment, kind precision@10 ({self.setup.get('auto queries')} "
                  "reporting photos) | " + " | ".join(self.auto_kind) + " |",
                  "|---" * (len(self.auto_kind) + 1) + "|",
                  "| | " + " | ".join(f"{v:.3f}" for v in self.auto_kind.values()) + " |"]
        return "\n".join(lines)


def find_in_photo(finder: OnnxFinder, data: bytes, name: str) -> list[Garment]:
    settings = finder.settings
    pixels = preprocess(data, settings.preprocessing, name)[None]
    boxes, scores, shares = (t[0] for t in finder(pixels))
    width, height = upright_size(data, name)
    return read_garments(boxes, scores, shares, width, height, settings.preprocessing,
                         settings.threshold, settings.min_share)


def auto_crops(items: list[CatalogItem], finder: OnnxFinder, progress: bool = True
               ) -> tuple[list[CatalogItem], int]:
    """Each photo cropped to its ``--garment auto`` box (whole when none is found)."""
    cropped, count = [], 0
    for item in tqdm(items, desc="finding garments", unit="photo", disable=not progress):
        try:
            garment = choose_garment(find_in_photo(finder, item.read_bytes(), str(item.path)), AUTO)
        except FashionSearchError:
            cropped.append(item)
            continue
        count += 1
        cropped.append(replace(item, bbox=grown(garment.box, MARGIN, *garment.photo_size)))
    return cropped, count


def garment_queries(street: Path, finder: OnnxFinder, progress: bool
                    ) -> tuple[list[tuple[str, CatalogItem]], list[tuple[str, CatalogItem]]]:
    """(finder crops, true-box crops) of the reporting tenth, each with its kind."""
    truth = kind_truth(street)
    found, true = [], []
    for photo in tqdm(street_photos(street, ("test",)), desc="reporting tenth", unit="photo",
                      disable=not progress):
        data = photo.path.read_bytes()
        for garment in find_in_photo(finder, data, photo.name):
            if garment.kind in CLOTHING_CLASSES:
                box = grown(garment.box, MARGIN, *garment.photo_size)
                found.append((garment.kind, CatalogItem(photo.name, photo.path, garment.kind,
                                                        bbox=box)))
        for kind, known in truth.get(photo.name, {}).items():
            if kind in CLOTHING_CLASSES and known.share >= 0.02:
                width, height = upright_size(data)
                box = grown(known.box, MARGIN, width, height)
                true.append((kind, CatalogItem(photo.name, photo.path, kind, bbox=box)))
    return found, true


def auto_queries(street: Path, finder: OnnxFinder, progress: bool
                 ) -> list[tuple[str, CatalogItem, CatalogItem]]:
    """(kind, whole photo, crop) of the garment ``--garment auto`` picks on each reporting photo."""
    queries = []
    for photo in tqdm(street_photos(street, ("test",)), desc="auto's garments", unit="photo",
                      disable=not progress):
        try:
            garment = choose_garment(find_in_photo(finder, photo.path.read_bytes(), photo.name))
        except FashionSearchError:
            continue
        if garment.kind in CLOTHING_CLASSES:
            whole = CatalogItem(photo.name, photo.path, garment.kind)
            box = grown(garment.box, MARGIN, *garment.photo_size)
            queries.append((garment.kind, whole, replace(whole, bbox=box)))
    return queries


def _precision_by_kind(queries: list[tuple[str, CatalogItem]], embedder: OnnxEmbedder,
                       index: np.ndarray, labels: np.ndarray, progress: bool, desc: str
                       ) -> dict[str, tuple[int, float]]:
    if not queries:
        return {}
    embedded, _ = embedder.embed([item for _, item in queries], desc, progress)
    kinds = np.array([kind for kind, _ in queries])
    relevant = np.stack([np.isin(labels, CLOTHING_CLASSES[k]) for k in kinds])
    ranked = sorted_relevance(embedded @ index.T, relevant)
    return {k: (int((kinds == k).sum()), precision_at_k(ranked[kinds == k], 10))
            for k in CLOTHING_CLASSES if (kinds == k).any()} | {
        "all": (len(kinds), precision_at_k(ranked, 10))}


def evaluate_garments(checkpoint: Path | None = None, finder: Path | None = None,
                      pairs: str = "street2shop-dev", validation_pairs: str = "street2shop-train",
                      categories: str = "clothing-dataset-small",
                      street: str = "ccp-street", limit: int | None = None,
                      out_dir: Path | None = None, progress: bool = True,
                      settings: Settings | None = None) -> GarmentReport:
    """Street-to-shop whole against auto crop, and category precision of found garments."""
    settings = settings or load_settings()
    recipe = TrainConfig()
    choice = choose_model(checkpoint, settings=settings)
    recipe_of = trained_with(choice.checkpoint)
    workdir = tempfile.TemporaryDirectory(prefix="fashion-search-garments-")
    found_by = OnnxFinder(load_finder(finder or finder_checkpoint(settings)), Path(workdir.name))
    seed = recipe_of.get("seed", recipe.seed)
    pairs_set = street_to_shop_set(resolve_source(pairs, settings.data_dir),
                                   recipe_of.get("unseen_pairs", recipe.unseen_pairs), seed, limit)
    # the pairs training validated on (drawn as the unseen ones are): where WHOLE_WEIGHT is chosen
    validation_set = street_to_shop_set(resolve_source(validation_pairs, settings.data_dir),
                                        recipe_of.get("validation_pairs", recipe.validation_pairs),
                                        seed, limit)
    report = GarmentReport(setup={"model": choice.describe(), "finder": found_by.settings.version,
                                  "street2shop queries": len(pairs_set.queries),
                                  "street2shop gallery": len(pairs_set.gallery)})
    embedder = OnnxEmbedder(choice.load())
    try:
        for split, data in (("validation", validation_set), ("unseen", pairs_set)):
            gallery = embedder.embed(data.gallery, f"{split} products", progress)[0]
            whole = embedder.embed(data.queries, f"{split} street photos, whole", progress)[0]
            crops, cropped = auto_crops(data.queries, found_by, progress)
            crop = embedder.embed(crops, f"{split} street photos, crop", progress)[0]
            report.cropped = cropped
            for name, queries in (("whole photo", whole), ("garment crop alone", crop),
                                  ("--garment auto", with_whole(crop, whole))):
                report.street2shop[f"{split}: {name}"] = score_street_to_shop(
                    queries @ gallery.T, data)[0]
        index_items = [i for i in open_catalog(resolve_source(categories, settings.data_dir))
                       if (i.split or "").lower() != "test"]
        index = embedder.embed(index_items, "clothing index", progress)[0]
        labels = np.array([i.category for i in index_items])
        by_finder, by_truth = garment_queries(resolve_source(street, settings.data_dir),
                                              found_by, progress)
        finder_p = _precision_by_kind(by_finder, embedder, index, labels, progress, "finder crops")
        true_p = _precision_by_kind(by_truth, embedder, index, labels, progress, "true crops")
        picked = auto_queries(resolve_source(street, settings.data_dir), found_by, progress)
        report.setup["auto queries"] = len(picked)
        if picked:
            whole = embedder.embed([w for _, w, _ in picked], "auto's photos", progress)[0]
            crop = embedder.embed([c for _, _, c in picked], "auto's crops", progress)[0]
            relevant = np.stack([np.isin(labels, CLOTHING_CLASSES[k]) for k, _, _ in picked])
            for name, queries in (("whole photo", whole), ("garment crop alone", crop),
                                  ("--garment auto", with_whole(crop, whole))):
                report.auto_kind[name] = precision_at_k(
                    sorted_relevance(queries @ index.T, relevant), 10)
    finally:
        embedder.close()
        workdir.cleanup()
    for kind in [*CLOTHING_CLASSES, "all"]:
        if kind in finder_p or kind in true_p:
            report.category.append({"kind": kind,
                                    "finder crops": finder_p.get(kind, (0, 0.0))[0],
                                    "finder P@10": finder_p.get(kind, (0, 0.0))[1],
                                    "true crops": true_p.get(kind, (0, 0.0))[0],
                                    "true P@10": true_p.get(kind, (0, 0.0))[1]})
    out_dir = Path(out_dir or settings.home / "evaluation")
    save_resolved_config(out_dir / "garments.json", settings=settings, report=asdict(report))
    write_text_atomic(out_dir / "garments.md", report.table() + "\n")
    return report
