"""A batch runs a few photos per call on a CPU, whole on any other provider, same answers."""

import numpy as np
import onnxruntime as ort
import pytest

from fashion_search import tensor_names
from fashion_search.batch_slices import ROWS, run_in_slices, slice_rows
from fashion_search.preprocessing import PreprocessConfig
from tests.serving.test_cpu_embedder import mean_colour_graph

pytestmark = pytest.mark.unit


class Recording:
    """A real session that notes the batch size of every call and claims a provider."""

    def __init__(self, provider="CPUExecutionProvider"):
        self.session, self.provider, self.calls = mean_colour_graph(), provider, []

    def get_session_options(self):
        return self.session.get_session_options()

    def get_providers(self):
        return [self.provider, "CPUExecutionProvider"]

    def run(self, outputs, feeds):
        self.calls.append(len(feeds[tensor_names.PIXELS]))
        return self.session.run(outputs, feeds)


def pixels(count):
    rng = np.random.default_rng(count)
    return rng.standard_normal((count, *PreprocessConfig().input_shape)).astype(np.float32)


@pytest.mark.parametrize("count", [1, ROWS, ROWS + 1, 3 * ROWS + 2])
def test_a_cpu_batch_runs_a_few_photos_per_call_in_order(count):
    session, batch = Recording(), pixels(count)
    (out,) = run_in_slices(session, [tensor_names.EMBEDDING], tensor_names.PIXELS, batch)
    assert sum(session.calls) == count and max(session.calls) <= ROWS
    assert len(session.calls) == -(-count // ROWS)
    np.testing.assert_allclose(out, batch.mean(axis=(2, 3)), atol=1e-5)


def test_a_gpu_session_gets_the_whole_batch_in_one_call():
    session = Recording("CUDAExecutionProvider")
    run_in_slices(session, [tensor_names.EMBEDDING], tensor_names.PIXELS, pixels(3 * ROWS))
    assert session.calls == [3 * ROWS]


@pytest.mark.parametrize("threads, rows", [(1, ROWS), (2, ROWS), (16, 32)])
def test_a_slice_holds_two_photos_a_thread_and_never_fewer_than_the_minimum(threads, rows):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    assert slice_rows(mean_colour_graph(options)) == rows
