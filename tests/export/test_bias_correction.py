"""Bias correction: the int8-rounded convolutions keep the float graph's mean output."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from fashion_search.export.bias_correction import correct_weight_rounding, rounded_per_channel

RNG = np.random.default_rng(0)


def _weights(out: int, inputs: int, size: int = 3) -> np.ndarray:
    weights = RNG.normal(0, 0.05, (out, inputs, size, size)).astype(np.float32)
    weights[:, 0, 0, 0] = 1.0  # one large weight per channel: a coarse int8 step for the rest
    return weights


def _model(with_bias: bool = True) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A stride-2 convolution with TF-style uneven padding, then a depthwise one."""
    params = {"w1": _weights(8, 4), "b1": RNG.normal(0, 0.1, 8).astype(np.float32),
              "w2": _weights(8, 1), "b2": RNG.normal(0, 0.1, 8).astype(np.float32)}
    first = ["x", "w1", "b1"] if with_bias else ["x", "w1"]
    nodes = [helper.make_node("Conv", first, ["h"], name="wide", strides=[2, 2],
                              pads=[0, 0, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Clip", ["h", "lo", "hi"], ["a"], name="relu6"),
             helper.make_node("Conv", ["a", "w2", "b2"], ["y"], name="depthwise", group=8,
                              pads=[1, 1, 1, 1], kernel_shape=[3, 3])]
    constants = {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}
    used = {k: v for k, v in params.items() if with_bias or k != "b1"}
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, 15, 15])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in {**used, **constants}.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), used


def _batches(count: int = 3) -> list[np.ndarray]:
    return [RNG.uniform(0, 6, (4, 4, 15, 15)).astype(np.float32) for _ in range(count)]


def _mean_output(model: onnx.ModelProto, batches) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.mean([session.run(None, {"x": b})[0].mean(axis=(0, 2, 3)) for b in batches], axis=0)


def _rounded(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every convolution's weights rounded as the int8 graph's are."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for init in copy.graph.initializer:
        if init.name.startswith("w"):
            init.CopyFrom(numpy_helper.from_array(rounded_per_channel(numpy_helper.to_array(init)),
                                                  init.name))
    return copy


@pytest.mark.unit
def test_weights_are_rounded_as_onnxruntime_quantizes_them(tmp_path):
    model, params = _model()
    onnx.save(model, str(tmp_path / "float.onnx"))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": b} for b in _batches()])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(tmp_path / "float.onnx"), str(tmp_path / "int8.onnx"), Reader(),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    stored = {i.name: numpy_helper.to_array(i)
              for i in onnx.load(str(tmp_path / "int8.onnx")).graph.initializer}
    for name in ("w1", "w2"):
        integers = stored[f"{name}_quantized"].astype(np.float32)
        scale = stored[f"{name}_scale"].reshape(-1, 1, 1, 1)
        np.testing.assert_allclose(integers * scale, rounded_per_channel(params[name]),
                                   rtol=0, atol=1e-7)


@pytest.mark.unit
def test_the_rounded_graph_keeps_the_float_graphs_mean_output():
    model, _ = _model()
    batches = _batches()
    corrected = correct_weight_rounding(model, batches, "x")
    float_mean = _mean_output(model, batches)
    before = np.abs(_mean_output(_rounded(model), batches) - float_mean).max()
    after = np.abs(_mean_output(_rounded(corrected), batches) - float_mean).max()
    assert before > 1e-3  # the rounding really shifts the output
    assert after < before / 50


@pytest.mark.unit
def test_skipped_convolutions_keep_their_bias_and_the_float_graph_is_untouched():
    model, params = _model()
    original = model.SerializeToString()
    corrected = correct_weight_rounding(model, _batches(), "x", skip=["wide"])
    stored = {i.name: numpy_helper.to_array(i) for i in corrected.graph.initializer}
    np.testing.assert_array_equal(stored["b1"], params["b1"])
    assert not np.array_equal(stored["b2"], params["b2"])
    assert model.SerializeToString() == original


@pytest.mark.unit
def test_a_convolution_without_a_bias_gets_one():
    model, _ = _model(with_bias=False)
    batches = _batches()
    corrected = correct_weight_rounding(model, batches, "x")
    (wide,) = [n for n in corrected.graph.node if n.name == "wide"]
    assert len(wide.input) == 3 and wide.input[2]
    float_mean = _mean_output(model, batches)
    after = np.abs(_mean_output(_rounded(corrected), batches) - float_mean).max()
    assert after < np.abs(_mean_output(_rounded(model), batches) - float_mean).max() / 50


@pytest.mark.unit
def test_correction_without_photos_is_refused():
    model, _ = _model()
    with pytest.raises(ValueError, match="at least one batch"):
        correct_weight_rounding(model, [], "x")
