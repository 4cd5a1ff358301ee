"""The garment finder exported to ONNX, checked against PyTorch, rendered for Triton."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from fashion_search import triton_config as tc
from fashion_search.config import PROJECT_ROOT, Settings
from fashion_search.errors import ParityError
from fashion_search.export import garment_export
from fashion_search.export.garment_repository import built_finder
from fashion_search.garment_finder import GarmentFinder, save_finder
from fashion_search.garments import KINDS, FinderSettings
from fashion_search.preprocessing import preprocess_photos
from fashion_search.serving.cpu_repository import build_cpu_finder, finder_repository

pytestmark = pytest.mark.unit
TEMPLATES = PROJECT_ROOT / "triton_models"


@pytest.fixture(scope="module")
def small_finder(tmp_path_factory):
    torch.manual_seed(0)
    model = GarmentFinder(FinderSettings(width=16, threshold=0.4, version="garments-test-1"))
    home = tmp_path_factory.mktemp("home")
    save_finder(model.eval(), home / "garments" / "finder.pt")
    settings = replace(Settings(), home=home, model_repository_dir="")
    return model, settings


def test_an_exported_finder_agrees_with_pytorch_and_is_rendered_with_its_settings(small_finder):
    model, settings = small_finder
    result = garment_export.export_finder(settings=settings, progress=False)
    assert result.max_score_diff <= garment_export.MAX_SCORE_DIFF
    repository = settings.garment_repository
    assert built_finder(repository, TEMPLATES) == "garments-test-1"
    ensemble = tc.read_config(repository / tc.FINDER / "config.pbtxt")
    network = tc.read_config(repository / tc.FINDER_NETWORK / "config.pbtxt")
    pre = tc.read_config(repository / tc.FINDER_PREPROCESS / "config.pbtxt")
    assert list(tc.tensor(ensemble, tc.GARMENT_BOXES, output=True).dims) == [len(KINDS), 4]
    assert list(tc.tensor(network, tc.GARMENT_SCORES, output=True).dims) == [len(KINDS)]
    size = model.settings.preprocessing.size
    assert list(tc.tensor(network, tc.PIXELS).dims) == [3, size, size]
    assert FinderSettings.from_json(tc.get_parameter(ensemble, tc.FINDER_PARAM)) == model.settings
    # the preprocess step decodes with the finder's contract, not the embedder's
    assert tc.get_parameter(pre, tc.PREPROCESSING_PARAM) == model.settings.preprocessing.to_json()
    assert (repository / tc.FINDER_NETWORK / "1" / "model.onnx").is_file()
    assert not (TEMPLATES / tc.FINDER_NETWORK / "1" / "model.onnx").exists()
    # exported already: nothing to do the second time
    assert garment_export.ensure_finder(settings, progress=False) == "garments-test-1"


def test_the_one_piece_box_rule_is_in_the_exported_graph(tmp_path):
    torch.manual_seed(1)
    model = GarmentFinder(FinderSettings(width=16, gap=1, version="garments-test-gap")).eval()
    path = garment_export.export_finder_onnx(model, tmp_path / "finder.onnx")
    photos = garment_export.synthetic_photos()
    score_diff, box_diff = garment_export.check_finder_parity(model, path, photos)
    assert score_diff <= garment_export.MAX_SCORE_DIFF and box_diff <= garment_export.MAX_BOX_DIFF
    # the rule changes the boxes of this random label map, so parity is of the rule itself
    spanning = replace(model.settings, gap=-1)
    pixels = torch.from_numpy(preprocess_photos(photos, model.settings.preprocessing)[0])
    with torch.no_grad():
        joined = model(pixels)[0]
        model.settings = spanning
        assert not torch.equal(joined, model(pixels)[0])


def test_on_a_cpu_the_finder_is_one_model_that_decodes_and_finds(small_finder, tmp_path):
    _, settings = small_finder
    if built_finder(settings.garment_repository) is None:
        garment_export.export_finder(settings=settings, progress=False)
    flags = finder_repository(settings.garment_repository, tmp_path, cpu=True)
    assert flags == [f"--model-repository={tmp_path / 'garment_repository'}"]
    fused = tc.read_config(tmp_path / "garment_repository" / tc.FINDER / "config.pbtxt")
    assert fused.backend == "python"
    assert fused.input[0].name == tc.INPUT_BYTES
    assert {o.name for o in fused.output} == {tc.GARMENT_BOXES, tc.GARMENT_SCORES,
                                              tc.GARMENT_SHARES}
    assert tc.get_parameter(fused, tc.PREPROCESSING_PARAM)
    assert (tmp_path / "garment_repository" / tc.FINDER / "1" / "model.py").is_file()
    assert finder_repository(tmp_path / "none", tmp_path, cpu=True) == []


def test_a_graph_that_finds_other_garments_fails_parity(small_finder, tmp_path):
    model, _ = small_finder
    path = garment_export.export_finder_onnx(model, tmp_path / "finder.onnx")
    other = GarmentFinder(replace(model.settings), pretrained=True)
    with torch.no_grad():
        for parameter in other.head.parameters():
            parameter.add_(torch.randn_like(parameter))
    photos = garment_export.synthetic_photos()
    with pytest.raises(ParityError, match="find different garments"):
        garment_export.check_finder_parity(other.eval(), path, photos)
    assert np.isfinite(garment_export.check_finder_parity(model, path, photos)).all()


def test_a_cpu_repository_without_a_built_finder_is_refused_by_name(tmp_path):
    with pytest.raises(Exception, match="config.pbtxt"):
        build_cpu_finder(tmp_path / "missing", tmp_path / "out")
