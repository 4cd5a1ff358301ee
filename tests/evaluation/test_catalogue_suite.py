"""The catalogue suite end to end on a small folder of real photos in each layout."""

import csv
import json

import pytest
from PIL import Image

from fashion_search.catalog import hash_split
from fashion_search.evaluation.catalogue import evaluate_catalogue
from fashion_search.training.other_photos import MIN_SHARE

from ..conftest import DATA, require

pytestmark = pytest.mark.integration
CLASSES = ("pants", "shoes")
ARTICLES = {"Jeans": "pants", "Casual Shoes": "shoes", "Watches": None}


def area(path):
    with Image.open(path) as image:
        return image.width * image.height


def small_data(root):
    """Real photos, linked: clothing splits, products by article type, street boxes."""
    data = require(DATA)
    for split, count in (("train", 6), ("validation", 3), ("test", 3)):
        for name in CLASSES:
            folder = root / "clothing" / split / name
            folder.mkdir(parents=True)
            for photo in sorted((data / "clothing-dataset-small" / split / name).iterdir())[:count]:
                (folder / photo.name).symlink_to(photo)
    products = root / "products"
    (products / "images").mkdir(parents=True)
    with (data / "fashion-product-images" / "styles.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows, per_part = [], {}
        for row in reader:
            key = (row["articleType"], hash_split(row["id"]))
            if row["articleType"] in ARTICLES and per_part.get(key, 0) < 3:
                per_part[key] = per_part.get(key, 0) + 1
                rows.append(row)
    with (products / "styles.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, reader.fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        (products / "images" / f"{row['id']}.jpg").symlink_to(
            data / "fashion-product-images" / "images" / f"{row['id']}.jpg")
    street = root / "street"
    (street / "photos").mkdir(parents=True)
    with (data / "ccp-street" / "boxes.csv").open(newline="") as f:
        boxes = [r for r in csv.DictReader(f) if r["label"] in ("jeans", "shoes", "blouse")][:40]
    with (street / "boxes.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(boxes[0]))
        writer.writeheader()
        writer.writerows(boxes)
    for name in {r["photo"] for r in boxes}:
        (street / "photos" / name).symlink_to(data / "ccp-street" / "photos" / name)
    return root


@pytest.fixture(scope="module")
def suite(tmp_path_factory, settings):
    data = small_data(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("catalogue")
    return out, evaluate_catalogue(products=str(data / "products"),
                                   categories=str(data / "clothing"), pairs="",
                                   worn=str(data / "street"), out_dir=out, progress=False,
                                   settings=settings), data


def test_other_framings_are_scored_by_class_against_the_everyday_photos(suite):
    _, report, data = suite
    with (data / "street" / "boxes.csv").open(newline="") as f:
        kept = [r for r in csv.DictReader(f) if r["label"] != "blouse"  # shirt or t-shirt?
                and (int(r["x1"]) - int(r["x0"])) * (int(r["y1"]) - int(r["y0"]))
                >= MIN_SHARE * area(data / "street" / "photos" / r["photo"])]
    worn = [n for n in report.setup if n.startswith("worn garments")]
    assert sum(report.setup[n] for n in worn) == len(kept) > 0
    assert "worn garments (choosing)" in report.by_class
    for name, shares in report.by_class.items():
        assert set(shares) <= set(CLASSES) and all(0.0 <= v <= 1.0 for v in shares.values())
        if not name.startswith("clothing"):
            mean = report.category[f"{name} vs clothing train/+validation/: precision@10, "
                                   "mean over classes"]
            assert mean == pytest.approx(sum(shares.values()) / len(shares))


def test_the_suite_writes_its_table_json_and_class_plot(suite):
    out, report, _ = suite
    table = (out / "catalogue.txt").read_text()
    assert "precision@10 by class" in table and "worn garments (choosing)" in table
    saved = json.loads((out / "catalogue.json").read_text())["report"]
    assert saved["by_class"] == report.by_class
    assert (out / "category-by-class.png").stat().st_size > 10_000
