"""Evaluation of the untuned backbone on real street-to-shop pairs and category photos."""

import json

import pytest

from fashion_search.evaluation.evaluate import evaluate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report(tmp_path_factory, settings, street2shop_dir, clothing_dir):
    out = tmp_path_factory.mktemp("evaluation")
    return out, evaluate(pairs=str(street2shop_dir), categories=str(clothing_dir), limit=100,
                         out_dir=out, progress=False, settings=settings)


def test_untuned_backbone_on_100_unseen_pairs(report):
    _, result = report
    assert [m.name for m in result.models] == ["untuned"]
    assert result.setup["street2shop queries"] == 100
    figures = result.models[0].street2shop
    assert figures["recall@1"] <= figures["recall@5"] <= figures["recall@10"] <= figures["recall@20"]
    # Far above chance (10 of 200 products: 0.05), far below perfect.
    assert 0.1 < figures["recall@10"] < 0.9
    assert 0 < figures["mAP"] < 1


def test_category_precision_is_measured_on_test_photos(report):
    _, result = report
    category = result.models[0].category
    assert result.setup["category queries"] == 100
    assert 0.4 < category["precision@10"] <= 1.0
    assert result.models[0].classifier == {}  # the untuned backbone has no classifier


def test_figures_are_written_as_json_plot_and_table(report):
    out, result = report
    saved = json.loads((out / "evaluation.json").read_text())["report"]
    assert saved["models"][0]["street2shop"]["recall@10"] == result.models[0].street2shop[
        "recall@10"]
    assert (out / "street2shop-recall.png").stat().st_size > 10_000
    table = (out / "evaluation.txt").read_text()
    assert "street2shop recall@10" in table and "untuned" in table
