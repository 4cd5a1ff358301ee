"""Training data from several catalogues at once, with unseen pairs kept out."""

import pytest

from fashion_search.training.config import TrainConfig
from fashion_search.training.data import load_training_data

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


def test_unseen_pairs_never_reach_training(street2shop_dir):
    config = TrainConfig(categories=[], pairs=[str(street2shop_dir)])
    data = load_training_data(config, street2shop_dir.parent)
    assert (data.pair_count, len(data.queries), len(data.gallery)) == (1500, 500, 2000)
    trained = {item.path.stem for item in data.pair_photos}
    assert not trained & {item.path.stem for item in data.queries}
    assert all(data.gallery[m].path.stem == q.path.stem
               for q, m in zip(data.queries, data.matches))
    # Photos alternate street, shop of the same garment.
    first, second = data.pair_photos[:2]
    assert first.path.parent.name == "person" and second.path.parent.name == "product"
    assert first.path.stem == second.path.stem


def test_relative_sources_are_read_under_the_data_folder(street2shop_dir):
    config = TrainConfig(categories=[], pairs=["street2shop-dev"], limit=5)
    data = load_training_data(config, street2shop_dir.parent)
    assert data.pair_count == 5 and len(data.queries) == 5
