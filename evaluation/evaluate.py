"""The ``evaluate`` step: retrieval quality on real photos the model never trained on.

Street-to-shop: each unseen street photo queries every product photo (the
products of training pairs stay in as distractors). Category: each
``test/`` photo queries an index of ``train/`` + ``validation/``. The untuned
backbone and the trained model are scored in the same run, and the served
path (Triton embeddings, Milvus search) can be scored too: it must agree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashion_search import colour
from fashion_search.catalog import CatalogItem, open_catalog
from fashion_search.checkpoint import LoadedModel, choose_model, load_model, read_checkpoint
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.errors import CatalogError
from fashion_search.evaluation.served import served_scores
from fashion_search.export.embedder import OnnxEmbedder
from fashion_search.export.run import served_version
from fashion_search.features import Features
from fashion_search.files import write_text_atomic
from fashion_search.same_item import SHOWN, SameItemScale
from fashion_search.training.config import TrainConfig
from fashion_search.training.data import load_pairs, pair_items, resolve_source
from fashion_search.training.metrics import (
    precision_at_k,
    recall_at_k,
    retrieval_report,
    sorted_relevance,
    top_k_accuracy,
)
from fashion_search.training.plots import plot_recall_curves

log = logging.getLogger(__name__)

RECALL_KS = (1, 5, 10, 20)
CURVE_KS = (1, 2, 5, 10, 20, 50)
SERVED_TOLERANCE = 0.005
# the street match scale on the unseen pairs: what the first result says against how often
# it is right, and what the right product and a wrong first result read
MATCH_KEYS = ("said@1, mean", "right@1, share", "right item, median", "wrong@1, mean")

@dataclass
class StreetToShop:
    queries: list[CatalogItem]
    gallery: list[CatalogItem]
    matches: list[int]

    def relevance(self) -> np.ndarray:
        relevant = np.zeros((len(self.queries), len(self.gallery)), dtype=bool)
        relevant[np.arange(len(self.queries)), self.matches] = True
        return relevant


@dataclass
class CategorySet:
    queries: list[CatalogItem]
    index: list[CatalogItem]


@dataclass
class ModelFigures:
    name: str
    version: str
    street2shop: dict[str, float] = field(default_factory=dict)
    curve: dict[int, float] = field(default_factory=dict)
    category: dict[str, float] = field(default_factory=dict)
    classifier: dict[str, float] = field(default_factory=dict)
    match: dict[str, float] = field(default_factory=dict)  # the street match scale, read back


@dataclass
class EvaluationReport:
    models: list[ModelFigures]
    served: ModelFigures | None = None
    served_matches: bool | None = None
    setup: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, list[float | None]]]:
        figures = self.models + ([self.served] if self.served else [])
        keys = ([("street2shop", f"recall@{k}") for k in RECALL_KS] + [("street2shop", "mAP")]
                + [("category", "precision@1"), ("category", "precision@10")]
                + [("classifier", "top-1"), ("classifier", "top-3")]
                + [("match", key) for key in MATCH_KEYS])
        return [(f"{group} {key}", [getattr(f, group).get(key) for f in figures])
                for group, key in keys]

    def table(self) -> str:
        figures = self.models + ([self.served] if self.served else [])
        names = [f.name for f in figures]
        width = max(len(n) for n in names) + 2
        lines = [f"{'figure':<26}" + "".join(f"{n:>{width}}" for n in names)]
        for label, values in self.rows():
            if all(v is None for v in values):
                continue
            cells = "".join(f"{'-' if v is None else f'{v:.3f}':>{width}}" for v in values)
            lines.append(f"{label:<26}{cells}")
        if self.served is not None and self.served_matches is None:
            lines.append("served vs in-process street2shop figures: not compared (the server "
                         "runs the int8 graph; `fashion-search bench --suite int8` compares it)")
        elif self.served is not None:
            verdict = "match" if self.served_matches else "DIFFER"
            lines.append(f"served vs in-process street2shop figures: {verdict} "
                         f"(tolerance {SERVED_TOLERANCE})")
        return "\n".join(lines)


def street_to_shop_set(source: Path, unseen: int, seed: int, limit: int | None) -> StreetToShop:
    pairs, _, held = load_pairs(source, unseen, seed, limit)
    position = {p.id: n for n, p in enumerate(pairs)}
    return StreetToShop([pair_items(p, source.name)[0] for p in held],
                        [pair_items(p, source.name)[1] for p in pairs],
                        [position[p.id] for p in held])


def category_set(source: Path, limit: int | None) -> CategorySet:
    items = open_catalog(source)
    queries = [i for i in items if (i.split or "").lower() == "test"]
    index = [i for i in items if (i.split or "").lower() != "test"]
    if not queries:
        raise CatalogError(f"{source}: category evaluation needs a test/ split beside train/")
    if limit:
        queries = queries[::max(1, len(queries) // limit)][:limit]
        index = index[::max(1, len(index) // (10 * limit))]
    return CategorySet(queries, index)


def score_street_to_shop(scores: np.ndarray, data: StreetToShop
                         ) -> tuple[dict[str, float], dict[int, float]]:
    """(recall@K and mAP, recall curve) from a (queries, gallery) score matrix."""
    ranked = sorted_relevance(scores, data.relevance())
    return (retrieval_report(ranked, RECALL_KS),
            {k: recall_at_k(ranked, k) for k in CURVE_KS if k <= len(data.gallery)})


def score_match_scale(scale: SameItemScale, queries: Features, gallery: Features,
                      data: StreetToShop, weight: float = colour.DEFAULT_WEIGHT
                      ) -> dict[str, float]:
    """The scale read as the search reads it, scored against the truth."""
    scores = ((queries.embeddings @ gallery.embeddings.T
               + weight * queries.colours @ gallery.colours.T) / (1.0 + weight))
    top = np.argsort(-scores, axis=1, kind="stable")[:, :SHOWN]
    said, right, right_item, wrong = [], [], [], []
    for row, (order, match) in enumerate(zip(top, data.matches)):
        chances = scale.read([float(scores[row, j]) for j in order], weight)
        said.append(chances[0])
        right.append(order[0] == match)
        if order[0] != match:
            wrong.append(chances[0])
        hit = np.flatnonzero(order == match)
        right_item.append(chances[hit[0]] if hit.size else 0.0)
    return dict(zip(MATCH_KEYS, (float(np.mean(said)), float(np.mean(right)),
                                 float(np.median(right_item)),
                                 float(np.mean(wrong)) if wrong else 0.0)))


def score_categories(queries: np.ndarray, index: np.ndarray, data: CategorySet) -> dict[str, float]:
    query_labels = np.array([i.category for i in data.queries])
    index_labels = np.array([i.category for i in data.index])
    ranked = sorted_relevance(queries @ index.T, query_labels[:, None] == index_labels[None, :])
    return {"precision@1": precision_at_k(ranked, 1), "precision@10": precision_at_k(ranked, 10)}


def score_classifier(probabilities: np.ndarray, labels: Sequence[str], data: CategorySet
                     ) -> dict[str, float]:
    """Top-1/top-3 over the test photos whose category the classifier knows."""
    index = {name.casefold(): n for n, name in enumerate(labels)}
    known = [(row, index[i.category.casefold()]) for row, i in enumerate(data.queries)
             if i.category.casefold() in index]
    if not known:
        return {}
    rows, truth = zip(*known)
    chosen = probabilities[list(rows)]
    return {"top-1": top_k_accuracy(chosen, truth, 1), "top-3": top_k_accuracy(chosen, truth, 3)}


def evaluate_model(name: str, loaded: LoadedModel, street: StreetToShop | None,
                   categories: CategorySet | None, progress: bool = True) -> ModelFigures:
    """Every in-process figure for one model."""
    figures = ModelFigures(name, loaded.version)
    embedder = OnnxEmbedder(loaded)
    try:
        if street is not None:
            queries = embedder.features(street.queries, f"{name}: street photos", progress)
            gallery = embedder.features(street.gallery, f"{name}: product photos", progress)
            figures.street2shop, figures.curve = score_street_to_shop(
                queries.embeddings @ gallery.embeddings.T, street)
            scale = SameItemScale.from_json(loaded.same_item)
            if scale is not None:
                figures.match = score_match_scale(scale, queries, gallery, street)
        if categories is not None:
            queries, probabilities = embedder.embed(categories.queries, f"{name}: test photos",
                                                    progress)
            index, _ = embedder.embed(categories.index, f"{name}: index photos", progress)
            figures.category = score_categories(queries, index, categories)
            if probabilities is not None:
                figures.classifier = score_classifier(probabilities, loaded.labels, categories)
    finally:
        embedder.close()
    log.info("%s: %s", name, asdict(figures))
    return figures


def trained_with(checkpoint: Path | None) -> dict[str, Any]:
    """The checkpoint's split (so unseen stays unseen) and starting backbone."""
    if checkpoint is None:
        return {}
    config = read_checkpoint(checkpoint).get("config", {})
    return {k: config[k] for k in ("unseen_pairs", "validation_pairs", "seed", "backbone", "weights")
            if k in config}


def evaluate(
    checkpoint: Path | None = None,
    backbone: str | None = None,
    weights: Path | None = None,
    pairs: str | None = None,
    categories: str | None = None,
    unseen_pairs: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    served: bool = False,
    out_dir: Path | None = None,
    progress: bool = True,
    settings: Settings | None = None,
) -> EvaluationReport:
    """Score the untuned backbone and the trained model side by side; write JSON, table, plot.

    ``checkpoint`` defaults to the trained model under the home folder; the
    data, split and untuned baseline default to the recipe that model was
    trained with (``""`` skips a data set). ``served`` also scores street-to-shop
    through the served path (Triton, then Milvus), which must agree with the
    in-process figures.
    """
    settings = settings or load_settings()
    recipe = TrainConfig()
    checkpoint = choose_model(checkpoint, settings=settings).checkpoint
    recipe_of = trained_with(checkpoint)
    split = {"unseen_pairs": unseen_pairs if unseen_pairs is not None
             else recipe_of.get("unseen_pairs", recipe.unseen_pairs),
             "seed": seed if seed is not None else recipe_of.get("seed", recipe.seed)}
    pairs = recipe.pairs[0] if pairs is None else pairs
    categories = recipe.categories[0] if categories is None else categories
    if backbone is None:  # the baseline is what the trained model started from
        backbone = recipe_of.get("backbone", recipe.backbone)
        weights = weights or recipe_of.get("weights")
    street = (street_to_shop_set(resolve_source(pairs, settings.data_dir), split["unseen_pairs"],
                                 split["seed"], limit) if pairs else None)
    category = (category_set(resolve_source(categories, settings.data_dir), limit)
                if categories else None)
    models = [("untuned", load_model(None, backbone, weights))]
    if checkpoint is not None:
        models.append(("trained", load_model(checkpoint)))
    report = EvaluationReport(
        [evaluate_model(name, loaded, street, category, progress) for name, loaded in models],
        setup={"checkpoint": str(checkpoint) if checkpoint else None, "baseline": backbone,
               **split, "limit": limit,
               "street2shop queries": len(street.queries) if street else 0,
               "street2shop gallery": len(street.gallery) if street else 0,
               "category queries": len(category.queries) if category else 0,
               "category index": len(category.index) if category else 0},
    )
    if served and street is not None:
        loaded = models[-1][1]
        scores = served_scores(loaded, checkpoint, street.queries, street.gallery, settings,
                               progress)
        report.served = ModelFigures("served (Triton+Milvus)", served_version(loaded, settings))
        report.served.street2shop, report.served.curve = score_street_to_shop(scores, street)
        in_process = report.models[-1].street2shop
        # the int8 graph is another model: `bench --suite int8` compares it with float
        report.served_matches = None if settings.int8 else all(
            abs(report.served.street2shop[k] - v) <= SERVED_TOLERANCE
            for k, v in in_process.items())
    write_report(report, Path(out_dir or settings.home / "evaluation"), settings)
    return report


def write_report(report: EvaluationReport, out_dir: Path, settings: Settings) -> None:
    """JSON with the setup, the table as text, and the recall curves as a plot."""
    save_resolved_config(out_dir / "evaluation.json", settings=settings, report=report)
    curves = {f.name: f.curve for f in report.models if f.curve}
    if report.served and report.served.curve:
        curves[report.served.name] = report.served.curve
    if curves:
        plot_recall_curves(curves, out_dir / "street2shop-recall.png")
    write_text_atomic(out_dir / "evaluation.txt", report.table() + "\n")
    log.info("evaluation written to %s", out_dir)
