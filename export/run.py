"""The ``export`` step: model -> ONNX -> parity check -> the built Triton repository.

Every step that serves a model (``export``, ``serve``, ``index``, ``demo``,
``bench``) picks it by one rule (:func:`fashion_search.checkpoint.choose_model`)
and decides whether the built repository already serves it by model version.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from fashion_search.catalog import read_photo
from fashion_search.checkpoint import LoadedModel, ModelChoice, choose_model
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.export.onnx_export import export_onnx
from fashion_search.export.parity import ParityReport, check_parity
from fashion_search.export.quantize import (
    CALIBRATION_PHOTOS,
    calibration_photos,
    check_int8,
    quantize_int8,
)
from fashion_search.export.quantize import SUFFIX as INT8_SUFFIX
from fashion_search.export.repository import built_version, check_build_target, render_repository
from fashion_search.export.served import ServedModel
from fashion_search.preprocessing import PreprocessConfig

log = logging.getLogger(__name__)

INT8_CHECK_PHOTOS = 32  # held-out catalogue photos the int8 graph is checked on


@dataclass(frozen=True)
class ExportResult:
    onnx_path: Path
    model_version: str
    parity: ParityReport
    model: str = ""  # which model, in words


def synthetic_photos() -> list[bytes]:
    """Stand-in photos of several sizes and shapes when no real ones are given (one at the
    contract's input size, which skips the resize)."""
    rng = np.random.default_rng(0)
    photos = []
    size = PreprocessConfig().size
    for width, height in ((size, size), (400, 533), (192, 256), (640, 360), (97, 301)):
        base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((width, height), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        photos.append(out.getvalue())
    return photos


def export_loaded(loaded: LoadedModel, choice: ModelChoice, parity_photos: Sequence[Path],
                  settings: Settings, progress: bool) -> ExportResult:
    """Write ONNX, prove parity on photos, and render the repository for ``loaded``."""
    build = settings.home / "export" / "model.onnx"
    # before any work, so a missing catalogue fails at once
    int8_photos = (calibration_photos(settings, {"train": CALIBRATION_PHOTOS,
                                                 "validation": INT8_CHECK_PHOTOS})
                   if settings.int8 else {})
    photos = [read_photo(path) for path in parity_photos]  # an unreadable one stops it here
    names = [str(path) for path in parity_photos] or None
    with tqdm(total=3, desc="export", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("writing ONNX")
        export_onnx(loaded, build)
        bar.update()
        bar.set_postfix_str("checking parity")
        if not photos:
            log.info("no parity photos given; checking parity on synthetic images")
            photos = synthetic_photos()
        report = check_parity(loaded, build, photos, names=names)
        bar.update()
        served = build
        if settings.int8:
            bar.set_postfix_str("quantizing to int8")
            served = quantize_int8(build, build.with_name("model-int8.onnx"),
                                   int8_photos["train"], loaded.preprocessing)
            check_int8(build, served, int8_photos["validation"], loaded.preprocessing)
        bar.set_postfix_str("rendering the Triton repository")
        target = render_repository(settings.model_templates, served, settings.model_repository,
                                   settings.preprocess_gpu_instances)
        bar.update()
    version = served_version(loaded, settings)
    save_resolved_config(
        build.with_name("export-config.json"), settings=settings,
        export={"model": choice, "backbone": loaded.backbone, "model_version": version,
                "preprocessing": loaded.preprocessing, "parity": report, "installed": target},
    )
    return ExportResult(target, version, report, choice.describe())


def served_version(loaded: LoadedModel, settings: Settings) -> str:
    """The model version the repository serves: the int8 variant is a version of its own."""
    return loaded.version + (INT8_SUFFIX if settings.int8 else "")


def export(
    checkpoint: Path | None = None,
    untuned: bool = False,
    backbone: str | None = None,
    weights: Path | None = None,
    parity_photos: Sequence[Path] = (),
    progress: bool = True,
    settings: Settings | None = None,
) -> ExportResult:
    """Export the chosen model (the trained one when there is one), check it, build the repository."""
    settings = settings or load_settings()
    check_build_target(settings.model_templates, settings.model_repository)
    choice = choose_model(checkpoint, untuned, backbone, weights, settings)
    log.info("exporting %s", choice.describe())
    return export_loaded(choice.load(), choice, parity_photos, settings, progress)


def ensure_model(
    checkpoint: Path | None = None, untuned: bool = False, settings: Settings | None = None,
    progress: bool = True, choice: ModelChoice | None = None,
) -> ServedModel:
    """The built repository serving the chosen model; exported only when it serves another.

    ``choice`` is a model already chosen; otherwise the rule picks one.
    """
    settings = settings or load_settings()
    check_build_target(settings.model_templates, settings.model_repository)
    choice = choice or choose_model(checkpoint, untuned, settings=settings)
    loaded = choice.load()
    current = built_version(settings.model_repository, settings.model_templates,
                            settings.preprocess_gpu_instances)
    wanted = served_version(loaded, settings)
    exported = current != wanted
    if exported:
        if current:
            log.info("the built repository serves %s; exporting %s", current, wanted)
        export_loaded(loaded, choice, (), settings, progress)
    served = ServedModel(wanted, choice.describe(), settings.model_repository, exported)
    log.info("serving %s", served)
    return served
