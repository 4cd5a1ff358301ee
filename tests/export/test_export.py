"""Export gives a named, dynamic-batch ONNX graph that matches PyTorch and the configs."""

import numpy as np
import pytest

from fashion_search import colour
from fashion_search import triton_config as tc
from fashion_search.backbone import EmbeddingModel, create_backbone
from fashion_search.checkpoint import LoadedModel
from fashion_search.errors import ParityError, RepositoryError
from fashion_search.export.parity import check_parity
from fashion_search.export.repository import check_against_graph
from fashion_search.onnx_graph import graph_signature, onnx_session, read_metadata
from fashion_search.preprocessing import PreprocessConfig, preprocess

SHAPE = PreprocessConfig().input_shape  # (3, size, size): the contract's, whatever it is

pytestmark = pytest.mark.integration


def test_parity_on_real_photos_of_several_shapes(exported, parity_photos):
    assert exported.parity.photos == len(parity_photos) == 9
    assert exported.parity.min_cosine >= 0.999


def test_graph_has_chosen_names_and_a_dynamic_batch(exported):
    signature = graph_signature(exported.onnx_path)
    assert signature["inputs"] == {tc.PIXELS: ["batch", *SHAPE]}
    assert signature["outputs"] == {tc.EMBEDDING: ["batch", 1280]}
    session = onnx_session(exported.onnx_path)
    for batch in (1, 5):
        out = session.run([tc.EMBEDDING], {tc.PIXELS: np.zeros((batch, *SHAPE), np.float32)})
        assert out[0].shape == (batch, 1280)


def test_onnx_file_carries_contract_and_version(exported):
    meta = read_metadata(exported.onnx_path)
    assert PreprocessConfig.from_json(meta["preprocessing"]) == PreprocessConfig()
    assert meta["model_version"] == exported.model_version
    assert meta["model_version"].startswith("efficientnet_lite0-imagenet-")


def test_installed_configs_match_the_graph(exported, settings):
    check_against_graph(settings.model_repository, exported.onnx_path)
    embedder = tc.read_config(settings.model_repository / tc.EMBEDDER / "config.pbtxt")
    assert tc.get_parameter(embedder, tc.MODEL_VERSION_PARAM) == exported.model_version
    # the TensorRT warm-up feeds the graph's own input shape, at the batches it will see
    assert [list(w.inputs[tc.PIXELS].dims) for w in embedder.model_warmup] == [list(SHAPE)] * 2
    # one TensorRT profile covers every batch, so the engine is built once, at load
    tensorrt = dict(embedder.optimization.execution_accelerators.gpu_execution_accelerator[0]
                    .parameters)
    assert [tensorrt[key] for key in tc.TENSORRT_PROFILE] == [
        f"pixel_values:{batch}x{'x'.join(map(str, SHAPE))}" for batch in (1, 256, 256)]


@pytest.mark.parametrize("drift, message", [
    (tc.set_warmup_dims, r"warm-up 'batch_1' feeds pixel_values \[3, 256"),
    (tc.set_tensorrt_profile, r"trt_profile_min_shapes 'pixel_values:1x3x256x256'"),
])
def test_a_warm_up_or_tensorrt_profile_that_drifts_from_the_graph_is_caught(
        exported, settings, tmp_path, drift, message):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(settings.model_repository, repo)
    config = tc.read_config(repo / tc.EMBEDDER / "config.pbtxt")
    drift(config, tc.PIXELS, (3, 256, 256))
    tc.write_config(repo / tc.EMBEDDER / "config.pbtxt", config)
    with pytest.raises(RepositoryError, match=message):
        check_against_graph(repo, exported.onnx_path)


def test_config_that_drifts_from_the_graph_is_caught(exported, settings, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(settings.model_repository, repo)
    config = tc.read_config(repo / tc.EMBEDDER / "config.pbtxt")
    tc.set_dims(tc.tensor(config, tc.EMBEDDING, output=True), (512,))
    tc.write_config(repo / tc.EMBEDDER / "config.pbtxt", config)
    with pytest.raises(RepositoryError, match=r"embedding dims \[512\] != ONNX \[1280\]"):
        check_against_graph(repo, exported.onnx_path)


def test_parity_check_fails_for_a_different_model(exported, parity_photos):
    other = LoadedModel(EmbeddingModel(create_backbone(pretrained=False)).eval(),
                        "efficientnet_lite0", PreprocessConfig(), "random")
    photos = [p.read_bytes() for p in parity_photos[:2]]
    with pytest.raises(ParityError, match="disagree"):
        check_parity(other, exported.onnx_path, photos)
    assert preprocess(photos[0], PreprocessConfig()).shape == SHAPE


def test_rendering_fills_a_copy_and_leaves_the_templates_alone(exported, settings, tmp_path):
    from fashion_search.export.repository import built_version, render_repository

    templates = settings.model_templates
    before = {p: p.read_bytes() for p in templates.rglob("*") if p.is_file()}
    target = render_repository(templates, exported.onnx_path, tmp_path / "built")
    assert {p: p.read_bytes() for p in templates.rglob("*") if p.is_file()} == before
    assert target == tmp_path / "built" / tc.EMBEDDER / "1" / "model.onnx" and target.is_file()
    assert built_version(tmp_path / "built") == exported.model_version
    pre = tc.read_config(tmp_path / "built" / tc.PREPROCESS / "config.pbtxt")
    assert PreprocessConfig.from_json(tc.get_parameter(pre, tc.PREPROCESSING_PARAM)) == \
        PreprocessConfig()
    assert list(tc.tensor(pre, tc.PIXELS, output=True).dims) == list(SHAPE)


def test_a_build_from_other_templates_counts_as_not_built(exported, settings, tmp_path):
    import shutil

    from fashion_search.export.repository import built_version, render_repository

    templates = tmp_path / "templates"
    shutil.copytree(settings.model_templates, templates,
                    ignore=shutil.ignore_patterns("__pycache__"))
    render_repository(templates, exported.onnx_path, tmp_path / "built")
    assert built_version(tmp_path / "built", templates) == exported.model_version
    config = templates / tc.PREPROCESS / "config.pbtxt"
    text = config.read_text()
    assert "max_batch_size: 256" in text
    config.write_text(text.replace("max_batch_size: 256", "max_batch_size: 128"))
    assert built_version(tmp_path / "built", templates) is None  # rebuilt, not served stale
    built = tc.read_config(tmp_path / "built" / tc.ENSEMBLE / "config.pbtxt")
    assert list(tc.tensor(built, tc.COLOUR, output=True).dims) == [colour.DIM]


def test_parity_asks_for_the_gpu_provider_when_onnxruntime_gpu_offers_it(
        exported, parity_photos, monkeypatch):
    """Which providers parity compares; the "cuda" session is a CPU one here (no GPU)."""
    from fashion_search.export import parity
    from fashion_search.onnx_graph import CPU_PROVIDER, CUDA_PROVIDER

    asked = []
    real_session = parity.onnx_session
    monkeypatch.setattr(parity, "execution_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER])
    monkeypatch.setattr(parity, "onnx_session", lambda path, device: (
        asked.append(device), real_session(path, device="cpu"))[1])
    from fashion_search.checkpoint import load_model

    report = check_parity(load_model(), exported.onnx_path,
                          [p.read_bytes() for p in parity_photos[:2]])
    assert asked == ["cpu", "cuda"] and report.devices == ("cpu", "cuda")
    assert report.ok


def test_an_unreadable_parity_photo_is_named_by_its_path(tmp_path):
    from fashion_search.errors import ImageError

    with pytest.raises(ImageError, match=r"^shop/1\.jpg: not a readable image"):
        check_parity(None, tmp_path / "unused.onnx", [b"not a photo at all"],
                     contract=PreprocessConfig(), names=["shop/1.jpg"])
