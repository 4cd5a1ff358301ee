"""Batch memory is reused, and decoding runs one batch ahead, never further."""

import threading

import numpy as np
import pytest

from fashion_search.errors import ImageError
from fashion_search.pixel_buffers import PixelBuffer, decoded_ahead
from fashion_search.preprocessing import PreprocessConfig

pytestmark = pytest.mark.unit

CONTRACT = PreprocessConfig(size=32)


def test_a_buffer_hands_out_the_same_memory_and_grows_only_for_a_larger_batch():
    buffer = PixelBuffer(CONTRACT)
    first = buffer.rows(4)
    assert first.shape == (4, *CONTRACT.input_shape) and first.dtype == np.float32
    assert np.shares_memory(first, buffer.rows(2))
    larger = buffer.rows(6)
    assert larger.shape[0] == 6 and not np.shares_memory(first, larger)
    assert np.shares_memory(larger, buffer.rows(5))


def test_batches_come_back_in_order_and_at_most_one_is_decoded_ahead():
    started, lock = [], threading.Lock()

    def decode(batch, buffer):
        with lock:
            started.append(batch)
        rows = buffer.rows(1)
        rows[:] = batch
        return batch, rows

    seen, buffers = [], []
    for batch, rows in decoded_ahead(list(range(6)), decode, CONTRACT):
        assert rows[0, 0, 0, 0] == batch  # not yet written over by the next batch
        with lock:
            assert len(started) <= batch + 2
        seen.append(batch)
        buffers.append(rows)
    assert seen == list(range(6))
    assert np.shares_memory(buffers[0], buffers[2]) and not np.shares_memory(buffers[0], buffers[1])


def test_a_batch_that_fails_to_decode_raises_where_it_is_read():
    def decode(batch, buffer):
        if batch == 1:
            raise ImageError("photo 1: not a readable image")
        return batch

    results = decoded_ahead([0, 1, 2], decode, CONTRACT)
    assert next(results) == 0
    with pytest.raises(ImageError, match="photo 1"):
        next(results)


def test_no_batches_give_nothing():
    assert list(decoded_ahead([], lambda batch, buffer: batch, CONTRACT)) == []
