"""The pip-packaged ImageNet weights load exactly into timm, offline."""

import numpy as np
import pytest
import torch

from fashion_search.backbone import (
    EmbeddingModel,
    create_backbone,
    pretrained_weights_path,
    rename_lite_keys,
)
from fashion_search.errors import BackboneError
from fashion_search.preprocessing import PreprocessConfig

pytestmark = pytest.mark.unit
SHAPE = PreprocessConfig().input_shape


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_every_packaged_weight_maps_to_every_timm_key(name):
    import timm

    from fashion_search.backbone import BACKBONES

    model = timm.create_model(BACKBONES[name][0], pretrained=False)
    state = torch.load(pretrained_weights_path(name), map_location="cpu", weights_only=True)
    renamed = rename_lite_keys(state, model)
    assert set(renamed) == set(model.state_dict())
    for key, value in renamed.items():
        assert value.shape == model.state_dict()[key].shape, key


def test_pretrained_backbone_recognises_imagenet_features():
    """Pretrained and random weights must give different, non-degenerate features."""
    torch.manual_seed(0)
    pixels = torch.randn(2, *SHAPE)
    trained = EmbeddingModel(create_backbone("efficientnet_lite0")).eval()
    random = EmbeddingModel(create_backbone("efficientnet_lite0", pretrained=False)).eval()
    with torch.no_grad():
        a, b = trained(pixels), random(pixels)
    assert a.shape == (2, 1280)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(2))
    assert not torch.allclose(a, b, atol=1e-3)


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(BackboneError, match="choose one of"):
        create_backbone("resnet9000")


IMAGENET_SHOES = {502, 514, 630, 770, 774}  # clog, cowboy boot, loafer, running shoe, sandal
IMAGENET_JERSEY = 610  # "jersey, T-shirt"


def test_imagenet_head_recognises_real_shoes_and_tshirts(products_dir):
    """A wrong key mapping loads without error but cannot name a shoe."""
    from fashion_search.catalog import open_catalog
    from fashion_search.preprocessing import PreprocessConfig, preprocess

    items = open_catalog(products_dir)
    shoes = [i for i in items if i.category == "Sports Shoes"][:8]
    tshirts = [i for i in items if i.category == "Tshirts"][:8]
    model = create_backbone("efficientnet_lite0", keep_classifier=True).eval()
    contract = PreprocessConfig()

    def top5(batch):
        pixels = torch.from_numpy(
            np.stack([preprocess(i.path.read_bytes(), contract) for i in batch]))
        with torch.no_grad():
            return model(pixels).topk(5).indices.tolist()

    shoe_hits = sum(bool(IMAGENET_SHOES & set(t)) for t in top5(shoes))
    shirt_hits = sum(IMAGENET_JERSEY in t for t in top5(tshirts))
    assert shoe_hits >= 6 and shirt_hits >= 6, (shoe_hits, shirt_hits)


@pytest.mark.parametrize("stages", [1, 2, 7])
def test_the_trunk_and_top_together_equal_the_backbone(stages):
    from fashion_search.backbone import split_backbone

    backbone = create_backbone("efficientnet_lite0").eval()
    trunk, top = split_backbone(backbone, stages)
    pixels = torch.randn(2, *SHAPE)
    with torch.no_grad():
        assert torch.allclose(top(trunk(pixels)), backbone(pixels), atol=1e-5)


def test_a_torchvision_resnet50_state_dict_loads_without_network(tmp_path):
    import torchvision

    reference = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    backbone = create_backbone("resnet50", weights=path).eval()
    pixels = torch.randn(1, *SHAPE)
    with torch.no_grad():
        features = torch.nn.Sequential(*list(reference.children())[:-1])(pixels).flatten(1)
        assert torch.allclose(backbone(pixels), features, atol=1e-4)


def test_resnet50_without_weights_says_to_pass_them():
    with pytest.raises(BackboneError, match="--weights"):
        create_backbone("resnet50")


def test_weights_that_do_not_fit_name_the_missing_layers(tmp_path):
    path = tmp_path / "lite0.pth"
    torch.save(create_backbone("efficientnet_lite0").state_dict(), path)
    with pytest.raises(BackboneError, match="do not fit"):
        create_backbone("resnet50", weights=path)


def test_the_classifier_answers_probabilities_over_its_labels():
    model = EmbeddingModel(create_backbone(pretrained=False), 64, ["dress", "hat", "shoes"]).eval()
    with torch.no_grad():
        embedding, probabilities = model(torch.randn(2, *SHAPE))
    assert embedding.shape == (2, 64)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(2), atol=1e-5)
    assert probabilities.shape == (2, 3)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("name, size", [("efficientnet_lite0", 224), ("efficientnet_lite1", 240),
                                        ("efficientnet_lite2", 260), ("resnet50", 224)])
def test_each_backbone_is_fed_photos_at_the_size_its_weights_were_trained_at(name, size):
    from fashion_search.backbone import native_size
    from fashion_search.checkpoint import load_model

    assert native_size(name) == size
    if name != "resnet50":  # packaged weights: the untuned model carries that contract
        assert load_model(backbone=name).preprocessing.size == size
