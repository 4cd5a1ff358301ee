"""A few real training steps: the loss falls, checkpoints resume, export and Triton take the model."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from fashion_search import triton_config as tc
from fashion_search.checkpoint import LAST_FILE as LAST
from fashion_search.checkpoint import MODEL_FILE as MODEL
from fashion_search.checkpoint import choose_model, load_model, read_checkpoint
from fashion_search.errors import RecipeError
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.training.config import TrainConfig
from fashion_search.training.train import train
from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def recipe(clothing_dir, street2shop_dir) -> TrainConfig:
    """A handful of real photos: 4 per category, 6 pairs to train on, 6 unseen."""
    return TrainConfig(categories=[str(clothing_dir)], pairs=[str(street2shop_dir)], limit=6,
                       unseen_pairs=6, views=2, epochs=3, pairs_per_batch=3,
                       classes_per_batch=4, per_class=3, lr=3e-3, embedding_dim=64,
                       warmup_steps=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory, settings, recipe):
    home = tmp_path_factory.mktemp("train-home")
    own = replace(settings, home=home, triton_url=f"127.0.0.1:{free_port()}")
    out = own.training_dir
    first = train(replace(recipe), out_dir=out, progress=False, settings=own)
    first_version = load_model(out / MODEL).version  # before the resumed run replaces it
    resumed = train(replace(recipe, epochs=6), out_dir=out, resume=True, progress=False,
                    settings=own)
    return own, out, first, resumed, first_version


def test_training_lowers_the_loss(run):
    history = run[3].history
    assert len(history) == 6
    assert history[-1]["loss"] < history[0]["loss"]


def test_resume_continues_after_the_last_epoch(run):
    first, resumed = run[2].history, run[3].history
    assert resumed[:3] == first
    steps = first[1]["step"] - first[0]["step"]
    assert resumed[3]["step"] == first[2]["step"] + steps


def test_the_same_recipe_seed_and_data_train_the_same_model(run, recipe, tmp_path):
    """Views computed afresh (an empty cache) and trained again: the same weights, bit for bit,
    and the same figures, so a recipe comparison measures the recipe, not the run."""
    own = replace(run[0], cache_dir=tmp_path / "cache")
    again = train(replace(recipe), out_dir=tmp_path / "again", progress=False, settings=own)
    assert [h["validation"] for h in again.history] == [h["validation"] for h in run[2].history]
    assert [h["loss"] for h in again.history] == [h["loss"] for h in run[2].history]
    assert load_model(tmp_path / "again" / MODEL).version == run[4]


def test_resume_refuses_a_different_recipe(run, recipe):
    with pytest.raises(RecipeError, match="embedding_dim"):
        train(replace(recipe, embedding_dim=32), out_dir=run[1], resume=True, progress=False,
              settings=run[0])


def test_resume_without_a_run_says_so(tmp_path, recipe, settings):
    with pytest.raises(RecipeError, match="nothing to resume"):
        train(replace(recipe), out_dir=tmp_path, resume=True, progress=False, settings=settings)


def test_checkpoints_carry_contract_labels_backbone_and_config(run, clothing_dir):
    payload = read_checkpoint(run[1] / LAST)
    assert payload["backbone"] == "efficientnet_lite0"
    assert PreprocessConfig.from_json(payload["preprocessing"]) == PreprocessConfig()
    assert payload["labels"] == sorted(p.name for p in (clothing_dir / "train").iterdir())
    assert payload["config"]["embedding_dim"] == 64
    assert (run[1] / "config.json").is_file()
    assert (run[1] / "training-curves.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def exported_trained(run, parity_photos):
    from fashion_search.export.run import export

    return export(checkpoint=run[1] / MODEL, parity_photos=parity_photos, progress=False,
                  settings=run[0])


def test_export_installs_the_classifier_output(run, exported_trained):
    repository = run[0].model_repository
    labels = load_model(run[1] / MODEL).labels
    embedder = tc.read_config(repository / tc.EMBEDDER / "config.pbtxt")
    assert list(tc.tensor(embedder, tc.CATEGORY_PROBS, output=True).dims) == [len(labels)]
    assert list(tc.tensor(embedder, tc.EMBEDDING, output=True).dims) == [64]
    ensemble = tc.read_config(repository / tc.ENSEMBLE / "config.pbtxt")
    step = tc.ensemble_step(ensemble, tc.EMBEDDER)
    assert dict(step.output_map) == {tc.EMBEDDING: tc.EMBEDDING,
                                     tc.CATEGORY_PROBS: tc.CATEGORY_PROBS}
    assert exported_trained.parity.min_cosine >= 0.999


@pytest.fixture(scope="module")
def trained_server(run, exported_trained):
    from fashion_search.client import EmbeddingClient
    from fashion_search.serving.serve import ServerOptions, TritonServer

    port = int(run[0].triton_url.rsplit(":", 1)[1])
    options = ServerOptions(grpc_port=port, http_port=free_port(), metrics_port=free_port())
    with TritonServer(run[0], options) as server:
        client = EmbeddingClient(server.grpc_url)
        yield client
        client.close()


def test_triton_answers_the_category_like_pytorch(run, trained_server, parity_photos):
    from fashion_search.preprocessing import preprocess

    loaded = load_model(run[1] / MODEL)
    assert list(trained_server.info().labels) == loaded.labels
    photos = [p.read_bytes() for p in parity_photos]
    embeddings, probabilities = trained_server.predict(photos)
    pixels = torch.from_numpy(np.stack([preprocess(p, loaded.preprocessing) for p in photos]))
    with torch.no_grad():
        expected_embeddings, expected = loaded.model(pixels)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert np.abs(probabilities - expected.numpy()).max() < 1e-3
    assert (embeddings * expected_embeddings.numpy()).sum(axis=1).min() > 0.999


def test_served_street_to_shop_figures_match_in_process(run, trained_server, street2shop_dir):
    from fashion_search.evaluation.evaluate import evaluate

    report = evaluate(checkpoint=run[1] / MODEL, pairs=str(street2shop_dir), categories="",
                      limit=40, served=True, out_dir=run[0].home / "evaluation",
                      progress=False, settings=run[0])
    assert report.served_matches
    trained = report.models[-1].street2shop
    for key, value in trained.items():
        assert report.served.street2shop[key] == pytest.approx(value, abs=0.005), key
    assert (run[0].home / "evaluation" / "street2shop-recall.png").is_file()


def test_the_model_carries_its_street_match_scale_to_the_server(run, trained_server):
    from fashion_search.same_item import SameItemScale
    from fashion_search.training.match_scale import calibrate_checkpoint

    carried = SameItemScale.from_json(load_model(run[1] / MODEL).same_item)
    assert carried is not None and carried.gallery == 6  # the validation pair's products
    assert trained_server.info().same_item == carried
    assert (run[1] / "match-scale.png").stat().st_size > 10_000
    chances = [c for group in carried.chances[0] for c in group]
    assert all(0.0 <= c <= 1.0 for c in chances)
    # fitted again from the checkpoint alone: the same scale, the same weights
    copy = shutil.copy(run[1] / MODEL, run[0].home / "calibrated.pt")
    assert calibrate_checkpoint(copy, settings=run[0], progress=False) == carried
    assert load_model(copy).version == load_model(run[1] / MODEL).version


def test_search_within_the_category_the_photo_most_likely_shows(run, trained_server, clothing_dir):
    from fashion_search.catalog import open_catalog
    from fashion_search.serving.search import VisualSearch
    from fashion_search.vectordb.lifecycle import rebuild
    from fashion_search.vectordb.store import CatalogStore

    photos = [i for i in open_catalog(clothing_dir) if i.split == "test"]
    catalog = [i for n, i in enumerate(photos) if n % 6 == 0]
    store = CatalogStore(str(run[0].home / "catalog.db"))
    try:
        rebuild(catalog, trained_server, store, progress=False)
        search = VisualSearch(trained_server, store)
        results = search.find(catalog[0].path.read_bytes(), k=5, category="auto")
        assert len(results.suggestions) == 3
        assert results.category.casefold() == results.suggestions[0][0].casefold()
        assert {hit.category for hit in results.hits} == {results.category}
    finally:
        store.close()


def test_the_demo_and_export_pick_up_the_trained_model(run):
    assert choose_model(settings=run[0]).checkpoint == run[1] / MODEL
    assert choose_model(untuned=True, settings=run[0]).checkpoint is None


def test_the_served_model_follows_the_chosen_one_by_version(run, exported_trained):
    from fashion_search.export.repository import built_version
    from fashion_search.export.run import ensure_model

    own, trained = run[0], load_model(run[1] / MODEL).version
    again = ensure_model(settings=own, progress=False)
    assert (again.version, again.exported) == (trained, False)
    assert again.description == f"the trained model {run[1] / MODEL}"
    untuned = ensure_model(untuned=True, settings=own, progress=False)
    assert untuned.exported and "untuned ImageNet" in untuned.description
    assert built_version(own.model_repository) == untuned.version != trained
    # The untuned export is newer than the checkpoint; the trained model still wins.
    back = ensure_model(settings=own, progress=False)
    assert back.exported and built_version(own.model_repository) == trained
