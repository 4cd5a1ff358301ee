"""Batch memory is reused, and decoding runs one batch ahead, never further."""

import threading
import time

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


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_batches_come_back_in_order_and_at_most_workers_are_decoded_ahead(workers):
    started, lock = [], threading.Lock()

    def decode(batch, buffer):
        with lock:
            started.append(batch)
        rows = buffer.rows(1)
        rows[:] = batch
        return batch, rows

    seen, buffers = [], []
    for batch, rows in decoded_ahead(list(range(9)), decode, CONTRACT, workers=workers):
        time.sleep(0.01)  # a slow consumer: the decoders would run far ahead if they could
        assert rows[0, 0, 0, 0] == batch  # not yet written over by a later batch
        with lock:
            assert len(started) <= batch + 1 + workers
        seen.append(batch)
        buffers.append(rows)
    assert seen == list(range(9))
    cycle = workers + 1
    assert np.shares_memory(buffers[0], buffers[cycle])
    assert not any(np.shares_memory(buffers[0], buffers[i]) for i in range(1, cycle))


def test_no_workers_is_refused():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        list(decoded_ahead([0], lambda batch, buffer: batch, CONTRACT, workers=0))


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
