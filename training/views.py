"""Frozen-trunk features of photo views, computed once and kept on disk.

Training updates only the last stages of the backbone, so the early stages
(most of the compute) give the same output for the same input view. Each
photo gets a fixed number of views (view 0 plain, the rest augmented); their
trunk features are computed once, by onnxruntime on a CPU, and memory-mapped
in every epoch after. A run that is stopped never leaves a partial file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fashion_search.batch_slices import run_in_slices
from fashion_search.catalog import CatalogItem
from fashion_search.checkpoint import weights_digest
from fashion_search.config import BATCH_SIZE
from fashion_search.files import atomic_path
from fashion_search.onnx_graph import export_module, onnx_session
from fashion_search.pixel_buffers import PixelBuffer, decoded_ahead
from fashion_search.preprocessing import PreprocessConfig, decoded_photo, preprocess
from fashion_search.training.augment import AugmentConfig, augmented_pixels

log = logging.getLogger(__name__)

TRUNK_INPUT, TRUNK_OUTPUT = "pixels", "features"  # the trunk graph's tensors


class TrunkRunner:
    """Runs the frozen trunk: onnxruntime on a CPU (several times faster than eager).

    The ONNX graph is built on first use, so a run whose views are all cached
    never pays for it.
    """

    def __init__(self, trunk: nn.Module, contract: PreprocessConfig, device: torch.device,
                 workdir: Path):
        self.key = weights_digest(trunk)[:16]
        self.trunk = trunk.eval().to(device)  # eager runs on the device it was given
        self.device = device
        self.workdir = Path(workdir)
        self.example = torch.zeros(2, *contract.input_shape)
        self._session = None
        with torch.no_grad():
            self.shape = tuple(self.trunk(self.example.to(device)).shape[1:])

    def _onnx_session(self):
        if self._session is None:
            path = self.workdir / f"trunk-{self.key}.onnx"
            if not path.is_file():
                export_module(self.trunk, self.example, path, TRUNK_INPUT, [TRUNK_OUTPUT])
            # eager torch runs the GPU case; views are decoded alongside
            self._session = onnx_session(path, device="cpu", spinning=False)
        return self._session

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if self.device.type == "cpu" and len(self.trunk):
            return run_in_slices(self._onnx_session(), [TRUNK_OUTPUT], TRUNK_INPUT, pixels)[0]
        with torch.no_grad():
            return self.trunk(torch.from_numpy(pixels).to(self.device)).float().cpu().numpy()


def view_pixels(item: CatalogItem, view: int, contract: PreprocessConfig,
                augment: AugmentConfig, seed: int) -> np.ndarray:
    """View 0 is the photo as the served model sees it; others are seeded random augmentations
    (decoded at twice the input size, so that a zoomed-in crop keeps its detail)."""
    data = item.read_bytes()
    if view == 0:
        return preprocess(data, contract, name=str(item.path))
    image = decoded_photo(data, contract, name=str(item.path), draft_size=2 * contract.size)
    rng = random.Random(f"{seed}:{item.id}:{view}")
    return augmented_pixels(image, contract, augment, rng)


def _stamp(path: Path) -> tuple[int, int]:
    """Size and modification time: a photo edited in place (a new EXIF turn keeps the
    length) is a new photo to the cache."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def cached_views(
    items: Sequence[CatalogItem], views: int, runner: TrunkRunner,
    contract: PreprocessConfig, augment: AugmentConfig, seed: int, cache_dir: Path,
    desc: str = "views", progress: bool = True,
) -> np.ndarray:
    """Trunk features, shape (photos, views, *trunk output), float16, memory-mapped."""
    key = hashlib.sha256(json.dumps({
        "trunk": runner.key, "contract": contract.to_json(), "augment": asdict(augment),
        "views": views, "seed": seed,
        "photos": [(i.id, str(i.path), i.bbox, *_stamp(i.path)) for i in items],
    }, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{desc.replace(' ', '-')}-{key}.npy"
    if path.is_file():
        log.info("reusing %s", path)
        return np.load(path, mmap_mode="r")
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16,
                                        shape=(len(items), views, *runner.shape))
        _fill(out, items, views, runner, contract, augment, seed, desc, progress)
        out.flush()
        del out
    return np.load(path, mmap_mode="r")


def _fill(out: np.ndarray, items: Sequence[CatalogItem], views: int, runner: TrunkRunner,
          contract: PreprocessConfig, augment: AugmentConfig, seed: int, desc: str,
          progress: bool) -> None:
    """Decode and augment on two threads, at most two batches ahead of the trunk."""
    jobs = [(i, v) for i in range(len(items)) for v in range(views)]
    batches = [jobs[s:s + BATCH_SIZE] for s in range(0, len(jobs), BATCH_SIZE)]

    def pixels_of(batch: list[tuple[int, int]], buffer: PixelBuffer) -> np.ndarray:
        rows = buffer.rows(len(batch))
        for row, (i, v) in zip(rows, batch):
            row[...] = view_pixels(items[i], v, contract, augment, seed)
        return rows

    with tqdm(total=len(jobs), desc=desc, unit="view", disable=not progress) as bar:
        for batch, pixels in zip(batches, decoded_ahead(batches, pixels_of, contract, workers=2)):
            features = runner(pixels)
            for (i, v), row in zip(batch, features):
                out[i, v] = row
            bar.update(len(batch))
