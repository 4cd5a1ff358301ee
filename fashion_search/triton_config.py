"""Typed Triton model configs, read from and written to ``config.pbtxt``.

The committed ``config.pbtxt`` files are the source of truth for names,
shapes and batching; this module parses them into Triton's own protobuf
``ModelConfig`` so code edits fields, never text.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

ModelConfig = mc.ModelConfig

PREPROCESS = "preprocess"
EMBEDDER = "embedder"
ENSEMBLE = "embed_image"
INPUT_BYTES = "image_bytes"
PIXELS = "pixel_values"
EMBEDDING = "embedding"
PREPROCESSING_PARAM = "preprocessing"
MODEL_VERSION_PARAM = "model_version"
METRIC_PARAM = "metric"


def read_config(path: Path) -> mc.ModelConfig:
    return text_format.Parse(Path(path).read_text(), mc.ModelConfig())


def config_to_text(config: mc.ModelConfig) -> str:
    return text_format.MessageToString(config)


def write_config(path: Path, config: mc.ModelConfig) -> None:
    """Write atomically so a crash never leaves a half-written config."""
    path = Path(path)
    tmp = path.with_suffix(".pbtxt.tmp")
    tmp.write_text(config_to_text(config))
    tmp.replace(path)


def get_parameter(config: mc.ModelConfig, key: str, default: str | None = None) -> str | None:
    if key in config.parameters:
        return config.parameters[key].string_value
    return default


def set_parameter(config: mc.ModelConfig, key: str, value: str) -> None:
    config.parameters[key].string_value = value


def tensor(config: mc.ModelConfig, name: str, output: bool = False):
    """The input (or output) called ``name``; KeyError names what exists."""
    tensors = config.output if output else config.input
    for spec in tensors:
        if spec.name == name:
            return spec
    raise KeyError(f"{config.name} has no {'output' if output else 'input'} {name!r}: "
                   f"{[t.name for t in tensors]}")


def set_dims(spec, dims: tuple[int, ...]) -> None:
    del spec.dims[:]
    spec.dims.extend(dims)


def cpu_variant(config: mc.ModelConfig, instances: int = 1) -> mc.ModelConfig:
    """The GPU onnxruntime embedder config turned into a CPU Python-backend one.

    Same name, tensors and batching; only the backend and placement differ.
    """
    cpu = mc.ModelConfig()
    cpu.CopyFrom(config)
    cpu.backend = "python"
    cpu.platform = ""
    del cpu.instance_group[:]
    group = cpu.instance_group.add()
    group.kind = mc.ModelInstanceGroup.KIND_CPU
    group.count = instances
    cpu.ClearField("optimization")
    return cpu
