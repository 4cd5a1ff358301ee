"""The tests run on their own settings, whatever the shell that started them set."""

import os

import pytest

from fashion_search.config import ENV_PREFIX, Settings

pytestmark = pytest.mark.unit


def test_a_developers_own_settings_do_not_reach_the_tests():
    leaked = sorted(key for key in os.environ
                    if key.startswith(ENV_PREFIX) and key not in {
                        ENV_PREFIX + "TEST_DATA", ENV_PREFIX + "DATA"})
    assert leaked == []
    assert Settings().precision == "float32" and Settings().milvus_token == ""
