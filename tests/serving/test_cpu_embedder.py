"""The CPU server's Python-backend model: Triton's batch in, one answer per request."""

import contextlib
import importlib
import sys
import types

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from fashion_search import tensor_names
from fashion_search.pixel_buffers import PixelBuffer
from fashion_search.preprocessing import PreprocessConfig, preprocess_photos
from tests.triton_models.test_preprocess_model import FakeBackend, jpeg

pytestmark = pytest.mark.unit


class Request(dict):
    """A request as the backend reads it: its photos and the outputs its client asked for."""

    def __init__(self, photos, wants):
        super().__init__({tensor_names.INPUT_BYTES: np.array([[p] for p in photos], dtype=object)})
        self.wants = set(wants)

    def requested_output_names(self):
        return self.wants


def mean_colour_graph(options: ort.SessionOptions | None = None) -> ort.InferenceSession:
    """A stand-in network: each photo's mean per channel as its embedding."""
    pixels = helper.make_tensor_value_info(tensor_names.PIXELS, TensorProto.FLOAT,
                                           ["n", *PreprocessConfig().input_shape])
    out = helper.make_tensor_value_info(tensor_names.EMBEDDING, TensorProto.FLOAT, ["n", 3])
    graph = helper.make_graph([helper.make_node("GlobalAveragePool", [tensor_names.PIXELS], ["pooled"]),
                               helper.make_node("Flatten", ["pooled"], [tensor_names.EMBEDDING])],
                              "mean", [pixels], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


@pytest.fixture
def model(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", FakeBackend())
    for name in ("fashion_search.serving.backend_errors", "fashion_search.serving.cpu_embedder"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module("fashion_search.serving.cpu_embedder")
    instance = module.TritonPythonModel()  # as initialize() leaves it, without a repository
    instance.session = instance.crowded = mean_colour_graph()
    instance.board = types.SimpleNamespace(running=contextlib.nullcontext,
                                           others_running=lambda: False)
    instance.input, instance.outputs = tensor_names.INPUT_BYTES, [tensor_names.EMBEDDING]
    instance.contract = PreprocessConfig()
    instance.buffer = PixelBuffer(instance.contract)
    return instance, module


def test_the_colour_descriptor_is_computed_only_for_the_requests_that_ask_for_it(model,
                                                                                monkeypatch):
    instance, module = model
    asked = []

    def counting(photos, contract, colours=False, out=None):
        asked.append(colours)
        return preprocess_photos(photos, contract, colours=colours, out=out)

    monkeypatch.setattr(module, "preprocess_photos", counting)
    both, alone = [jpeg(0), jpeg(1)], [jpeg(2)]
    with_colour, without = instance.execute([
        Request(both, {tensor_names.EMBEDDING, tensor_names.COLOUR}),
        Request(alone, {tensor_names.EMBEDDING})])
    assert asked == [True, False]
    pixels, colours = preprocess_photos(both, PreprocessConfig(), colours=True)
    np.testing.assert_array_equal(with_colour.tensors[tensor_names.COLOUR], colours)
    np.testing.assert_allclose(with_colour.tensors[tensor_names.EMBEDDING],
                               pixels.mean(axis=(2, 3)), atol=1e-5)
    assert set(without.tensors) == {tensor_names.EMBEDDING}
    np.testing.assert_allclose(without.tensors[tensor_names.EMBEDDING],
                               preprocess_photos(alone, PreprocessConfig())[0].mean(axis=(2, 3)),
                               atol=1e-5)


def test_a_bad_photo_fails_its_own_request_and_the_batch_is_answered(model):
    instance, _ = model
    good, bad = instance.execute([Request([jpeg(3)], {tensor_names.EMBEDDING}),
                                  Request([b"not a photo"], {tensor_names.EMBEDDING})])
    assert good.error is None and good.tensors[tensor_names.EMBEDDING].shape == (1, 3)
    assert bad.error.code == FakeBackend.TritonError.INVALID_ARG
    assert "not a readable image" in str(bad.error)


def expected(photos):
    return preprocess_photos(photos, PreprocessConfig())[0].mean(axis=(2, 3))


def test_a_request_after_one_that_failed_halfway_gets_its_own_pixels(model):
    instance, _ = model
    first, half_bad, last = [jpeg(4), jpeg(5)], [jpeg(6), b"not a photo"], [jpeg(7)]
    answers = instance.execute([Request(p, {tensor_names.EMBEDDING})
                                for p in (first, half_bad, last)])
    assert [a.error is None for a in answers] == [True, False, True]
    np.testing.assert_allclose(answers[0].tensors[tensor_names.EMBEDDING], expected(first),
                               atol=1e-5)
    np.testing.assert_allclose(answers[2].tensors[tensor_names.EMBEDDING], expected(last),
                               atol=1e-5)
    # The next, smaller batch reuses the buffer and reads only its own rows.
    again = [jpeg(8)]
    (answer,) = instance.execute([Request(again, {tensor_names.EMBEDDING})])
    np.testing.assert_allclose(answer.tensors[tensor_names.EMBEDDING], expected(again), atol=1e-5)
