"""The frozen trunk runs where it was told to, and each cached view holds its own features."""

import numpy as np
import pytest
import torch

from fashion_search.backbone import create_backbone, split_backbone
from fashion_search.batch_slices import SPINNING
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.training.views import TrunkRunner

pytestmark = pytest.mark.unit


def test_the_runner_puts_its_trunk_on_the_device_it_was_given(tmp_path):
    # "meta" stands in for a GPU: a trunk left on the CPU would show up as "cpu" here.
    trunk, _ = split_backbone(create_backbone(pretrained=False), trainable_stages=2)
    runner = TrunkRunner(trunk, PreprocessConfig(), torch.device("meta"), tmp_path)
    assert {p.device.type for p in runner.trunk.parameters()} == {"meta"}
    assert runner.shape[0] > 0 and len(runner.key) == 16


def test_the_cpu_trunk_leaves_the_cores_to_the_decoding_threads_between_steps(tmp_path):
    runner = TrunkRunner(torch.nn.Sequential(torch.nn.AvgPool2d(16)), PreprocessConfig(),
                         torch.device("cpu"), tmp_path)
    assert runner(np.zeros((1, *PreprocessConfig().input_shape), np.float32)).shape == (1, *runner.shape)
    options = runner._onnx_session().get_session_options()
    assert options.get_session_config_entry(SPINNING) == "0"


def test_cached_views_hold_each_views_own_features_across_many_batches(tmp_path, products_dir):
    # More batches than buffers take turns: a view written into a buffer still in use
    # would show up as another view's features.
    from fashion_search.catalog import CatalogItem
    from fashion_search.config import BATCH_SIZE
    from fashion_search.training.augment import AugmentConfig
    from fashion_search.training.views import cached_views, view_pixels

    contract, augment = PreprocessConfig(), AugmentConfig()
    photos = sorted((products_dir / "images").glob("*.jpg"))[:12]
    items = [CatalogItem(id=str(k), path=p, category="x") for k, p in enumerate(photos)]
    views = 5 * BATCH_SIZE // len(items) + 1
    trunk = torch.nn.Sequential(torch.nn.AvgPool2d(16))
    runner = TrunkRunner(trunk, contract, torch.device("cpu"), tmp_path)
    found = cached_views(items, views, runner, contract, augment, seed=3,
                         cache_dir=tmp_path, progress=False)
    for k, item in enumerate(items):
        for v in (0, 1, views - 1):
            expected = runner(view_pixels(item, v, contract, augment, 3)[None])[0]
            np.testing.assert_allclose(found[k, v], expected.astype(np.float16), rtol=2e-3,
                                       atol=2e-3)


def test_a_photo_edited_in_place_to_the_same_length_is_not_served_from_the_cache(tmp_path):
    import os

    from PIL import Image

    from fashion_search.catalog import CatalogItem
    from fashion_search.training.augment import AugmentConfig
    from fashion_search.training.views import cached_views

    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
    items = [CatalogItem(id="a", path=path, category="x")]
    runner = TrunkRunner(torch.nn.Sequential(torch.nn.AvgPool2d(16)), PreprocessConfig(),
                         torch.device("cpu"), tmp_path)

    def views():
        return np.array(cached_views(items, 1, runner, PreprocessConfig(), AugmentConfig(), 0,
                                     tmp_path / "cache", progress=False))

    red = views()
    length = path.stat().st_size
    Image.new("RGB", (64, 64), (30, 30, 200)).save(path)  # same size and format, new colour
    assert path.stat().st_size == length
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later edit, for sure
    assert not np.allclose(views(), red)


def test_the_plain_view_of_a_large_photo_is_what_the_served_model_sees(tmp_path):
    # Large photos decode in draft mode; the augmented views decode at twice the input
    # size, the plain view exactly as serving does.
    from PIL import Image

    from fashion_search.catalog import CatalogItem
    from fashion_search.preprocessing import preprocess
    from fashion_search.training.augment import AugmentConfig
    from fashion_search.training.views import view_pixels

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)
    path = tmp_path / "large.jpg"
    Image.fromarray(base).resize((1000, 1200), Image.Resampling.BICUBIC).save(path, quality=92)
    item = CatalogItem(id="a", path=path, category="x")
    contract = PreprocessConfig()
    plain = view_pixels(item, 0, contract, AugmentConfig(), seed=0)
    np.testing.assert_array_equal(plain, preprocess(path.read_bytes(), contract))
