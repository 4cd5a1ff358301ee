"""The garment finder -> ONNX -> parity check -> its own Triton repository.

The finder is served beside the embedder, from a repository of its own (Triton
takes several), so exporting one never rebuilds the other's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fashion_search import tensor_names as names
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.errors import ParityError
from fashion_search.export.garment_repository import built_finder, render_finder
from fashion_search.export.run import synthetic_photos
from fashion_search.garment_finder import GarmentFinder, load_finder
from fashion_search.garments import KINDS
from fashion_search.onnx_graph import export_module, onnx_session
from fashion_search.preprocessing import preprocess_photos

log = logging.getLogger(__name__)

OUTPUTS = [names.GARMENT_BOXES, names.GARMENT_SCORES, names.GARMENT_SHARES]
MAX_SCORE_DIFF = 1e-3
# A patch whose two best classes tie within float error may go either way: one patch
# moves a box edge by one step of the label map.
MAX_BOX_DIFF = 1 / 40


@dataclass(frozen=True)
class FinderExport:
    onnx_path: Path
    version: str
    photos: int
    max_score_diff: float
    max_box_diff: float
    exported: bool = True


def export_finder_onnx(model: GarmentFinder, path: Path) -> Path:
    settings = model.settings
    metadata = {"finder": settings.to_json(), "preprocessing": settings.preprocessing.to_json(),
                "model_version": settings.version, "kinds": json.dumps(list(KINDS))}
    example = torch.randn(2, *settings.preprocessing.input_shape)
    return export_module(model, example, path, names.PIXELS, OUTPUTS, metadata)


class OnnxFinder:
    """The exported finder run in-process by onnxruntime: what evaluation scores, as served."""

    def __init__(self, model: GarmentFinder, workdir: Path):
        self.settings = model.settings
        self.session = onnx_session(export_finder_onnx(model, Path(workdir) / "finder.onnx"))

    def __call__(self, pixels: np.ndarray) -> list[np.ndarray]:
        """(boxes, scores, shares) for a batch of pixels in the finder's contract."""
        return self.session.run(OUTPUTS, {names.PIXELS: pixels})


def check_finder_parity(model: GarmentFinder, onnx_path: Path, photos: Sequence[bytes]
                        ) -> tuple[float, float]:
    """(max score difference, max box difference) between PyTorch and onnxruntime."""
    pixels = preprocess_photos(photos, model.settings.preprocessing)[0]
    with torch.no_grad():
        expected = [t.numpy() for t in model.eval()(torch.from_numpy(pixels))]
    got = onnx_session(onnx_path).run(OUTPUTS, {names.PIXELS: pixels})
    score_diff = float(np.abs(expected[1] - got[1]).max())
    box_diff = float(np.abs(expected[0] - got[0]).max())
    if score_diff > MAX_SCORE_DIFF or box_diff > MAX_BOX_DIFF:
        raise ParityError(f"onnxruntime and PyTorch find different garments over {len(photos)} "
                          f"photos: scores differ by up to {score_diff:.2g} (must be <= "
                          f"{MAX_SCORE_DIFF}), boxes by {box_diff:.3f} of the photo (must be <= "
                          f"{MAX_BOX_DIFF:.3f})")
    log.info("finder parity on %d photos: scores within %.2g, boxes within %.3f",
             len(photos), score_diff, box_diff)
    return score_diff, box_diff


def finder_checkpoint(settings: Settings) -> Path:
    return settings.home / "garments" / "finder.pt"


def export_finder(checkpoint: Path | None = None, parity_photos: Sequence[Path] = (),
                  settings: Settings | None = None, progress: bool = True) -> FinderExport:
    """Export the trained finder, prove parity, render its repository."""
    settings = settings or load_settings()
    model = load_finder(checkpoint or finder_checkpoint(settings))
    build = settings.home / "export" / "garment_finder.onnx"
    photos = [Path(p).read_bytes() for p in parity_photos] or synthetic_photos()
    with tqdm(total=3, desc="export garments", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("writing ONNX")
        export_finder_onnx(model, build)
        bar.update()
        bar.set_postfix_str("checking parity")
        score_diff, box_diff = check_finder_parity(model, build, photos)
        bar.update()
        bar.set_postfix_str("rendering the Triton repository")
        render_finder(settings.model_templates, build, settings.garment_repository)
        bar.update()
    save_resolved_config(build.with_name("garment-export-config.json"), settings=settings,
                         finder=model.settings.to_json(),
                         parity={"photos": len(photos), "max_score_diff": score_diff,
                                 "max_box_diff": box_diff})
    return FinderExport(build, model.settings.version, len(photos), score_diff, box_diff)


def ensure_finder(settings: Settings | None = None, progress: bool = True) -> str | None:
    """The version of the finder the built repository serves, exported first when the trained
    one is newer; None when no finder has been trained."""
    settings = settings or load_settings()
    checkpoint = finder_checkpoint(settings)
    if not checkpoint.is_file():
        log.warning("no garment finder trained yet (%s); train one with "
                    "`fashion-search train-garments`", checkpoint)
        return None
    wanted = load_finder(checkpoint).settings.version
    if built_finder(settings.garment_repository, settings.model_templates) != wanted:
        export_finder(checkpoint, settings=settings, progress=progress)
    return wanted
