"""The int8 variant is another model version whose embeddings stay close to the float graph's."""

import numpy as np
import onnx
import pytest

from fashion_search import triton_config as tc
from fashion_search.export.quantize import SUFFIX, quantize_int8
from fashion_search.onnx_graph import graph_signature, onnx_session, read_metadata
from fashion_search.preprocessing import PreprocessConfig, preprocess

pytestmark = pytest.mark.integration


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


def test_every_convolution_is_int8_and_the_heads_stay_in_float(exported, parity_photos,
                                                                     tmp_path):
    photos = [p.read_bytes() for p in parity_photos]
    out = quantize_int8(exported.onnx_path, tmp_path / "int8.onnx", photos, PreprocessConfig())
    graph = onnx.load(str(out)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) > 10
    assert all(n.input[1] in dequantized for n in convs)
    heads = [n for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    assert all(not set(n.input) & dequantized for n in heads)  # the trained model has heads


def test_calibration_without_photos_is_refused(exported, tmp_path):
    with pytest.raises(ValueError, match="catalogue photos"):
        quantize_int8(exported.onnx_path, tmp_path / "int8.onnx", [], PreprocessConfig())
    assert not (tmp_path / "int8.onnx").exists()
