"""The soak's memory sampler and its per-minute summary."""

import os
from collections import Counter
from pathlib import Path

import pytest

from fashion_search.bench.soak import SoakResult, processes_rss_mb

pytestmark = pytest.mark.unit


def test_the_sampler_finds_processes_by_program_name():
    program = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert processes_rss_mb((Path(program).name,)) > 10  # this test's own interpreter
    assert processes_rss_mb(("no-such-program-here",)) == 0


def test_minutes_summarise_mean_and_peak():
    result = SoakResult([(0.0, 100.0), (30.0, 300.0), (61.0, 200.0), (119.0, 260.0)], Counter())
    assert result.by_minute() == [(1, 200.0, 300.0), (2, 230.0, 260.0)]
