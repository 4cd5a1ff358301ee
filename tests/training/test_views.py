"""The frozen trunk runs where it was told to, before any view is computed."""

import pytest
import torch

from fashion_search.backbone import create_backbone, split_backbone
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.training.views import TrunkRunner

pytestmark = pytest.mark.unit


def test_the_runner_puts_its_trunk_on_the_device_it_was_given(tmp_path):
    # "meta" stands in for a GPU: a trunk left on the CPU would show up as "cpu" here.
    trunk, _ = split_backbone(create_backbone(pretrained=False), trainable_stages=2)
    runner = TrunkRunner(trunk, PreprocessConfig(), torch.device("meta"), tmp_path)
    assert {p.device.type for p in runner.trunk.parameters()} == {"meta"}
    assert runner.shape[0] > 0 and len(runner.key) == 16
