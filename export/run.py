"""The ``export`` step: checkpoint -> ONNX -> parity check -> Triton repository."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from fashion_search import triton_config as tc
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.export.onnx_export import export_onnx
from fashion_search.export.parity import ParityReport, check_parity
from fashion_search.export.repository import install_model
from fashion_search.training.checkpoint import load_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    onnx_path: Path
    model_version: str
    parity: ParityReport


def synthetic_photos() -> list[bytes]:
    """Stand-in photos of several sizes and shapes when no real ones are given."""
    rng = np.random.default_rng(0)
    photos = []
    for width, height in ((224, 224), (400, 533), (192, 256), (640, 360), (97, 301)):
        base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((width, height), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        photos.append(out.getvalue())
    return photos


def export(
    checkpoint: Path | None = None,
    backbone: str = "efficientnet_lite0",
    weights: Path | None = None,
    parity_photos: Sequence[Path] = (),
    model_repository: Path | None = None,
    progress: bool = True,
    settings: Settings | None = None,
) -> ExportResult:
    """Export the model, prove parity on photos, and install it for Triton."""
    settings = settings or load_settings()
    repository = Path(model_repository or settings.model_repository)
    build = settings.home / "export" / "model.onnx"
    with tqdm(total=4, desc="export", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("loading model")
        loaded = load_model(checkpoint, backbone, weights)
        bar.update()
        bar.set_postfix_str("writing ONNX")
        export_onnx(loaded, build)
        bar.update()
        bar.set_postfix_str("checking parity")
        photos = [Path(p).read_bytes() for p in parity_photos]
        if not photos:
            log.warning("no parity photos given; checking parity on synthetic images")
            photos = synthetic_photos()
        report = check_parity(loaded, build, photos)
        bar.update()
        bar.set_postfix_str("installing into the Triton repository")
        target = install_model(build, repository)
        bar.update()
    save_resolved_config(
        build.with_name("export-config.json"), settings=settings,
        export={"checkpoint": checkpoint, "backbone": loaded.backbone,
                "model_version": loaded.version, "preprocessing": loaded.preprocessing,
                "parity": report, "installed": target},
    )
    return ExportResult(target, loaded.version, report)


def default_checkpoint(settings: Settings) -> Path | None:
    """The trained model that the demo uses when one has been trained."""
    path = settings.home / "training" / "model.pt"
    return path if path.is_file() else None


def ensure_model(checkpoint: Path | None = None, settings: Settings | None = None) -> Path:
    """Export only when there is no served model, or the checkpoint is newer than it."""
    settings = settings or load_settings()
    checkpoint = checkpoint or default_checkpoint(settings)
    target = settings.model_repository / tc.EMBEDDER / "1" / "model.onnx"
    if target.is_file() and (checkpoint is None or
                             target.stat().st_mtime >= Path(checkpoint).stat().st_mtime):
        return target
    return export(checkpoint=checkpoint, settings=settings).onnx_path
