"""Other framings of the ten classes: studio products and garments as worn in the street."""

import io

import numpy as np
import pytest
from PIL import Image

from fashion_search.catalog import hash_split
from fashion_search.evaluation.catalogue import agreement_by_label
from fashion_search.training.other_photos import (
    CHOOSING_PER_CLASS,
    MIN_SHARE,
    PRODUCT_CLASSES,
    WORN_CLASSES,
    other_photo_sets,
    worn_garments,
)

from ..conftest import DATA, require

pytestmark = pytest.mark.unit
CLASSES = {"dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt",
           "t-shirt"}


def street_folder(tmp_path, rows, size=(100, 200)):
    (tmp_path / "photos").mkdir()
    Image.new("RGB", size, (200, 10, 10)).save(tmp_path / "photos" / "0001.jpg")
    lines = ["photo,label,x0,y0,x1,y1,pixels"] + [f"0001.jpg,{r}" for r in rows]
    (tmp_path / "boxes.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_the_maps_name_only_the_ten_training_classes():
    assert set(PRODUCT_CLASSES.values()) == CLASSES
    assert set(WORN_CLASSES.values()) == CLASSES
    assert "blouse" not in WORN_CLASSES and "Tops" not in PRODUCT_CLASSES  # shirt or t-shirt


def test_worn_garments_keep_mapped_boxes_big_enough_with_a_margin_inside_the_photo(tmp_path):
    folder = street_folder(tmp_path, ["skirt,10,20,60,120,3000", "blouse,0,0,100,100,9000",
                                      "hat,40,0,50,10,60", "jeans,0,100,100,200,9000"])
    both = worn_garments(folder, "validation") + worn_garments(folder, "test")
    assert [(i.category, i.labels["label"]) for i in both] == [("skirt", "skirt"),
                                                               ("pants", "jeans")]
    skirt, jeans = both
    assert skirt.bbox == (5, 10, 65, 130)  # a tenth of the box each side
    assert jeans.bbox == (0, 90, 100, 200)  # clipped to the photo
    assert MIN_SHARE * 100 * 200 > (10 * 10)  # the hat was too small to keep
    assert hash_split("0001") in (("test",) if skirt.split == "test" else ("train", "validation"))
    cropped = Image.open(io.BytesIO(skirt.read_bytes()))
    assert cropped.size == (60, 120)


def test_other_photo_sets_keep_the_report_tenth_apart_and_balance_the_choosing_sets():
    data = require(DATA)
    sets = other_photo_sets(data / "fashion-product-images", data / "ccp-street")
    assert list(sets) == ["products as classes (choosing)", "worn garments (choosing)",
                          "products as classes (report once)", "worn garments (report once)"]
    for kind in ("products as classes", "worn garments"):
        choosing, once = sets[f"{kind} (choosing)"], sets[f"{kind} (report once)"]
        assert not {i.id for i in choosing} & {i.id for i in once}
        counts = np.unique([i.category for i in choosing], return_counts=True)[1]
        assert counts.max() == CHOOSING_PER_CLASS
    assert {i.category for i in sets["worn garments (choosing)"]} == CLASSES
    # products may train as the classes from their catalogue's training part: never chosen on
    assert {hash_split(i.id) for i in sets["products as classes (choosing)"]} == {"validation"}
    photo_ids = [i.id.split("/")[1] for i in sets["worn garments (report once)"]]
    assert {hash_split(p) for p in photo_ids} == {"test"}


def test_agreement_by_label_is_the_share_of_each_class_queries_top_k_with_its_label():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.9, 0.8], [0.9, 0.1, 0.8]])
    shares = agreement_by_label(scores, ["a", "b", "b"], ["a", "b", "a"], k=2)
    assert shares == {"a": 0.5, "b": 0.25}  # b: half of one top 2, none of the other
