"""The int8 variant is another model version whose embeddings stay close to the float graph's."""

from contextlib import ExitStack
from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import helper

from fashion_search import triton_config as tc
from fashion_search.errors import ConfigError
from fashion_search.export.quantize import (
    FLOAT_CONVS,
    INT8_MIN_COSINE,
    SUFFIX,
    float_nodes,
    quantize_int8,
)
from fashion_search.export.repository import built_version
from fashion_search.export.run import ensure_model, export
from fashion_search.onnx_graph import graph_signature, onnx_session, read_metadata
from fashion_search.preprocessing import PreprocessConfig, preprocess, preprocess_photos
from fashion_search.serving.serve import ensure_server
from tests.conftest import free_port


@pytest.mark.integration
def test_the_int8_graph_embeds_like_the_float_one_under_its_own_version(exported, parity_photos,
                                                                        tmp_path):
    photos = [p.read_bytes() for p in parity_photos]
    out = quantize_int8(exported.onnx_path, tmp_path / "int8.onnx", photos, PreprocessConfig())
    meta = read_metadata(out)
    assert meta["model_version"] == exported.model_version + SUFFIX
    assert meta["preprocessing"] == read_metadata(exported.onnx_path)["preprocessing"]
    assert graph_signature(out) == graph_signature(exported.onnx_path)
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    pixels = np.stack([preprocess(p, PreprocessConfig()) for p in photos])
    found = [onnx_session(path, device="cpu").run([tc.EMBEDDING], {tc.PIXELS: pixels})[0]
             for path in (exported.onnx_path, out)]
    found = [f / np.linalg.norm(f, axis=1, keepdims=True) for f in found]
    assert np.sum(found[0] * found[1], axis=1).min() > 0.95


@pytest.mark.integration
def test_every_convolution_after_the_first_blocks_is_quantized(exported, parity_photos,
                                                              tmp_path):
    photos = [p.read_bytes() for p in parity_photos]
    out = quantize_int8(exported.onnx_path, tmp_path / "int8.onnx", photos, PreprocessConfig())
    graph = onnx.load(str(out)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) > 10
    assert [n.input[1] in dequantized for n in convs] == ([False] * FLOAT_CONVS
                                                          + [True] * (len(convs) - FLOAT_CONVS))


@pytest.mark.unit
def test_the_first_convolutions_and_the_heads_are_left_in_float():
    convs = [helper.make_node("Conv", [f"c{i}", f"w{i}"], [f"c{i + 1}"], name=f"conv{i}")
             for i in range(FLOAT_CONVS + 2)]
    nodes = [helper.make_node("Identity", ["x"], ["c0"], name="input"), *convs,
             helper.make_node("GlobalAveragePool", [f"c{len(convs)}"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "pw", "pb"], ["e"], name="projection"),
             helper.make_node("MatMul", ["e", "cw"], ["l"], name="classifier")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])], [helper.make_tensor_value_info(
        "l", onnx.TensorProto.FLOAT, [1, 2])])
    assert float_nodes(graph) == ([f"conv{i}" for i in range(FLOAT_CONVS)]
                                  + ["projection", "classifier"])


@pytest.mark.integration
def test_calibration_without_photos_is_refused(exported, tmp_path):
    with pytest.raises(ValueError, match="catalogue photos"):
        quantize_int8(exported.onnx_path, tmp_path / "int8.onnx", [], PreprocessConfig())
    assert not (tmp_path / "int8.onnx").exists()


@pytest.mark.integration
def test_an_int8_build_is_served_by_triton_as_a_version_of_its_own(settings, exported,
                                                                  parity_photos, tmp_path):
    int8 = replace(settings, home=tmp_path / "home", precision="int8",
                   triton_url=f"127.0.0.1:{free_port()}")
    result = export(parity_photos=parity_photos, settings=int8, progress=False)
    assert result.model_version == exported.model_version + SUFFIX
    assert built_version(int8.model_repository, int8.model_templates) == result.model_version
    again = ensure_model(settings=int8, progress=False)
    assert not again.exported and again.version == result.model_version
    photos = [p.read_bytes() for p in parity_photos]
    local = onnx_session(exported.onnx_path, device="cpu").run(
        [tc.EMBEDDING], {tc.PIXELS: preprocess_photos(photos, PreprocessConfig())[0]})[0]
    local /= np.linalg.norm(local, axis=1, keepdims=True)
    with ExitStack() as stack:
        client = ensure_server(int8, stack, expected_version=result.model_version)
        assert client.info().version == result.model_version
        served = client.embed(photos)
    assert np.sum(served * local, axis=1).min() > INT8_MIN_COSINE


@pytest.mark.integration
def test_an_unknown_precision_is_refused_with_the_known_ones(settings):
    with pytest.raises(ConfigError, match="PRECISION is 'fp16'; use one of float32, int8"):
        replace(settings, precision="fp16")
