"""Checkpoints load as plain data, and every step picks its model by one rule."""

import pickle
from dataclasses import replace

import pytest
import torch

from fashion_search.backbone import EmbeddingModel, create_backbone
from fashion_search.checkpoint import (
    LoadedModel,
    choose_model,
    load_model,
    save_checkpoint,
    trained_model_path,
)
from fashion_search.config import DEFAULT_BACKBONE, Settings
from fashion_search.errors import CheckpointError, RecipeError
from fashion_search.preprocessing import PreprocessConfig

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def small_model() -> LoadedModel:
    model = EmbeddingModel(create_backbone(pretrained=False), 16, ["dress", "hat"]).eval()
    return LoadedModel(model, DEFAULT_BACKBONE, PreprocessConfig(), "finetuned",
                       {"epochs": 2, "categories": ["clothing"], "weights": None})


def test_a_checkpoint_loads_with_weights_only(small_model, tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", small_model, {"history": [{"loss": 1.5}]})
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["labels"] == ["dress", "hat"] and payload["config"]["epochs"] == 2
    again = load_model(path)
    assert again.version == small_model.version
    assert again.labels == ["dress", "hat"]
    assert not list(tmp_path.glob(".*.tmp"))


class _Payload:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_with_code_is_refused_not_run(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"state_dict": _Payload()}))
    with pytest.raises(CheckpointError, match="not a readable fashion-search checkpoint") as caught:
        load_model(path)
    assert "code ran" not in capsys.readouterr().out
    assert "weights_only=False" not in str(caught.value)


@pytest.mark.parametrize("content", [b"hello", b"\x00" * 64])
def test_a_stray_file_is_not_a_readable_checkpoint(tmp_path, content):
    path = tmp_path / "stray.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"stray\.pt: not a readable fashion-search"):
        load_model(path)


def test_a_checkpoint_of_another_trainer_names_what_it_lacks(tmp_path):
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "epoch": 3}, path)
    with pytest.raises(CheckpointError, match=r"not a fashion-search checkpoint \(no backbone, "
                                              r"preprocessing\)"):
        load_model(path)


def test_a_folder_is_not_taken_for_a_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="a folder, not a checkpoint"):
        load_model(tmp_path)


def test_a_missing_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="fashion-search train"):
        load_model(tmp_path / "nope.pt")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return replace(Settings(), home=tmp_path / "home")


def test_the_trained_model_is_chosen_when_there_is_one(settings, small_model):
    assert choose_model(settings=settings).checkpoint is None
    assert "untuned ImageNet" in choose_model(settings=settings).describe()
    save_checkpoint(trained_model_path(settings), small_model)
    choice = choose_model(settings=settings)
    assert choice.checkpoint == settings.home / "training" / "model.pt"
    assert choice.describe().startswith("the trained model ")


def test_untuned_backbone_or_weights_override_the_trained_model(settings, small_model, tmp_path):
    save_checkpoint(trained_model_path(settings), small_model)
    assert choose_model(untuned=True, settings=settings).checkpoint is None
    assert choose_model(backbone="efficientnet_lite1", settings=settings).backbone == \
        "efficientnet_lite1"
    assert choose_model(weights=tmp_path / "w.pt", settings=settings).weights == tmp_path / "w.pt"
    explicit = tmp_path / "other.pt"
    assert choose_model(explicit, settings=settings).checkpoint == explicit


def test_a_checkpoint_and_untuned_together_are_refused(settings, tmp_path):
    with pytest.raises(RecipeError, match="not both"):
        choose_model(tmp_path / "model.pt", untuned=True, settings=settings)
