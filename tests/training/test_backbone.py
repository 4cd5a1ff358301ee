"""The pip-packaged ImageNet weights load exactly into timm, offline."""

import numpy as np
import pytest
import torch

from fashion_search.training.backbone import (
    BackboneError,
    EmbeddingModel,
    create_backbone,
    pretrained_weights_path,
    rename_lite_keys,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_every_packaged_weight_maps_to_every_timm_key(name):
    import timm

    from fashion_search.training.backbone import BACKBONES

    model = timm.create_model(BACKBONES[name][0], pretrained=False)
    state = torch.load(pretrained_weights_path(name), map_location="cpu", weights_only=True)
    renamed = rename_lite_keys(state, model)
    assert set(renamed) == set(model.state_dict())
    for key, value in renamed.items():
        assert value.shape == model.state_dict()[key].shape, key


def test_pretrained_backbone_recognises_imagenet_features():
    """Pretrained and random weights must give different, non-degenerate features."""
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 224, 224)
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
    from fashion_search.preprocessing import PreprocessConfig, preprocess
    from fashion_search.training.catalog import open_catalog

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
