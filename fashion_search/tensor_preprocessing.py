"""The preprocessing contract on tensors: photos decoded and fitted in batches, on a GPU if any.

A GPU server cannot feed its model from PIL on the CPU, so the GPU
deployment's ``preprocess`` model decodes JPEGs with nvJPEG (on a CPU with
libjpeg-turbo, upsampling chroma as nvJPEG does) and fits them with torch. It
follows the contract in :mod:`fashion_search.preprocessing` step by step, so
the two paths give the same embedding (measured by ``fashion-search bench
--suite preprocessing``):

- a contract with fast chroma upsampling (the default) decodes a JPEG to the
  very pixels nvJPEG gives; one with smooth upsampling (models made before)
  differs from nvJPEG by a level or two where colours meet;

- the contract decodes a large JPEG in draft mode (libjpeg's DCT scaling by
  1/2, 1/4 or 1/8, chosen as PIL chooses it); here the full decode is
  averaged over blocks of that size, which is what DCT scaling approximates;
- the resized size and the crop offset are computed as the contract does, and
  the bicubic resize antialiases as PIL's does;
- pixels are rounded to 8 bits before normalising, as PIL's are.

Photos that share a stored size and EXIF turn (most of a catalogue) are fitted
in one resize; the colour descriptor is computed from the fits on their
device (:mod:`fashion_search.tensor_colour`), so nothing returns to the CPU.

Photos this path does not decode the same way (PNG, WebP, CMYK or greyscale
JPEGs, anything odd) go through the contract's own code, one by one, so
every photo is fitted and every bad one gets the contract's error message.
So does every photo of a contract whose resampling torch lacks (lanczos).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.io import ImageReadMode, decode_jpeg

from fashion_search.images import MAX_BYTES, MAX_PIXELS
from fashion_search.preprocessing import PreprocessConfig, check_fit, fitted_photo, fitted_size
from fashion_search.tensor_colour import colour_descriptors

try:
    import simplejpeg
except ImportError:  # decoded by torchvision instead, which upsamples chroma smoothly
    simplejpeg = None

log = logging.getLogger(__name__)

DRAFT_SCALES = (8, 4, 2, 1)  # libjpeg's DCT scaling factors, largest first (as PIL picks them)
TORCH_RESAMPLING = ("bilinear", "bicubic")  # the contract's modes torch resizes as PIL does
# Photos a CPU fits in one resize: a larger batch of float photos spills the caches
# (256 street photos: 150 ms 8 at a time, 380 ms all at once). A GPU takes each group whole.
CPU_GROUP = 8


def draft_factor(width: int, height: int, size: int) -> int:
    """The reduction PIL's JPEG draft mode applies for a ``size`` x ``size`` request."""
    scale = min(width // size, height // size)
    return next((s for s in DRAFT_SCALES if scale >= s), 1)


# EXIF orientation -> the torch steps that show the stored (C, H, W) pixels upright,
# as PIL's ``ImageOps.exif_transpose`` does
_ORIENT = {
    2: lambda x: x.flip(-1),
    3: lambda x: x.flip(-1, -2),
    4: lambda x: x.flip(-2),
    5: lambda x: x.transpose(-1, -2),
    6: lambda x: torch.rot90(x, -1, (-2, -1)),
    7: lambda x: x.transpose(-1, -2).flip(-1, -2),
    8: lambda x: torch.rot90(x, 1, (-2, -1)),
}


def _plain_jpeg(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation) of a colour JPEG this path decodes like PIL, else None."""
    if len(data) > MAX_BYTES or data[:2] != b"\xff\xd8" or not data.rstrip(b"\x00").endswith(
            b"\xff\xd9"):
        return None  # not a JPEG, or one cut short (the contract refuses it by name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != "JPEG" or image.mode != "RGB":
                return None
            if image.width * image.height > MAX_PIXELS:
                return None  # the contract path refuses it with its message
            orientation = image.getexif().get(0x0112, 1)
            return (*image.size, orientation if orientation in _ORIENT else 1)
    except Exception:  # noqa: BLE001 - anything odd goes to the contract path, which says why
        return None


def shown_size(width: int, height: int, draft: int = 1, orientation: int = 1
               ) -> tuple[int, int]:
    """(width, height) of a stored photo once draft-reduced and turned upright."""
    width, height = -(-width // draft), -(-height // draft)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def fit_tensors(images: torch.Tensor, config: PreprocessConfig, draft: int = 1,
                orientation: int = 1) -> torch.Tensor:
    """Decoded RGB uint8 (N, 3, H, W) photos of one stored size and EXIF turn -> their
    (N, 3, size, size) fits, in one resize for all of them.

    The draft reduction comes before the EXIF turn, as in PIL, so the blocks
    line up with the stored pixels. The caller has checked the size (check_fit).
    """
    pixels = images.float()
    if draft > 1:
        pixels = F.avg_pool2d(pixels, draft, draft, ceil_mode=True).round()
    if orientation in _ORIENT:
        pixels = _ORIENT[orientation](pixels)
    height, width = pixels.shape[-2:]
    size = config.size
    new_w, new_h = fitted_size(width, height, config)
    if (new_h, new_w) != (height, width):
        pixels = F.interpolate(pixels, size=(new_h, new_w), mode=config.interpolation,
                               antialias=True, align_corners=False)
        pixels = pixels.round().clamp_(0, 255)
    pixels = pixels.to(torch.uint8)
    if config.fit == "pad_to_square":
        canvas = torch.tensor(config.pad_color, dtype=torch.uint8, device=pixels.device)
        canvas = canvas[None, :, None, None].expand(len(pixels), 3, size, size).clone()
        top, left = (size - new_h) // 2, (size - new_w) // 2
        canvas[:, :, top:top + new_h, left:left + new_w] = pixels
        return canvas
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return pixels[:, :, top:top + size, left:left + size]


def fit_tensor(image: torch.Tensor, config: PreprocessConfig, draft: int = 1,
               orientation: int = 1, name: str = "image") -> torch.Tensor:
    """A decoded RGB uint8 (3, H, W) photo, as stored -> the contract's (3, size, size) fit."""
    check_fit(*shown_size(image.shape[-1], image.shape[-2], draft, orientation), config, name)
    return fit_tensors(image.unsqueeze(0), config, draft, orientation)[0]


def normalise_tensor(fitted: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """uint8 (N, 3, size, size) -> the model's float32 input, as :func:`normalise` does it."""
    std = torch.tensor(config.std, dtype=torch.float32, device=fitted.device)[:, None, None]
    mean = torch.tensor(config.mean, dtype=torch.float32, device=fitted.device)[:, None, None]
    # in place: one float copy of the batch, not three (2.4x faster on a CPU at batch 256)
    return fitted.float().mul_(1.0 / (255.0 * std)).sub_(mean / std)


def _decode(encoded: torch.Tensor | list[torch.Tensor], device: torch.device):
    if device.type == "cuda":
        # nvJPEG's hardware decoder writes before work queued on the caller's stream has
        # run, into memory that work may still read: drain the stream first
        torch.cuda.current_stream(device).synchronize()
    # EXIF turns are applied by the caller: the GPU decoder ignores them
    return decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)


def _decode_on_cpu(data: bytes, fast: bool) -> torch.Tensor | None:
    """libjpeg-turbo with the contract's chroma upsampling (torchvision's CPU decoder
    only upsamples smoothly): nvJPEG's pixels, so the CPU runs the GPU's code."""
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", fastupsample=fast)
    except ValueError:
        return None
    return torch.from_numpy(pixels).permute(2, 0, 1)


def _decode_all(photos: list[bytes], device: torch.device, fast: bool
                ) -> list[torch.Tensor | None]:
    """Every photo decoded as stored, or None for each one the decoder refuses."""
    if device.type == "cpu" and simplejpeg is not None:
        return [_decode_on_cpu(data, fast) for data in photos]
    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in photos]
    try:
        return list(_decode(encoded, device))
    except RuntimeError as err:  # one photo the decoder refuses: decode them one by one
        log.debug("batch decode failed (%s); decoding one by one", err)
    decoded = []
    for tensor in encoded:
        try:
            decoded.append(_decode(tensor, device))
        except RuntimeError:
            decoded.append(None)
    return decoded


def fit_batch(photos: Sequence[bytes], config: PreprocessConfig, device: str | torch.device = "cpu",
              names: Sequence[str] | None = None, tally: dict[str, int] | None = None
              ) -> torch.Tensor:
    """Encoded photos -> their (N, 3, size, size) uint8 fits on ``device``.

    Plain JPEGs are decoded together and fitted in groups that share a stored
    size and EXIF turn (a catalogue's photos mostly do), one resize a group.
    Raises :class:`fashion_search.images.ImageError` for the first photo that
    is not usable, naming it, before any decoding. ``tally`` counts the photos
    each path decoded ("decoder", "contract"): a decoder that refuses
    everything would otherwise pass unseen, every photo fitted by the
    contract's path.
    """
    device = torch.device(device)
    names = list(names) if names is not None else [f"image {i}" for i in range(len(photos))]
    fitted = torch.empty((len(photos), 3, config.size, config.size), dtype=torch.uint8,
                         device=device)
    done = [False] * len(photos)
    plain = [(i, found) for i, data in enumerate(photos)
             if (found := _plain_jpeg(data)) is not None]
    if plain and config.interpolation not in TORCH_RESAMPLING:
        log.warning("torch has no %s resampling: %d photos took the contract's PIL path",
                    config.interpolation, len(plain))
        plain = []
    groups: dict[tuple[int, int, int, int], list[int]] = {}
    for index, (i, (width, height, orientation)) in enumerate(plain):
        draft = draft_factor(width, height, config.size)
        check_fit(*shown_size(width, height, draft, orientation), config, names[i])
        groups.setdefault((width, height, orientation, draft), []).append(index)
    if plain:
        decoded = _decode_all([photos[i] for i, _ in plain], device, config.fast_upsampling)
        for (_, _, orientation, draft), members in groups.items():
            members = [m for m in members if decoded[m] is not None]
            if not members:
                continue
            shape = decoded[members[0]].shape  # a header's size is its pixels' size
            members = [m for m in members if decoded[m].shape == shape]
            step = len(members) if device.type == "cuda" else CPU_GROUP
            for start in range(0, len(members), step):
                part = members[start:start + step]
                rows = [plain[m][0] for m in part]
                fitted[rows] = fit_tensors(torch.stack([decoded[m] for m in part]), config,
                                           draft, orientation)
                for row in rows:
                    done[row] = True
        refused = sum(image is None for image in decoded)
        if refused:
            log.warning("the %s JPEG decoder refused %d of %d plain JPEGs; they took the "
                        "contract's PIL path", device, refused, len(plain))
    if tally is not None:
        on_decoder = sum(done)
        tally["decoder"] = tally.get("decoder", 0) + on_decoder
        tally["contract"] = tally.get("contract", 0) + len(photos) - on_decoder
    for i, data in enumerate(photos):
        if not done[i]:  # the contract's own path, and its error messages
            array = np.asarray(fitted_photo(data, config, names[i]), dtype=np.uint8)
            fitted[i] = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).to(device)
    return fitted


def preprocess_batch(photos: Sequence[bytes], config: PreprocessConfig,
                     device: str | torch.device = "cpu", names: Sequence[str] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded photos -> (model input, colour descriptors), both on ``device``, like
    :func:`fashion_search.preprocessing.preprocess_photos` with colours: the fits
    never leave the device."""
    fitted = fit_batch(photos, config, device, names)
    return normalise_tensor(fitted, config), colour_descriptors(fitted)
