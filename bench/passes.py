"""Timing a run over all the photos: passes, medians, and runs that take turns."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

PASSES = 3  # passes over the photos per row (eager PyTorch: one); the median is reported


def median_rate(photos: Sequence[bytes], run: Callable[[Sequence[bytes]], object], batch: int,
                passes: int = PASSES) -> float:
    """The median of ``passes`` passes over the photos: one pass is a second or two, which
    a shared machine's hiccup can move by 10%."""
    return rates_in_turns([(photos, run, batch)], passes)[0]


def rates_in_turns(runs: Sequence[tuple[Sequence, Callable[[Sequence], object], int]],
                   passes: int = PASSES) -> list[float]:
    """Each run's median rate, the runs taking turns within each pass: a shared machine's
    speed drifts by 10% in a minute, and rows timed a minute apart would carry the drift
    into their ratio."""
    for items, run, batch in runs:
        run(items[:batch])  # warm up
    rates: list[list[float]] = [[] for _ in runs]
    for _ in range(passes):
        for timed, (items, run, batch) in zip(rates, runs):
            start = time.perf_counter()
            for i in range(0, len(items), batch):
                run(items[i:i + batch])
            timed.append(len(items) / (time.perf_counter() - start))
    return [float(np.median(timed)) for timed in rates]
