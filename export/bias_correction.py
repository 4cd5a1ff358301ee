"""Undo the mean shift that rounding a convolution's weights to int8 puts in its output.

Rounding a layer's weights changes its output by ``conv(x, W_int8 - W)``. The
spread of that error is noise, but its mean over real photos is a fixed
offset per output channel, and in this network those offsets add up: they were
the larger part of the int8 graph's distance from the float one (docs/benchmarks.md). This
module measures each offset on the calibration photos, with the layer's real
inputs, and subtracts it from the layer's bias before quantization, the
"bias correction" of Nagel et al., *Data-Free Quantization* (2019), in its
empirical form. The weights are rounded here the way onnxruntime's static
quantization rounds them (symmetric int8 per output channel), so the offset
corrected is the one the int8 graph has. (onnxruntime coarsens the scale of
a channel whose weights are all near zero, so that its bias fits in int32;
that channel's offset, near zero either way, is corrected as if it did not.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

log = logging.getLogger(__name__)

INT8_LIMIT = 127  # symmetric int8 weights: -127..127


def rounded_per_channel(weights: np.ndarray) -> np.ndarray:
    """``weights`` after a round trip through symmetric int8, one scale per output channel."""
    flat = weights.reshape(weights.shape[0], -1)
    scale = np.abs(flat).max(axis=1) / INT8_LIMIT
    scale = np.where(scale > 0, scale, 1.0).astype(weights.dtype)
    shape = (-1,) + (1,) * (weights.ndim - 1)
    return (np.clip(np.round(weights / scale.reshape(shape)), -INT8_LIMIT, INT8_LIMIT)
            * scale.reshape(shape))


def _rounding_error(node: onnx.NodeProto, x: np.ndarray, delta: torch.Tensor) -> np.ndarray:
    """Per output channel, the sum over photos of the mean of ``conv(x, delta)``."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ValueError(f"convolution {node.name} uses auto_pad; export with explicit pads")
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    padded = torch.nn.functional.pad(torch.from_numpy(x), (left, right, top, bottom))
    out = torch.nn.functional.conv2d(padded, delta, stride=attrs.get("strides", 1),
                                     dilation=attrs.get("dilations", 1),
                                     groups=attrs.get("group", 1))
    return out.double().mean(dim=(2, 3)).sum(dim=0).numpy()


def _probe(model: onnx.ModelProto, tensors: list[str]) -> ort.InferenceSession:
    """A session of ``model`` that also answers the named inner tensors."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_empty_tensor_value_info(name)
                              for name in tensors if name not in known)
    return ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])


def correct_weight_rounding(model: onnx.ModelProto, batches: Iterable[np.ndarray],
                            input_name: str, skip: Iterable[str] = ()) -> onnx.ModelProto:
    """A copy of ``model`` whose 2-D convolutions (but ``skip``) have bias-corrected outputs.

    ``batches`` are model inputs (real photos, preprocessed); the offsets are
    measured on the float graph's own activations.
    """
    corrected = onnx.ModelProto()
    corrected.CopyFrom(model)
    graph = corrected.graph
    initializers = {init.name: init for init in graph.initializer}
    skipped = set(skip)
    convs = [n for n in graph.node if n.op_type == "Conv" and n.name not in skipped
             and len(n.input) > 1 and n.input[1] in initializers
             and len(initializers[n.input[1]].dims) == 4]
    if not convs:
        return corrected
    inputs = list(dict.fromkeys(n.input[0] for n in convs))  # the activations they read
    session = _probe(model, inputs)
    deltas = []
    for node in convs:
        weights = numpy_helper.to_array(initializers[node.input[1]])
        deltas.append(torch.from_numpy(rounded_per_channel(weights) - weights))
    totals = [np.zeros(d.shape[0]) for d in deltas]
    photos = 0
    for batch in batches:
        values = dict(zip(inputs, session.run(inputs, {input_name: batch})))
        for total, node, delta in zip(totals, convs, deltas):
            total += _rounding_error(node, values[node.input[0]], delta)
        photos += len(batch)
    if not photos:
        raise ValueError("bias correction needs at least one batch of photos")
    for total, node in zip(totals, convs):
        shift = (total / photos).astype(np.float32)
        if len(node.input) > 2 and node.input[2]:
            bias = initializers[node.input[2]]
            bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) - shift, bias.name))
        else:
            name = f"{node.name}_corrected_bias"
            graph.initializer.append(numpy_helper.from_array(-shift, name))
            while len(node.input) < 3:
                node.input.append("")
            node.input[2] = name
    log.info("bias-corrected %d convolutions on %d photos (mean |shift| %.4f)", len(convs),
             photos, float(np.mean([np.abs(t / photos).mean() for t in totals])))
    return corrected
