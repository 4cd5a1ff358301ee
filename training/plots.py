"""Figures people would rather see than read: training curves, recall@K, the match scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fashion_search.same_item import SameItemScale


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, figure, path: Path) -> Path:
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_training(history: Sequence[Mapping], path: Path) -> Path:
    """Loss per epoch and validation figures per epoch, side by side."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = [h["epoch"] for h in history]
    for key in ("loss", "metric_loss", "classifier_loss"):
        if all(key in h for h in history):
            left.plot(epochs, [h[key] for h in history], marker="o", label=key.replace("_", " "))
    left.set(title="training loss", xlabel="epoch")
    left.legend()
    for key in sorted({k for h in history for k in h.get("validation", {})}):
        right.plot(epochs, [h["validation"].get(key) for h in history], marker="o", label=key)
    right.set(title="validation", xlabel="epoch", ylim=(0, 1))
    right.legend()
    return _save(plt, figure, path)


def plot_recall_curves(curves: Mapping[str, Mapping[int, float]], path: Path,
                       title: str = "street-to-shop recall@K") -> Path:
    """One recall@K line per model."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    styles = ["-o", "-s", "--x", ":^"]
    for (name, curve), style in zip(curves.items(), styles * len(curves)):
        ks = sorted(curve)
        axis.plot(ks, [curve[k] for k in ks], style, label=name)
    ks = sorted({k for curve in curves.values() for k in curve})
    axis.set(title=title, xlabel="K", ylabel="recall@K", ylim=(0, 1), xscale="log")
    axis.set_xticks(ks, [str(k) for k in ks])
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(plt, figure, path)


def plot_by_weight(rows: Mapping[str, Mapping[str, float]], path: Path,
                   title: str = "quality by colour weight") -> Path:
    """One line per figure, colour weight on the x axis."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 5))
    for name, values in rows.items():
        weights = sorted(values, key=float)
        axis.plot([float(w) for w in weights], [values[w] for w in weights], "-o", label=name)
    axis.set(title=title, xlabel="colour weight", ylabel="share", ylim=(0, 1))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return _save(plt, figure, path)


def plot_match_scale(scale: SameItemScale, weight: float, path: Path) -> Path:
    """The street match scale: the chance of the right product by score, one line per rank
    group, at the colour weight searches use by default."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    n = min(range(len(scale.weights)), key=lambda i: abs(scale.weights[i] - weight))
    ends = [*scale.ranks[1:], None]
    for group, (first, end) in enumerate(zip(scale.ranks, ends)):
        label = (f"rank {first}" if end == first + 1
                 else f"ranks {first}-{end - 1}" if end else f"ranks {first}+")
        axis.plot(scale.knots[n][group], scale.chances[n][group], "-o", markersize=3,
                  label=label)
    axis.set(title=f"chance of the same item (colour weight {scale.weights[n]:g}, "
                   f"{scale.gallery:,} products)", xlabel="score", ylabel="chance", ylim=(0, 1))
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(plt, figure, path)


def plot_by_class(rows: Mapping[str, Mapping[str, float]], path: Path,
                  title: str = "category precision@10 by class") -> Path:
    """Grouped bars: one group per class, one bar per set of photos."""
    plt = _pyplot()
    classes = sorted({c for values in rows.values() for c in values})
    figure, axis = plt.subplots(figsize=(10, 5))
    width = 0.8 / max(1, len(rows))
    for n, (name, values) in enumerate(rows.items()):
        axis.bar([x + n * width for x in range(len(classes))],
                 [values.get(c, 0.0) for c in classes], width, label=name)
    axis.set_xticks([x + 0.4 - width / 2 for x in range(len(classes))], classes, rotation=30)
    axis.set(title=title, ylabel="precision@10", ylim=(0, 1))
    axis.grid(alpha=0.3, axis="y")
    axis.legend(fontsize=7)
    return _save(plt, figure, path)


def plot_boxes_by_kind(rows: Sequence[Mapping], path: Path,
                       title: str = "garment finder on the reporting tenth") -> Path:
    """Box recall and precision per garment kind, as paired bars."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 4))
    kinds = [r["kind"] for r in rows]
    at = range(len(kinds))
    for offset, key in ((-0.2, "recall"), (0.2, "precision")):
        axis.bar([i + offset for i in at], [r[key] or 0.0 for r in rows], width=0.4, label=key)
    axis.set_xticks(list(at), [f"{k}\n({r['garments']})" for k, r in zip(kinds, rows)])
    axis.set(title=f"{title} (IoU 0.5; garments in brackets)", ylim=(0, 1))
    axis.grid(alpha=0.3, axis="y")
    axis.legend()
    return _save(plt, figure, path)
