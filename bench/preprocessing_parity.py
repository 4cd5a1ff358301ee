"""The tensor (GPU) preprocessing path against the contract: embedding parity and speed.

Both paths start from the same encoded photos: real photos from each shared
set, plus large photos (real photos enlarged to several megapixels and saved
as JPEGs, where the contract decodes in draft mode). Each photo is embedded
from both paths' pixels by the same ONNX model, and the cosine between the
two embeddings is the parity figure (target: min >= 0.995, mean >= 0.999).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from fashion_search.catalog import photo_paths
from fashion_search.checkpoint import choose_model
from fashion_search.config import Settings, load_settings
from fashion_search.onnx_graph import onnx_session, read_metadata
from fashion_search.preprocessing import PreprocessConfig, preprocess_photos
from fashion_search.tensor_preprocessing import fit_batch, normalise_tensor

log = logging.getLogger(__name__)

SETS = ("clothing-dataset-small", "fashion-product-images", "street2shop-dev")
BATCH = 64
LARGE_SIDE = 4000  # long side of the enlarged photos: about 9-12 megapixels


@dataclass
class ParityRow:
    name: str
    photos: int
    contract_per_s: float
    tensor_per_s: float
    cosine_min: float
    cosine_mean: float
    on_decoder: int  # photos the tensor path's own decoder took; the rest went through PIL


def sample_photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` photos spread over ``folder`` (every photo when it has fewer)."""
    paths = photo_paths(folder)
    if len(paths) <= count:
        return paths
    picks = np.random.default_rng(seed).choice(len(paths), size=count, replace=False)
    return [paths[i] for i in sorted(picks)]


def enlarge(data: bytes, long_side: int = LARGE_SIDE, quality: int = 92) -> bytes:
    """A real photo enlarged to ``long_side`` and saved as a camera-like JPEG."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    out = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=quality)
    return out.getvalue()


Embed = Callable[[np.ndarray], np.ndarray]  # a batch of model inputs -> embeddings


def onnx_embedder(onnx_path: Path, device: str = "auto") -> Embed:
    """The exported model, run by onnxruntime."""
    # Imported here: the GPU check runs this module's parity where Triton's client is absent.
    from fashion_search import triton_config as tc

    session = onnx_session(onnx_path, device=device)
    return lambda pixels: session.run([tc.EMBEDDING], {tc.PIXELS: pixels})[0]


def unit_embeddings(embed: Embed, pixels: np.ndarray) -> np.ndarray:
    """Unit-length embeddings of ``pixels``, embedded in batches."""
    vectors = np.concatenate([embed(pixels[start:start + BATCH])
                              for start in range(0, len(pixels), BATCH)])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def compare(name: str, photos: Sequence[bytes], contract: PreprocessConfig, embed: Embed,
            device: str) -> ParityRow:
    """Both paths on ``photos``: their speeds and the cosine between their embeddings."""
    started = time.perf_counter()
    reference = preprocess_photos(photos, contract)[0]
    contract_s = time.perf_counter() - started
    fit_batch(photos[:2], contract, device)  # the decoder's set-up is not its speed
    tensor_pixels, tally = [], {}
    started = time.perf_counter()
    for start in range(0, len(photos), BATCH):
        fitted = fit_batch(photos[start:start + BATCH], contract, device, tally=tally)
        tensor_pixels.append(normalise_tensor(fitted, contract))
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    tensor_s = time.perf_counter() - started
    pixels = torch.cat(tensor_pixels).cpu().numpy()
    cosines = np.sum(unit_embeddings(embed, reference) * unit_embeddings(embed, pixels), axis=1)
    return ParityRow(name, len(photos), len(photos) / contract_s, len(photos) / tensor_s,
                     float(cosines.min()), float(cosines.mean()), tally.get("decoder", 0))


def parity(embed: Embed, contract: PreprocessConfig, data_dir: Path, per_set: int = 500,
           large: int = 30, device: str = "cpu", progress: bool = True) -> list[ParityRow]:
    """One row per shared set and one for the large photos."""
    rows, everything = [], []
    sets = [name for name in SETS if (Path(data_dir) / name).is_dir()]
    for name in tqdm(sets, desc="parity", unit="set", disable=not progress):
        photos = [p.read_bytes() for p in sample_photos(Path(data_dir) / name, per_set)]
        rows.append(compare(name, photos, contract, embed, device))
        everything.append(photos)
    sources = [photo for photos in everything for photo in photos[:max(1, large // len(sets))]]
    enlarged = [enlarge(data) for data in sources[:large]]
    if enlarged:
        rows.append(compare(f"large (long side {LARGE_SIDE})", enlarged, contract, embed,
                            device))
    return rows


def format_parity(rows: Sequence[ParityRow], device: str, contract: PreprocessConfig) -> str:
    lines = [f"tensor preprocessing on {device} against the contract (JPEG chroma upsampled "
             f"{contract.jpeg_upsampling}), same ONNX model",
             f"{'photos':<28} {'count':>5} {'decoded':>7} {'contract/s':>10} {'tensor/s':>9} "
             f"{'cos min':>8} {'cos mean':>9}"]
    for r in rows:
        lines.append(f"{r.name:<28} {r.photos:>5} {r.on_decoder:>7} {r.contract_per_s:10.1f} "
                     f"{r.tensor_per_s:9.1f} {r.cosine_min:8.4f} {r.cosine_mean:9.5f}")
    return "\n".join(lines)


def bench_preprocessing(per_set: int = 500, device: str = "cpu", settings: Settings | None = None
                        ) -> str:
    """The parity table for the served model on the shared photo sets."""
    from fashion_search import triton_config as tc
    from fashion_search.export.run import ensure_model

    settings = settings or load_settings()
    served = ensure_model(choice=choose_model(settings=settings), settings=settings)
    onnx_path = served.repository / tc.EMBEDDER / "1" / "model.onnx"
    contract = PreprocessConfig.from_json(read_metadata(onnx_path)["preprocessing"])
    rows = parity(onnx_embedder(onnx_path), contract, settings.data_dir, per_set, device=device)
    return format_parity(rows, device, contract)
