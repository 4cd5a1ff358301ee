"""Render the garment finder's Triton repository from the committed templates.

Three models: ``find_garments`` (the ensemble a client calls: photo bytes in),
``preprocess_garments`` (the preprocess model with the finder's own contract) and
``garment_finder`` (the network). The ONNX file's metadata fills in the dims, the
contract and the finder's settings, as for the embedder.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from fashion_search import colour
from fashion_search import triton_config as tc
from fashion_search.errors import RepositoryError
from fashion_search.export.repository import templates_digest
from fashion_search.files import atomic_dir
from fashion_search.onnx_graph import graph_signature, read_metadata

log = logging.getLogger(__name__)

MODELS = (tc.FINDER, tc.FINDER_NETWORK)


def render_finder_configs(templates: Path, onnx_path: Path) -> dict[str, tc.ModelConfig]:
    meta = read_metadata(onnx_path)
    signature = graph_signature(onnx_path)
    pixel_dims = signature["inputs"][tc.PIXELS][1:]
    kinds = signature["outputs"][tc.GARMENT_SCORES][1:]
    if isinstance(kinds[0], str):
        raise RepositoryError(f"{onnx_path}: the finder's kinds axis is not fixed ({kinds})")
    configs = {name: tc.read_config(templates / name / "config.pbtxt") for name in MODELS}
    pre = tc.read_config(templates / tc.PREPROCESS / "config.pbtxt")
    pre.name = tc.FINDER_PREPROCESS
    configs[tc.FINDER_PREPROCESS] = pre
    tc.set_dims(tc.tensor(pre, tc.PIXELS, output=True), pixel_dims)
    tc.set_dims(tc.tensor(pre, tc.COLOUR, output=True), (colour.DIM,))
    tc.set_dims(tc.tensor(configs[tc.FINDER_NETWORK], tc.PIXELS), pixel_dims)
    for name in MODELS:
        config = configs[name]
        tc.set_dims(tc.tensor(config, tc.GARMENT_BOXES, output=True), (*kinds, 4))
        for output in (tc.GARMENT_SCORES, tc.GARMENT_SHARES):
            tc.set_dims(tc.tensor(config, output, output=True), tuple(kinds))
        tc.set_parameter(config, tc.FINDER_PARAM, meta["finder"])
        tc.set_parameter(config, tc.MODEL_VERSION_PARAM, meta["model_version"])
        tc.set_parameter(config, tc.TEMPLATES_PARAM, templates_digest(templates))
    for name in (tc.FINDER_PREPROCESS, tc.FINDER_NETWORK):
        tc.set_parameter(configs[name], tc.PREPROCESSING_PARAM, meta["preprocessing"])
    return configs


def render_finder(templates: Path, onnx_path: Path, target: Path) -> Path:
    """Build ``target`` (the finder's repository) whole; it replaces the old one."""
    templates, target = Path(templates), Path(target)
    if target.resolve() == templates.resolve():
        raise RepositoryError(f"the built repository must not be the templates folder {templates}")
    configs = render_finder_configs(templates, onnx_path)
    with atomic_dir(target) as staging:
        sources = {tc.FINDER: tc.FINDER, tc.FINDER_NETWORK: tc.FINDER_NETWORK,
                   tc.FINDER_PREPROCESS: tc.PREPROCESS}
        for name, source in sources.items():
            shutil.copytree(templates / source, staging / name,
                            ignore=shutil.ignore_patterns("__pycache__", ".gitkeep", "*.onnx"))
            tc.write_config(staging / name / "config.pbtxt", configs[name])
        shutil.copy2(onnx_path, staging / tc.FINDER_NETWORK / "1" / "model.onnx")
    log.info("rendered the garment finder's Triton repository in %s", target)
    return target


def built_finder(repository: Path, templates: Path | None = None) -> str | None:
    """The finder version a built repository serves; None when not built (or from other
    templates)."""
    config = Path(repository) / tc.FINDER_NETWORK / "config.pbtxt"
    if not config.is_file() or not (config.parent / "1" / "model.onnx").is_file():
        return None
    parsed = tc.read_config(config)
    if templates is not None and tc.get_parameter(parsed, tc.TEMPLATES_PARAM) != templates_digest(
            templates):
        return None
    return tc.get_parameter(parsed, tc.MODEL_VERSION_PARAM)
