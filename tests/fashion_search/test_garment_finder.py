"""The garment finder's graph: boxes from its label map, and its checkpoint."""

import pytest
import torch

from fashion_search.errors import CheckpointError
from fashion_search.garment_finder import GarmentFinder, kind_boxes, load_finder, save_finder
from fashion_search.garments import CLASSES, KINDS, FinderSettings

pytestmark = pytest.mark.unit


def _label_map(height=40, width=40) -> torch.Tensor:
    logits = torch.zeros(1, len(CLASSES), height, width)
    logits[:, CLASSES.index("background")] = 5.0
    return logits


def test_a_kinds_box_spans_its_patches_and_ignores_a_stray_one():
    logits = _label_map()
    tops = CLASSES.index("tops")
    logits[0, tops, 10:20, 20:30] = 10.0
    logits[0, tops, 35, 2] = 10.0  # one stray patch far away
    boxes, scores, shares = kind_boxes(logits)
    k = KINDS.index("tops")
    assert boxes.shape == (1, len(KINDS), 4)
    assert torch.allclose(boxes[0, k], torch.tensor([20 / 40, 10 / 40, 30 / 40, 20 / 40]))
    assert scores[0, k] > 0.99
    assert shares[0, k] == pytest.approx(101 / 1600)
    others = [i for i in range(len(KINDS)) if i != k]
    assert torch.all(scores[0, others] == 0)


def test_a_kind_split_in_two_gets_one_box_over_both_as_the_street_photos_draw_them():
    logits = _label_map()
    shoes = CLASSES.index("shoes")
    logits[0, shoes, 30:34, 5:10] = 10.0
    logits[0, shoes, 31:35, 20:25] = 10.0
    boxes, _, _ = kind_boxes(logits)
    assert torch.allclose(boxes[0, KINDS.index("shoes")],
                          torch.tensor([5 / 40, 30 / 40, 25 / 40, 35 / 40]))


def test_a_one_piece_kinds_box_leaves_out_a_second_cluster_of_its_patches():
    logits = _label_map()
    bags = CLASSES.index("bags")
    logits[0, bags, 20:30, 5:10] = 10.0  # the bag
    logits[0, bags, 22:26, 30:33] = 10.0  # its colour on the other hand
    k = KINDS.index("bags")
    spanning, _, _ = kind_boxes(logits)
    assert torch.allclose(spanning[0, k], torch.tensor([5 / 40, 20 / 40, 33 / 40, 30 / 40]))
    boxes, _, shares = kind_boxes(logits, gap=1)
    assert torch.allclose(boxes[0, k], torch.tensor([5 / 40, 20 / 40, 10 / 40, 30 / 40]))
    assert shares[0, k] == pytest.approx(62 / 1600)  # the share still counts every patch


def test_a_gap_of_up_to_gap_lines_joins_the_parts_of_a_one_piece_kind():
    logits = _label_map()
    bags = CLASSES.index("bags")
    logits[0, bags, 20:30, 5:10] = 10.0
    logits[0, bags, 20:30, 11:14] = 10.0  # past a strap one column wide
    k = KINDS.index("bags")
    assert torch.allclose(kind_boxes(logits, gap=0)[0][0, k],
                          torch.tensor([5 / 40, 20 / 40, 10 / 40, 30 / 40]))
    assert torch.allclose(kind_boxes(logits, gap=1)[0][0, k],
                          torch.tensor([5 / 40, 20 / 40, 14 / 40, 30 / 40]))


def test_a_coat_open_over_a_top_keeps_both_halves_in_its_box():
    logits = _label_map()
    coat, tops = CLASSES.index("outerwear"), CLASSES.index("tops")
    logits[0, coat, 10:30, 8:14] = 10.0
    logits[0, coat, 10:30, 20:26] = 10.0
    logits[0, tops, 10:25, 14:20] = 10.0
    boxes, _, _ = kind_boxes(logits, gap=0)
    assert torch.allclose(boxes[0, KINDS.index("outerwear")],
                          torch.tensor([8 / 40, 10 / 40, 26 / 40, 30 / 40]))
    assert torch.allclose(boxes[0, KINDS.index("tops")],
                          torch.tensor([14 / 40, 10 / 40, 20 / 40, 25 / 40]))


def test_a_finder_saved_loads_with_its_settings_and_gives_the_same_boxes(tmp_path):
    torch.manual_seed(0)
    model = GarmentFinder(FinderSettings(width=16, threshold=0.42, version="garments-test"))
    model.eval()
    path = save_finder(model, tmp_path / "finder.pt")
    loaded = load_finder(path)
    assert loaded.settings == model.settings
    pixels = torch.randn(2, *model.settings.preprocessing.input_shape)
    with torch.no_grad():
        for a, b in zip(model(pixels), loaded(pixels)):
            assert torch.equal(a, b)
    assert not list(tmp_path.glob("*.partial"))


def test_a_file_that_is_no_finder_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(CheckpointError, match="train-garments"):
        load_finder(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a garment finder"):
        load_finder(tmp_path / "junk.pt")
