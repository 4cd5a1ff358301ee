"""Batch memory reused from one batch to the next.

A new float32 array for each batch looks free, but the kernel maps and zeroes
its pages on first touch: for 224x224 photos that cost 0.11 ms a photo, a
quarter of preprocessing one. A buffer written again and again pays that once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from fashion_search.preprocessing import PreprocessConfig

Batch = TypeVar("Batch")
Decoded = TypeVar("Decoded")


class PixelBuffer:
    """Room for a batch of model inputs, grown to the largest batch asked for.

    What :meth:`rows` returns is overwritten by the next call: use it first.
    """

    def __init__(self, config: PreprocessConfig):
        self.shape = config.input_shape
        self._array = np.empty((0, *self.shape), dtype=np.float32)

    def rows(self, count: int) -> np.ndarray:
        if count > len(self._array):
            self._array = np.empty((count, *self.shape), dtype=np.float32)
        return self._array[:count]


def decoded_ahead(batches: Sequence[Batch], decode: Callable[[Batch, PixelBuffer], Decoded],
                  config: PreprocessConfig) -> Iterator[Decoded]:
    """``decode(batch, buffer)`` for each batch in order, the next one decoded on a
    thread while the caller uses this one.

    Two buffers take turns, so memory holds two batches however many there
    are (an executor's ``map`` would decode all of them ahead of a slower
    consumer). Each result is valid until the caller asks for the next.
    """
    buffers = (PixelBuffer(config), PixelBuffer(config))
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(decode, batches[0], buffers[0]) if batches else None
        for index in range(len(batches)):
            result = pending.result()
            if index + 1 < len(batches):
                pending = pool.submit(decode, batches[index + 1], buffers[(index + 1) % 2])
            yield result
