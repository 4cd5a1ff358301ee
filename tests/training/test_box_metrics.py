"""Box recall and precision by kind: what counts as found, reported and right."""

import pytest

from fashion_search.garments import Garment
from fashion_search.training.box_metrics import f1, iou, score_boxes
from fashion_search.training.garment_data import KindBox

pytestmark = pytest.mark.unit


def _found(kind, box, share=0.1):
    return Garment(kind, box, 0.9, share, (100, 100))


def test_iou_of_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_a_garment_counts_when_large_and_is_found_by_its_kind_at_iou_half():
    truth = {"a.jpg": {"tops": KindBox((0, 0, 50, 50), 0.25), "hats": KindBox((0, 0, 5, 5), 0.01),
                       "shoes": KindBox((60, 80, 90, 100), 0.05)}}
    found = {"a.jpg": [_found("tops", (0, 0, 50, 40)),          # IoU 0.8: right
                       _found("trousers", (60, 80, 90, 100)),   # wrong kind on the shoes
                       _found("hats", (0, 0, 5, 5), 0.01)]}     # under 2%: not counted
    rows = {r["kind"]: r for r in score_boxes(truth, found)}
    assert rows["tops"]["found"] == 1 and rows["tops"]["precision"] == 1.0
    assert rows["shoes"]["garments"] == 1 and rows["shoes"]["recall"] == 0.0
    assert rows["trousers"]["reported"] == 1 and rows["trousers"]["right"] == 0
    assert "hats" not in rows  # neither a garment of 2% nor reported at 2%
    total = rows["all"]
    assert (total["garments"], total["found"], total["reported"], total["right"]) == (2, 1, 2, 1)
    assert f1(score_boxes(truth, found)) == pytest.approx(0.5)
