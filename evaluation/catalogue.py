"""Quality a shopper sees: colour agreement, recall by colour weight, auto-category accuracy.

Everything runs in-process on the exported graph and the server's own colour
descriptor, on photos kept out of the index: a tenth of the product catalogue
for choosing (``validation``), another tenth reported once (``test``); the
unseen street-to-shop pairs; clothing-dataset-small ``validation/`` (choosing)
and ``test/`` (reported once); and the ten classes in other framings (worn
garments, studio products: ``training/other_photos.py``), by class. Scores are
computed exactly as a flat Milvus index ranks them (see ``vectordb/vectors.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashion_search.catalog import CatalogItem, hash_split, open_catalog
from fashion_search.category_vote import NEIGHBOURS, PRIOR_WEIGHT, TEMPERATURE, vote
from fashion_search.checkpoint import choose_model, load_model
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.evaluation.evaluate import street_to_shop_set, trained_with
from fashion_search.export.embedder import OnnxEmbedder
from fashion_search.features import Features
from fashion_search.files import write_text_atomic
from fashion_search.training.data import resolve_source
from fashion_search.training.metrics import recall_at_k, sorted_relevance
from fashion_search.training.other_photos import other_photo_sets
from fashion_search.training.plots import plot_by_class, plot_by_weight

log = logging.getLogger(__name__)

WEIGHTS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3)
RERANK_DEPTH = 100
PRIOR_TRIED = 0.3  # the classifier prior's weight reported beside the default
COLOUR_COLUMN = "baseColour"
VOTE_GRID = {"neighbours": (10, 20, 50), "temperature": (0.02, 0.05, 0.1),
             "prior_weight": (0.0, 0.3, 0.6)}


@dataclass
class CatalogueReport:
    setup: dict[str, Any] = field(default_factory=dict)
    colour: dict[str, dict[str, float]] = field(default_factory=dict)  # row -> weight -> value
    category: dict[str, float] = field(default_factory=dict)
    vote_grid: list[dict[str, float]] = field(default_factory=list)
    by_class: dict[str, dict[str, float]] = field(default_factory=dict)  # set -> class -> P@10

    def table(self) -> str:
        lines = [f"{'by colour weight':<44}" + "".join(f"{w:>7g}" for w in WEIGHTS)]
        for name, values in self.colour.items():
            lines.append(f"{name:<44}" + "".join(f"{values.get(str(w), float('nan')):7.3f}"
                                                 for w in WEIGHTS))
        lines.append("")
        lines.extend(f"{name:<52}{value:7.3f}" for name, value in self.category.items())
        if self.by_class:
            classes = sorted({c for values in self.by_class.values() for c in values})
            lines += ["", f"{'precision@10 by class':<44}" + "".join(f"{c[:10]:>11}"
                                                                     for c in classes)]
            lines.extend(f"{name:<44}" + "".join(f"{values.get(c, float('nan')):11.3f}"
                                                 for c in classes)
                         for name, values in self.by_class.items())
        return "\n".join(lines)


def held_out(items: Sequence[CatalogItem]
             ) -> tuple[list[CatalogItem], list[CatalogItem], list[CatalogItem]]:
    """(index, validation, test) by the catalogue's stable hash split (training uses it too)."""
    parts: dict[str, list[CatalogItem]] = {"train": [], "validation": [], "test": []}
    for item in items:
        parts[hash_split(item.id)].append(item)
    return parts["train"], parts["validation"], parts["test"]


def blended(queries: Features, index: Features, weight: float) -> np.ndarray:
    """Scores as the catalogue ranks them: embedding plus ``weight`` x colour similarity."""
    scores = queries.embeddings @ index.embeddings.T
    if weight:
        scores = scores + weight * (queries.colours @ index.colours.T)
    return scores


def reranked(queries: Features, index: Features, weight: float, depth: int = RERANK_DEPTH
             ) -> np.ndarray:
    """The other way to add colour: re-rank the embedding's top ``depth`` only."""
    shape = queries.embeddings @ index.embeddings.T
    full = blended(queries, index, weight)
    top = np.argpartition(-shape, min(depth, shape.shape[1] - 1), axis=1)[:, :depth]
    scores = np.full_like(full, -np.inf)
    np.put_along_axis(scores, top, np.take_along_axis(full, top, axis=1), axis=1)
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _shares(scores: np.ndarray, query_labels: Sequence[str], index_labels: Sequence[str],
            k: int) -> np.ndarray:
    """Per query, the share of its top ``k`` that carry its label."""
    found = np.asarray(index_labels)[top_k(scores, k)]
    return (found == np.asarray(query_labels)[:, None]).mean(axis=1)


def label_agreement(scores: np.ndarray, query_labels: Sequence[str], index_labels: Sequence[str],
                    k: int = 10) -> float:
    """Mean share of each query's top ``k`` that carry its label."""
    return float(_shares(scores, query_labels, index_labels, k).mean())


def agreement_by_label(scores: np.ndarray, query_labels: Sequence[str],
                       index_labels: Sequence[str], k: int = 10) -> dict[str, float]:
    """:func:`label_agreement` per query label: which classes another framing breaks."""
    shares, wanted = _shares(scores, query_labels, index_labels, k), np.asarray(query_labels)
    return {label: float(shares[wanted == label].mean()) for label in sorted(set(query_labels))}


def vote_accuracy(queries: Features, index: Features, index_categories: Sequence[str],
                  truth: Sequence[str], labels: Sequence[str], neighbours: int = NEIGHBOURS,
                  temperature: float = TEMPERATURE, prior_weight: float = PRIOR_WEIGHT) -> float:
    """Share of queries whose top voted category is their own."""
    scores = queries.embeddings @ index.embeddings.T
    nearest = top_k(scores, neighbours)
    known = sorted(set(index_categories))
    right = 0
    for row, (found, wanted) in enumerate(zip(nearest, truth)):
        prior = (dict(zip(labels, queries.probabilities[row]))
                 if queries.probabilities is not None and prior_weight else None)
        ranked = vote([index_categories[i] for i in found], scores[row, found], prior, known,
                      temperature, prior_weight)
        right += bool(ranked) and ranked[0][0] == wanted
    return right / max(1, len(truth))


def classifier_accuracy(queries: Features, truth: Sequence[str], labels: Sequence[str]
                        ) -> float | None:
    """The classifier alone, where its labels are the catalogue's categories."""
    if queries.probabilities is None:
        return None
    names = {label.casefold(): n for n, label in enumerate(labels)}
    if not all(t.casefold() in names for t in truth):
        return None
    chosen = np.argmax(queries.probabilities, axis=1)
    return float(np.mean([chosen[i] == names[t.casefold()] for i, t in enumerate(truth)]))


def _colour_rows(report: CatalogueReport, products: dict[str, tuple], street) -> None:
    index, index_items = products["index"]
    for split in ("validation", "test"):
        queries, items = products[split]
        wanted = [i.labels.get(COLOUR_COLUMN, "") for i in items]
        have = [i.labels.get(COLOUR_COLUMN, "") for i in index_items]
        for how, scorer in (("weighted", blended), (f"re-rank top {RERANK_DEPTH}", reranked)):
            report.colour[f"products {split}: colour agreement@10, {how}"] = {
                str(w): label_agreement(scorer(queries, index, w), wanted, have) for w in WEIGHTS}
        report.colour[f"products {split}: articleType agreement@10"] = {
            str(w): label_agreement(blended(queries, index, w), [i.category for i in items],
                                    [i.category for i in index_items]) for w in WEIGHTS}
    if street is not None:
        queries, gallery, data = street
        relevant = data.relevance()
        for k in (1, 10):
            report.colour[f"street2shop unseen pairs: recall@{k}"] = {
                str(w): recall_at_k(sorted_relevance(blended(queries, gallery, w), relevant), k)
                for w in WEIGHTS}


def _category_rows(report: CatalogueReport, sets: dict[str, tuple], labels: Sequence[str]
                   ) -> None:
    for name, (queries, items, index, index_items, choose) in sets.items():
        truth = [i.category for i in items]
        categories = [i.category for i in index_items]
        report.category[f"{name}: auto-category, default vote"] = vote_accuracy(
            queries, index, categories, truth, labels)
        report.category[f"{name}: auto-category, vote alone"] = vote_accuracy(
            queries, index, categories, truth, labels, prior_weight=0.0)
        report.category[f"{name}: auto-category, vote + prior {PRIOR_TRIED:g}"] = vote_accuracy(
            queries, index, categories, truth, labels, prior_weight=PRIOR_TRIED)
        alone = classifier_accuracy(queries, truth, labels)
        if alone is not None:
            report.category[f"{name}: auto-category, classifier alone"] = alone
        report.category[f"{name}: category precision@10"] = label_agreement(
            blended(queries, index, 0.0), truth, categories)
        if choose:
            for n in VOTE_GRID["neighbours"]:
                for t in VOTE_GRID["temperature"]:
                    for p in VOTE_GRID["prior_weight"]:
                        report.vote_grid.append({
                            "set": name, "neighbours": n, "temperature": t, "prior_weight": p,
                            "accuracy": vote_accuracy(queries, index, categories, truth, labels,
                                                      n, t, p)})


def evaluate_catalogue(
    checkpoint: Path | None = None, products: str = "fashion-product-images",
    categories: str = "clothing-dataset-small", pairs: str = "street2shop-dev",
    worn: str = "ccp-street", out_dir: Path | None = None, progress: bool = True,
    settings: Settings | None = None,
) -> CatalogueReport:
    """Colour and auto-category figures for the chosen model; writes JSON, table and plot."""
    settings = settings or load_settings()
    checkpoint = choose_model(checkpoint, settings=settings).checkpoint
    loaded = load_model(checkpoint)
    recipe_of = trained_with(checkpoint)
    embedder = OnnxEmbedder(loaded)
    report = CatalogueReport(setup={"model": loaded.version, "checkpoint": str(checkpoint)})
    try:
        def embed(items, desc):
            return embedder.features(items, desc, progress), items

        catalogue = held_out(open_catalog(resolve_source(products, settings.data_dir)))
        product_sets = {name: embed(items, f"products ({name})")
                        for name, items in zip(("index", "validation", "test"), catalogue)}
        street = None
        if pairs:
            data = street_to_shop_set(resolve_source(pairs, settings.data_dir),
                                      recipe_of.get("unseen_pairs", 500), recipe_of.get("seed", 0),
                                      None)
            street = (embed(data.queries, "street photos")[0],
                      embed(data.gallery, "product photos")[0], data)
        _colour_rows(report, product_sets, street)
        clothing = open_catalog(resolve_source(categories, settings.data_dir))
        by_split = {s: [i for i in clothing if (i.split or "").lower() == s]
                    for s in ("train", "validation", "test")}
        train = embed(by_split["train"], "clothing train/")
        val = embed(by_split["validation"], "clothing validation/")
        test = embed(by_split["test"], "clothing test/")
        both = (Features(np.concatenate([train[0].embeddings, val[0].embeddings]),
                         np.concatenate([train[0].colours, val[0].colours])),
                train[1] + val[1])
        index, index_items = product_sets["index"]
        sets = {
            "products validation": (*product_sets["validation"], index, index_items, True),
            "products test": (*product_sets["test"], index, index_items, False),
            "clothing validation/ vs train/": (*val, *train, True),
            "clothing test/ vs train/+validation/": (*test, *both, False),
        }
        others = other_photo_sets(
            resolve_source(products, settings.data_dir) if products else None,
            resolve_source(worn, settings.data_dir) if worn else None)
        for name, items in others.items():
            sets[f"{name} vs clothing train/+validation/"] = (*embed(items, name), *both, False)
        _category_rows(report, sets, loaded.labels)
        for name, (queries, items, index, index_items, _) in sets.items():
            if "clothing" in name:  # the ten classes, whichever photos ask
                shares = agreement_by_label(blended(queries, index, 0.0),
                                            [i.category for i in items],
                                            [i.category for i in index_items])
                report.by_class[name.split(" vs ")[0]] = shares
                report.category[f"{name}: precision@10, mean over classes"] = float(
                    np.mean(list(shares.values())))
        report.setup.update({name: len(items) for name, items in others.items()})
        report.setup.update({name: len(items) for name, (_, items) in product_sets.items()})
    finally:
        embedder.close()
    out_dir = Path(out_dir or settings.home / "evaluation")
    save_resolved_config(out_dir / "catalogue.json", settings=settings, report=report)
    write_text_atomic(out_dir / "catalogue.txt", report.table() + "\n")
    plot_by_weight(report.colour, out_dir / "colour-weight.png")
    if report.by_class:
        plot_by_class(report.by_class, out_dir / "category-by-class.png")
    log.info("catalogue evaluation written to %s", out_dir)
    return report
