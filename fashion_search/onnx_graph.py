"""ONNX files: writing a module as one self-contained graph, reading it back, running it.

Export, training (its frozen trunk runs as a graph), evaluation and the
benchmark all go through these helpers, so every graph is written the same
way (dynamo exporter, one file, a dynamic batch axis) and opened the same way.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnxruntime as ort
import torch

from fashion_search.batch_slices import CPU_PROVIDER, SPINNING
from fashion_search.errors import RecipeError
from fashion_search.files import atomic_path

log = logging.getLogger(__name__)

METADATA_PREFIX = "fashion_search."
MAX_BATCH = 1024


def export_module(
    module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str,
    output_names: list[str], metadata: dict[str, str] | None = None, opset: int = 18,
) -> Path:
    """One self-contained ONNX file with a dynamic batch axis, written atomically."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    argument = next(iter(inspect.signature(module.forward).parameters))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(), (example,), dynamo=True, external_data=False, opset_version=opset,
            input_names=[input_name], output_names=output_names,
            dynamic_shapes={argument: {0: batch}}, verbose=False,
        )
    proto = program.model_proto
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, value
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
        onnx.checker.check_model(str(tmp))
    return Path(path)


def read_metadata(path: Path) -> dict[str, str]:
    """The facts an exported file carries about itself."""
    model = onnx.load(str(path), load_external_data=False)
    return {p.key[len(METADATA_PREFIX):]: p.value for p in model.metadata_props
            if p.key.startswith(METADATA_PREFIX)}


def graph_signature(path: Path) -> dict[str, dict[str, list]]:
    """Input and output names with their dims (strings for symbolic axes)."""
    model = onnx.load(str(path), load_external_data=False)

    def dims(value) -> list:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    return {
        "inputs": {v.name: dims(v) for v in model.graph.input},
        "outputs": {v.name: dims(v) for v in model.graph.output},
    }


CUDA_PROVIDER = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")


def execution_providers(device: str = "auto", available: Sequence[str] | None = None
                        ) -> list[str]:
    """Where onnxruntime runs: on the GPU when onnxruntime-gpu is installed, else on the CPU.

    ``device`` is ``auto`` (the GPU when there is one), ``cpu`` or ``cuda``.
    """
    if device not in DEVICES:
        raise RecipeError(f"onnxruntime device must be one of {DEVICES}, got {device!r}")
    available = list(ort.get_available_providers() if available is None else available)
    if device == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == "cuda":
        raise RecipeError("onnxruntime has no CUDA provider here: install onnxruntime-gpu in "
                          "place of onnxruntime (`make install-gpu`), or run on the CPU")
    return [CPU_PROVIDER]


def onnx_session(path: Path, threads: int = 0, device: str = "auto",
                 spinning: bool = True) -> ort.InferenceSession:
    """A session on the GPU when onnxruntime-gpu can use one, else on the CPU.

    ``threads=0`` lets onnxruntime use every core. ``spinning=False`` for a
    loop that decodes photos on other threads while the network runs: threads
    that spin between the network's steps take the cores the decoding needs
    (evaluation ran 4-23% faster without, docs/benchmarks.md).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry(SPINNING, "0")
    providers = execution_providers(device)
    log.debug("onnxruntime on %s for %s", providers[0], path)
    return ort.InferenceSession(str(path), options, providers=providers)
