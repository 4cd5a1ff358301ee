"""The preprocessing contract: the one place that says how a photo becomes pixels.

Training, evaluation, export, the Triton ``preprocess`` model, ingestion and the
demo all call :func:`preprocess`; checkpoints, ONNX metadata and Triton configs
carry :class:`PreprocessConfig` as JSON so a served model can say how it was
trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from fashion_search.colour import DIM as COLOUR_DIM
from fashion_search.colour import planes_descriptor
from fashion_search.errors import ImageError, RecipeError
from fashion_search.images import load_image
from fashion_search.plain_jpeg import decode_plain_jpeg, require_decoder

FIT_MODES = ("shorter_side_center_crop", "pad_to_square")
# How a JPEG's half-resolution colour is brought to full size: "fast" repeats each
# sample (libjpeg-turbo's plain upsampling, which nvJPEG does too, so the GPU decodes
# the contract's pixels), "smooth" interpolates them (libjpeg's default and PIL's).
JPEG_UPSAMPLING = ("fast", "smooth")
MAX_ASPECT = 50  # longer side over shorter that a centre crop accepts (check_fit)
_INTERPOLATIONS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class PreprocessConfig:
    """How a photo is fitted, resized and normalised for the backbone."""

    size: int = 224
    fit: str = "shorter_side_center_crop"
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pad_color: tuple[int, int, int] = field(default=(255, 255, 255))
    jpeg_upsampling: str = "fast"

    def __post_init__(self) -> None:
        if self.jpeg_upsampling not in JPEG_UPSAMPLING:
            raise RecipeError(f"jpeg_upsampling must be one of {JPEG_UPSAMPLING}, got "
                              f"{self.jpeg_upsampling!r}")
        if self.fit not in FIT_MODES:
            raise RecipeError(f"fit must be one of {FIT_MODES}, got {self.fit!r}")
        if self.interpolation not in _INTERPOLATIONS:
            raise RecipeError(
                f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {self.interpolation!r}"
            )
        if self.size < 16:
            raise RecipeError(f"size must be at least 16 pixels, got {self.size}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PreprocessConfig:
        data = json.loads(text)
        data.setdefault("jpeg_upsampling", "smooth")  # what artifacts made before it decoded
        for key in ("mean", "std", "pad_color"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    @property
    def fast_upsampling(self) -> bool:
        return self.jpeg_upsampling == "fast"


def fitted_size(width: int, height: int, config: PreprocessConfig) -> tuple[int, int]:
    """The size a ``width`` x ``height`` photo is resized to before it is cropped or padded."""
    size = config.size
    if config.fit == "pad_to_square":
        scale = size / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))
    scale = size / min(width, height)
    return max(size, round(width * scale)), max(size, round(height * scale))


def check_fit(width: int, height: int, config: PreprocessConfig, name: str = "image") -> None:
    """Refuse a photo so thin that a centre crop would first blow it up to gigabytes (a
    1 x 100,000 strip; no garment photo is that shape), before it is resized.

    Where photos come in, not in :func:`fit_image`: training's random crops of a
    photo that passed may be thinner still, and small.
    """
    if config.fit != "pad_to_square" and max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"{name}: the photo is {width}x{height}, more than {MAX_ASPECT} times "
                         "longer one way than the other; crop it to the garment")


def fit_image(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    """Resize an RGB image to ``size x size`` the way the contract says."""
    resample = _INTERPOLATIONS[config.interpolation]
    size = config.size
    new = fitted_size(*image.size, config)
    if config.fit == "pad_to_square":
        resized = image.resize(new, resample)
        canvas = Image.new("RGB", (size, size), config.pad_color)
        canvas.paste(resized, ((size - new[0]) // 2, (size - new[1]) // 2))
        return canvas
    # A photo already at the input size is left as it is: resizing to the same
    # size and cropping all of it would each copy it, for the same pixels.
    resized = image.resize(new, resample) if new != image.size else image
    if new == (size, size):
        return resized
    left = (new[0] - size) // 2
    top = (new[1] - size) // 2
    return resized.crop((left, top, left + size, top + size))


def channel_planes(fitted: Image.Image | np.ndarray) -> np.ndarray:
    """Fitted RGB photo -> uint8 channel planes (3, h, w), contiguous.

    Per-channel arithmetic over an HWC array strides across it (3.5x slower);
    PIL splits its bands in C for less than numpy's copy of the image costs.
    """
    if isinstance(fitted, Image.Image):
        return np.stack([np.asarray(band) for band in fitted.split()])
    return np.ascontiguousarray(np.asarray(fitted, dtype=np.uint8).transpose(2, 0, 1))


def normalise(fitted: Image.Image | np.ndarray, config: PreprocessConfig,
              out: np.ndarray | None = None) -> np.ndarray:
    """Fitted RGB photo -> float32 CHW array, normalised (into ``out`` when given)."""
    return normalise_planes(channel_planes(fitted), config, out)


def normalise_planes(planes: np.ndarray, config: PreprocessConfig,
                     out: np.ndarray | None = None) -> np.ndarray:
    """uint8 channel planes -> float32 CHW array, normalised; each channel scaled once."""
    if out is None:
        out = np.empty(planes.shape, dtype=np.float32)
    scale = 1.0 / (255.0 * np.asarray(config.std, dtype=np.float32))
    shift = np.asarray(config.mean, dtype=np.float32) / np.asarray(config.std, dtype=np.float32)
    np.multiply(planes, scale[:, None, None], out=out)
    out -= shift[:, None, None]
    return out


def to_pixels(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """RGB image -> the model's input (3, size, size)."""
    return normalise(fit_image(image, config), config)


def _decode(data: bytes, config: PreprocessConfig, draft_size: int | None) -> np.ndarray | None:
    if config.fast_upsampling:
        require_decoder()
    return decode_plain_jpeg(data, draft_size=draft_size, fast_upsampling=config.fast_upsampling)


def decoded_photo(data: bytes, config: PreprocessConfig, name: str = "image",
                  draft_size: int | None = None) -> Image.Image:
    """Encoded image bytes -> the upright RGB photo as the contract decodes it, for
    whoever fits it another way (training's augmented views)."""
    pixels = _decode(data, config, draft_size)
    return load_image(data, name=name, draft_size=draft_size) if pixels is None else (
        Image.fromarray(pixels))


def fitted_photo(data: bytes, config: PreprocessConfig, name: str = "image"
                 ) -> Image.Image | np.ndarray:
    """Encoded image bytes -> the fitted RGB photo, as an image or an (h, w, 3) array.

    Plain JPEGs skip PIL's decoder (:mod:`fashion_search.plain_jpeg`: the same
    pixels); a photo already at the input size stays the decoder's array.
    Raises :class:`fashion_search.images.ImageError` naming ``name`` when the
    bytes are not a usable photo.
    """
    pixels = _decode(data, config, config.size)
    if pixels is None:
        image = load_image(data, name=name, draft_size=config.size)
        check_fit(*image.size, config, name)
        return fit_image(image, config)
    if pixels.shape[:2] == (config.size, config.size):
        return pixels
    check_fit(pixels.shape[1], pixels.shape[0], config, name)
    return fit_image(Image.fromarray(pixels), config)


def preprocess(data: bytes, config: PreprocessConfig, name: str = "image") -> np.ndarray:
    """Encoded image bytes -> the model's input for one photo (3, size, size).

    Raises :class:`fashion_search.images.ImageError` naming ``name`` when the
    bytes are not a usable photo.
    """
    return normalise(fitted_photo(data, config, name), config)


def preprocess_photos(photos: Sequence[bytes], config: PreprocessConfig,
                      names: Sequence[str] | None = None, colours: bool = False,
                      out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A batch of photos -> (model input (N, 3, size, size), colour descriptors or None).

    Each photo is normalised straight into the batch: stacking copies would
    cost as much as the normalising itself. ``out`` (at least N rows, from
    :class:`fashion_search.pixel_buffers.PixelBuffer`) is reused rather than
    a new array: the kernel's page faults on a fresh one cost a quarter of
    preprocessing a 224x224 photo. A colour descriptor comes from the same
    decode and fit as the photo's pixels.
    """
    if names is not None and len(names) != len(photos):
        raise ValueError(f"{len(names)} names for {len(photos)} photos")
    if out is None:
        pixels = np.empty((len(photos), *config.input_shape), dtype=np.float32)
    elif out.dtype != np.float32 or out.shape[1:] != config.input_shape or len(out) < len(photos):
        raise ValueError(f"out {out.dtype}{out.shape} cannot hold {len(photos)} photos of "
                         f"{config.input_shape} float32")
    else:
        pixels = out[:len(photos)]
    described = np.empty((len(photos), COLOUR_DIM), dtype=np.float32) if colours else None
    for index, data in enumerate(photos):
        name = names[index] if names is not None else f"image {index}"
        planes = channel_planes(fitted_photo(data, config, name))
        normalise_planes(planes, config, out=pixels[index])
        if described is not None:
            described[index] = planes_descriptor(planes)
    return pixels, described
