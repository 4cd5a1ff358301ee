"""Training data from several catalogues at once, with unseen pairs kept out."""

import pytest

from fashion_search.training.config import TrainConfig
from fashion_search.training.data import load_training_data
from fashion_search.training.pairs import read_pairs, split_pairs

pytestmark = pytest.mark.unit


def test_several_catalogues_train_together(clothing_dir, products_dir, street2shop_dir):
    config = TrainConfig(categories=[str(clothing_dir), str(products_dir)],
                         pairs=[str(street2shop_dir)], limit=3)
    data = load_training_data(config, clothing_dir.parent)
    assert {"t-shirt", "dress"} <= set(data.labels)          # clothing-dataset-small folders
    assert {"Tshirts", "Watches"} <= set(data.labels)        # fashion-product articleType
    assert all(data.labels[i] == item.category
               for item, i in zip(data.categorised, data.category_index))
    assert all(item.split == "train" for item in data.categorised)
    assert {i.split for i in data.validation} == {"validation"}


def test_a_catalogue_without_splits_keeps_its_held_out_tenths_out_of_training(products_dir):
    from fashion_search.catalog import hash_split, open_catalog

    data = load_training_data(TrainConfig(categories=[str(products_dir)], pairs=[]),
                              products_dir.parent)
    trained = {item.id for item in data.categorised}
    held = {i.id for i in open_catalog(products_dir) if hash_split(i.id) != "train"}
    assert trained and held and not trained & held
    assert {hash_split(i.id) for i in data.validation} == {"validation"}


def test_unseen_pairs_are_never_read_and_validation_pairs_come_from_the_training_pairs(
        street2shop_dir):
    config = TrainConfig(categories=[], pairs=[str(street2shop_dir)])
    data = load_training_data(config, street2shop_dir.parent)
    # 1,500 of street2shop-dev's pairs and 1,700 of street2shop-train's 2,000 train;
    # 300 of the latter validate against all 2,000 of their products.
    assert (data.pair_count, len(data.queries), len(data.gallery)) == (3200, 300, 2000)
    unseen = {p.product.stem for p in split_pairs(read_pairs(street2shop_dir), 500)[1]}
    read = [i.path for i in data.pair_photos + data.queries + data.gallery]
    assert not {p.stem for p in read if p.parent.parent == street2shop_dir} & unseen
    assert {i.path.parent.parent.name for i in data.queries + data.gallery} == {"street2shop-train"}
    trained = {item.path for item in data.pair_photos}
    assert not trained & {item.path for item in data.queries}
    assert all(data.gallery[m].path.stem == q.path.stem
               for q, m in zip(data.queries, data.matches))
    # Photos alternate street, shop of the same garment.
    first, second = data.pair_photos[:2]
    assert first.path.parent.name == "person" and second.path.parent.name == "product"
    assert first.path.stem == second.path.stem


def test_validation_pairs_are_the_ones_evaluate_scores_as_unseen(street2shop_dir):
    from fashion_search.evaluation.evaluate import street_to_shop_set

    train_dir = street2shop_dir.parent / "street2shop-train"
    data = load_training_data(TrainConfig(categories=[], pairs=[]), street2shop_dir.parent)
    scored = street_to_shop_set(train_dir, 300, 0, None)
    assert {q.path for q in data.queries} == {q.path for q in scored.queries}
    assert {g.path for g in data.gallery} == {g.path for g in scored.gallery}


def test_without_training_pairs_validation_comes_from_the_pairs_trained_on(street2shop_dir):
    config = TrainConfig(categories=[], pairs=[str(street2shop_dir)], train_pairs=[],
                         validation_pairs=200)
    data = load_training_data(config, street2shop_dir.parent)
    assert (data.pair_count, len(data.queries), len(data.gallery)) == (1300, 200, 1500)
    unseen = {p.product.stem for p in split_pairs(read_pairs(street2shop_dir), 500)[1]}
    assert not {i.path.stem for i in data.pair_photos + data.queries + data.gallery} & unseen


def test_relative_sources_are_read_under_the_data_folder(street2shop_dir):
    config = TrainConfig(categories=[], pairs=["street2shop-dev"], limit=5)
    data = load_training_data(config, street2shop_dir.parent)
    assert data.pair_count == 5 + 4 and len(data.queries) == 1  # a fifth of 5 validates


def test_mapped_products_train_as_the_classes_at_most_as_often_as_everyday_photos(
        clothing_dir, products_dir):
    from collections import Counter

    from fashion_search.catalog import hash_split

    config = TrainConfig(categories=[str(clothing_dir)], pairs=[], train_pairs=[],
                         mapped_products=str(products_dir))
    data = load_training_data(config, clothing_dir.parent)
    studio = [i for i in data.categorised if i.path.is_relative_to(products_dir)]
    everyday = Counter(i.category for i in data.categorised if i not in studio)
    assert len(data.labels) == 10  # no article type became a label of its own
    assert studio and {hash_split(i.id) for i in studio} == {"train"}
    assert all(n <= everyday[c] for c, n in Counter(i.category for i in studio).items())
    assert Counter(i.category for i in studio)["t-shirt"] == everyday["t-shirt"]  # capped
