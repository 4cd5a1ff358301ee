"""Settings come from the environment; a value that cannot be used is refused by its name."""

import pytest

from fashion_search.config import Settings
from fashion_search.errors import ConfigError

pytestmark = pytest.mark.unit


def test_endpoints_and_limits_come_from_prefixed_variables(monkeypatch):
    monkeypatch.setenv("FASHION_SEARCH_TRITON_URL", "triton.internal:8001")
    monkeypatch.setenv("FASHION_SEARCH_TRITON_TIMEOUT_S", "2.5")
    monkeypatch.setenv("FASHION_SEARCH_DEMO_PORT", "9000")
    settings = Settings()
    assert (settings.triton_url, settings.triton_timeout_s, settings.demo_port) == (
        "triton.internal:8001", 2.5, 9000)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("TRITON_TIMEOUT_S", "abc", "FASHION_SEARCH_TRITON_TIMEOUT_S is 'abc'; give a number above 0"),
    ("TRITON_TIMEOUT_S", "nan", "FASHION_SEARCH_TRITON_TIMEOUT_S is 'nan'; give a number above 0"),
    ("TRITON_TIMEOUT_S", "0", "FASHION_SEARCH_TRITON_TIMEOUT_S is '0'; give a number above 0"),
    ("DEMO_PORT", "80.5", "FASHION_SEARCH_DEMO_PORT is '80.5'; give a whole number above 0"),
    ("DEMO_PORT", "-3", "FASHION_SEARCH_DEMO_PORT is '-3'; give a whole number above 0"),
])
def test_a_number_that_cannot_be_used_is_refused_by_its_variable(monkeypatch, name, value,
                                                                  message):
    monkeypatch.setenv(f"FASHION_SEARCH_{name}", value)
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert str(caught.value) == message


def test_an_unknown_precision_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("FASHION_SEARCH_PRECISION", "fp8")
    with pytest.raises(ConfigError, match="PRECISION is 'fp8'; use one of float32, int8"):
        Settings()
