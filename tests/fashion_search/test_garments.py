"""Garment kinds, the finder's outputs read as boxes on the photo, and the garment chosen."""

import io

import numpy as np
import pytest
from PIL import Image

from fashion_search.errors import ImageError, UnknownLabel
from fashion_search.garments import (
    CLASSES,
    FINDER_PREPROCESSING,
    GROUPS,
    KINDS,
    Garment,
    choose_garment,
    class_of,
    crop_box,
    kind_of_category,
    read_garments,
    square_to_photo,
    with_whole,
)

pytestmark = pytest.mark.unit

STREET_LABELS = [
    "accessories", "bag", "belt", "blazer", "blouse", "bodysuit", "boots", "bra", "bracelet",
    "cape", "cardigan", "clogs", "coat", "dress", "earrings", "flats", "glasses", "gloves",
    "hat", "heels", "hoodie", "intimate", "jacket", "jeans", "jumper", "leggings", "loafers",
    "necklace", "panties", "pants", "pumps", "purse", "ring", "romper", "sandals", "scarf",
    "shirt", "shoes", "shorts", "skirt", "sneakers", "socks", "stockings", "suit",
    "sunglasses", "sweater", "sweatshirt", "swimwear", "t-shirt", "tie", "tights", "top",
    "vest", "wallet", "watch", "wedges",
]


def test_every_street_label_has_one_class_and_no_label_two_kinds():
    assert len(STREET_LABELS) == 56
    grouped = [label for labels in GROUPS.values() for label in labels]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) <= set(STREET_LABELS)
    assert {class_of(label) for label in STREET_LABELS} <= set(CLASSES)
    assert class_of("blouse") == class_of("t-shirt") == "tops"
    assert class_of("heels") == class_of("boots") == "shoes"
    assert class_of("necklace") == class_of("tights") == "other"
    assert class_of("skin") == class_of("hair") == "person"
    assert class_of("null") == "background"


@pytest.mark.parametrize("category, kind", [
    ("Tshirts", "tops"), ("t-shirt", "tops"), ("Sweatshirts", "tops"), ("Jackets", "outerwear"),
    ("outwear", "outerwear"), ("Casual Shoes", "shoes"), ("Heels", "shoes"), ("Jeans", "trousers"),
    ("Track Pants", "trousers"), ("Skirts", "skirts"), ("Handbags", "bags"), ("Caps", "hats"),
    ("Dresses", "dresses"), ("Shorts", "shorts"), ("Watches", None), (None, None)])
def test_a_catalogue_category_names_the_kind_it_sells(category, kind):
    assert kind_of_category(category) == kind


def test_a_box_on_the_padded_square_lands_on_the_photo_it_came_from():
    size = FINDER_PREPROCESSING.size
    # a 330x499 photo fills the square's height; its width is centred with padding each side
    width, height = 330, 499
    new_w = round(width * size / height)
    pad = (size - new_w) // 2
    box = [pad / size, 0.0, (pad + new_w) / size, 1.0]  # the whole photo
    assert square_to_photo(box, width, height, FINDER_PREPROCESSING) == (0, 0, width, height)
    # the middle of the square is the middle of the photo, whatever its shape
    left, top, right, bottom = square_to_photo([0.4, 0.4, 0.6, 0.6], 499, 330,
                                               FINDER_PREPROCESSING)
    assert abs((left + right) / 2 - 499 / 2) <= 1 and abs((top + bottom) / 2 - 330 / 2) <= 1


def test_only_confident_garments_large_enough_are_reported_largest_first():
    kinds = len(KINDS)
    boxes = np.tile(np.array([[0.3, 0.1, 0.7, 0.5]], np.float32), (kinds, 1))
    scores = np.zeros(kinds, np.float32)
    shares = np.zeros(kinds, np.float32)
    tops, shoes, hats = KINDS.index("tops"), KINDS.index("shoes"), KINDS.index("hats")
    scores[[tops, shoes, hats]] = 0.9, 0.8, 0.3  # hats below the threshold
    shares[[tops, shoes, hats]] = 0.10, 0.20, 0.05
    found = read_garments(boxes, scores, shares, 330, 499, FINDER_PREPROCESSING,
                          threshold=0.5, min_share=0.01)
    assert [g.kind for g in found] == ["shoes", "tops"]
    # a share of the square is read as a share of the photo, which covers only part of it
    assert found[0].share > 0.20
    assert all(g.photo_size == (330, 499) for g in found)
    assert read_garments(boxes, scores, shares, 330, 499, FINDER_PREPROCESSING, threshold=0.5,
                         min_share=0.5) == []


def _garment(kind: str, share: float) -> Garment:
    return Garment(kind, (10, 10, 100, 100), 0.9, share, (330, 499))


def test_auto_searches_the_categorys_kind_else_the_largest():
    found = [_garment("dresses", 0.3), _garment("shoes", 0.05)]
    assert choose_garment(found).kind == "dresses"
    assert choose_garment(found, "auto", category="Heels").kind == "shoes"
    assert choose_garment(found, "auto", category="Watches").kind == "dresses"
    assert choose_garment(found, "auto", category="Jeans").kind == "dresses"  # none found
    assert choose_garment(found, "Shoes").kind == "shoes"


def test_asking_for_a_garment_the_photo_lacks_says_what_it_shows():
    with pytest.raises(ImageError, match="no hats.*found dresses, shoes"):
        choose_garment([_garment("dresses", 0.3), _garment("shoes", 0.05)], "hats")
    with pytest.raises(ImageError, match="no garment"):
        choose_garment([], "auto")
    with pytest.raises(UnknownLabel, match="unknown garment 'hat'.*tops"):
        choose_garment([_garment("hats", 0.1)], "hat")


def test_a_crop_grows_by_its_margin_within_the_photo():
    out = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(out, format="PNG")
    cropped = Image.open(io.BytesIO(crop_box(out.getvalue(), (50, 20, 150, 80), margin=0.1)))
    assert cropped.size == (120, 72)
    edge = Image.open(io.BytesIO(crop_box(out.getvalue(), (0, 0, 200, 100), margin=0.5)))
    assert edge.size == (200, 100)
    with pytest.raises(ImageError, match="outside"):
        crop_box(out.getvalue(), (300, 300, 400, 400))


def test_a_crop_blended_with_its_whole_photo_is_a_unit_vector_between_the_two():
    rng = np.random.default_rng(0)
    crop, whole = (v / np.linalg.norm(v, axis=1, keepdims=True)
                   for v in rng.normal(size=(2, 3, 16)).astype(np.float32))
    blended = with_whole(crop, whole)
    assert blended.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(blended, axis=1), 1.0, rtol=1e-6)
    # halfway: as close to the crop as to the whole photo, and closer to each than they are
    to_crop, to_whole = (np.sum(blended * v, axis=1) for v in (crop, whole))
    np.testing.assert_allclose(to_crop, to_whole, rtol=1e-5)
    assert (to_crop > np.sum(crop * whole, axis=1)).all()
    np.testing.assert_allclose(with_whole(crop, whole, 0.0), crop, rtol=1e-6)
    np.testing.assert_allclose(with_whole(crop, whole, 1.0), whole, rtol=1e-6)
