"""The memory sampler the benchmarks share, and the soak's per-minute summary."""

import os
from collections import Counter
from pathlib import Path

import pytest

from fashion_search.bench.process_memory import program_is, resident_mb
from fashion_search.bench.soak import SoakResult

pytestmark = pytest.mark.unit


def test_the_sampler_finds_processes_by_program_name():
    program = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert resident_mb(program_is(Path(program).name)) > 10  # this test's own interpreter
    assert resident_mb(program_is("no-such-program-here")) == 0


def test_minutes_summarise_mean_and_peak():
    result = SoakResult([(0.0, 100.0), (30.0, 300.0), (61.0, 200.0), (119.0, 260.0)], Counter())
    assert result.by_minute() == [(1, 200.0, 300.0), (2, 230.0, 260.0)]
