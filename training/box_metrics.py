"""Box recall and precision by garment kind, as the finder is judged.

A garment of the truth counts when it covers at least ``min_share`` of its photo;
it is found when the finder reports the same kind with a box overlapping it at
IoU 0.5 or more. A reported garment of at least ``min_share`` is right when it
so overlaps the truth's garment of its kind (of any size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fashion_search.garments import KINDS, Garment
from fashion_search.training.garment_data import KindBox

IOU = 0.5
MIN_SHARE = 0.02


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score_boxes(truth: Mapping[str, Mapping[str, KindBox]],
                found: Mapping[str, Sequence[Garment]], min_share: float = MIN_SHARE,
                threshold: float = IOU) -> list[dict]:
    """Rows per kind and one for all kinds: garments, found, recall, reported, right, precision."""
    counts = {kind: [0, 0, 0, 0] for kind in KINDS}  # garments, found, reported, right
    for photo, garments in found.items():
        expected = truth.get(photo, {})
        for kind, box in expected.items():
            if box.share >= min_share:
                counts[kind][0] += 1
                counts[kind][1] += any(g.kind == kind and iou(g.box, box.box) >= threshold
                                       for g in garments)
        for garment in garments:
            if garment.share < min_share:
                continue
            counts[garment.kind][2] += 1
            other = expected.get(garment.kind)
            counts[garment.kind][3] += other is not None and iou(garment.box, other.box) >= threshold
    rows = [_row(kind, *c) for kind, c in counts.items() if c[0] or c[2]]
    rows.append(_row("all", *(sum(c[i] for c in counts.values()) for i in range(4))))
    return rows


def _row(kind: str, garments: int, hits: int, reported: int, right: int) -> dict:
    return {"kind": kind, "garments": garments, "found": hits,
            "recall": round(hits / garments, 4) if garments else None,
            "reported": reported, "right": right,
            "precision": round(right / reported, 4) if reported else None}


def f1(rows: Sequence[dict]) -> float:
    total = rows[-1]
    recall, precision = total["recall"] or 0.0, total["precision"] or 0.0
    return 2 * recall * precision / (recall + precision) if recall + precision else 0.0
