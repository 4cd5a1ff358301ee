"""Write an exported model into the Triton model repository (``triton_models/``).

The committed ``config.pbtxt`` files keep names and batching; this step sets
the dims, the preprocessing contract and the model version that the new ONNX
file carries, so the served configs say how the model was trained.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fashion_search import triton_config as tc
from fashion_search.export.onnx_export import graph_signature, read_metadata

log = logging.getLogger(__name__)


class RepositoryError(ValueError):
    """The configs and the ONNX graph disagree in a way export cannot fix."""


def check_against_graph(repository: Path, onnx_path: Path) -> None:
    """Raise if a config's tensor names or dims differ from the ONNX graph's."""
    signature = graph_signature(onnx_path)
    embedder = tc.read_config(repository / tc.EMBEDDER / "config.pbtxt")
    for kind, specs in (("inputs", embedder.input), ("outputs", embedder.output)):
        graph = signature[kind]
        names = {s.name for s in specs}
        if names != set(graph):
            raise RepositoryError(f"embedder {kind} {sorted(names)} != ONNX {sorted(graph)}")
        for spec in specs:
            dims = graph[spec.name]
            if not isinstance(dims[0], str):
                raise RepositoryError(f"ONNX {spec.name} has a fixed batch axis {dims[0]}")
            if list(spec.dims) != list(dims[1:]):
                raise RepositoryError(
                    f"embedder {spec.name} dims {list(spec.dims)} != ONNX {dims[1:]}"
                )


def install_model(onnx_path: Path, repository: Path) -> Path:
    """Place ``onnx_path`` as the embedder and align all three configs with it."""
    meta = read_metadata(onnx_path)
    signature = graph_signature(onnx_path)
    pixel_dims = signature["inputs"][tc.PIXELS][1:]
    embed_dims = signature["outputs"][tc.EMBEDDING][1:]

    configs = {name: tc.read_config(repository / name / "config.pbtxt")
               for name in (tc.PREPROCESS, tc.EMBEDDER, tc.ENSEMBLE)}
    tc.set_dims(tc.tensor(configs[tc.PREPROCESS], tc.PIXELS, output=True), pixel_dims)
    tc.set_dims(tc.tensor(configs[tc.EMBEDDER], tc.PIXELS), pixel_dims)
    tc.set_dims(tc.tensor(configs[tc.EMBEDDER], tc.EMBEDDING, output=True), embed_dims)
    tc.set_dims(tc.tensor(configs[tc.ENSEMBLE], tc.EMBEDDING, output=True), embed_dims)
    # A trained model also answers the category; the untuned one has no such output.
    probs = signature["outputs"].get(tc.CATEGORY_PROBS)
    probs_dims = probs[1:] if probs else None
    tc.set_optional_output(configs[tc.EMBEDDER], tc.CATEGORY_PROBS, probs_dims)
    tc.set_optional_output(configs[tc.ENSEMBLE], tc.CATEGORY_PROBS, probs_dims)
    step = tc.ensemble_step(configs[tc.ENSEMBLE], tc.EMBEDDER)
    step.output_map.pop(tc.CATEGORY_PROBS, None)
    if probs_dims:
        step.output_map[tc.CATEGORY_PROBS] = tc.CATEGORY_PROBS
    tc.set_parameter(configs[tc.EMBEDDER], tc.LABELS_PARAM, meta.get("labels", "[]"))
    for name in (tc.PREPROCESS, tc.EMBEDDER):
        tc.set_parameter(configs[name], tc.PREPROCESSING_PARAM, meta["preprocessing"])
    tc.set_parameter(configs[tc.EMBEDDER], tc.MODEL_VERSION_PARAM, meta["model_version"])
    tc.set_parameter(configs[tc.EMBEDDER], tc.METRIC_PARAM, meta["metric"])

    target = repository / tc.EMBEDDER / "1" / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".onnx.tmp")
    tmp.write_bytes(onnx_path.read_bytes())
    tmp.replace(target)
    for name, config in configs.items():
        tc.write_config(repository / name / "config.pbtxt", config)
    check_against_graph(repository, target)
    log.info("installed %s into %s", meta["model_version"], repository)
    return target
