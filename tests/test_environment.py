"""The tests run on their own settings, whatever the shell that started them set."""

import os

import pytest

from fashion_search.config import ENV_PREFIX, Settings

pytestmark = pytest.mark.unit


def test_a_developers_own_settings_do_not_reach_the_tests():
    leaked = sorted(key for key in os.environ
                    if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "DATA")
    assert leaked == []
    assert Settings().precision == "float32" and Settings().milvus_token == ""


def test_only_the_fast_loop_may_skip_the_tests_that_need_the_shared_photos():
    from fashion_search.config import PROJECT_ROOT
    from tests.conftest import PHOTOS_OPTIONAL

    targets = {}
    for block in (PROJECT_ROOT / "Makefile").read_text().split("\n\n"):
        for line in block.splitlines():
            if line.startswith(("test:", "test-fast:")):
                targets[line.split(":")[0]] = block
    assert PHOTOS_OPTIONAL in targets["test-fast"] and "-m unit" in targets["test-fast"]
    assert PHOTOS_OPTIONAL not in targets["test"]
