"""The tensor (GPU) preprocessing path gives the contract's pixels, and its errors."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from fashion_search.bench.preprocessing_parity import enlarge
from fashion_search.errors import ImageError
from fashion_search.preprocessing import (
    PreprocessConfig,
    fitted_photo,
    preprocess,
    preprocess_photos,
)
from fashion_search.tensor_preprocessing import draft_factor, fit_batch, preprocess_batch

CONTRACT = PreprocessConfig()


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth, photo-like picture (gradients and blobs), not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    planes = [np.sin(x * rng.uniform(2, 9) + y * rng.uniform(2, 9) + rng.uniform(0, 6))
              for _ in range(3)]
    array = ((np.stack(planes, axis=-1) + 1) * 127.5).astype(np.uint8)
    return Image.fromarray(array)


def contract_fit(data: bytes, contract: PreprocessConfig = CONTRACT) -> np.ndarray:
    return np.asarray(fitted_photo(data, contract), dtype=np.uint8)


@pytest.mark.unit
@pytest.mark.parametrize("size", [(100, 80), (224, 300), (448, 460), (900, 700), (2000, 1900)])
def test_draft_factor_is_the_reduction_pil_applies(size):
    image = Image.open(io.BytesIO(encode(photo(*size))))
    image.draft("RGB", (CONTRACT.size, CONTRACT.size))
    factor = draft_factor(*size, CONTRACT.size)
    assert image.size == (-(-size[0] // factor), -(-size[1] // factor))


# nvJPEG where a GPU is present: the same bounds hold there (no GPU here: CPU only)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))]


@pytest.mark.unit
@pytest.mark.parametrize("size", [(300, 400), (224, 224), (640, 480), (1800, 2400)])
@pytest.mark.parametrize("fit", ["shorter_side_center_crop", "pad_to_square"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_jpeg_fits_like_the_contract_within_a_few_levels(size, fit, device):
    contract = PreprocessConfig(fit=fit)
    data = encode(photo(*size), quality=95)
    expected = contract_fit(data, contract)
    got = fit_batch([data], contract, device)[0].permute(1, 2, 0).cpu().numpy()
    difference = np.abs(got.astype(int) - expected.astype(int))
    assert got.shape == expected.shape == (CONTRACT.size, CONTRACT.size, 3)
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 6


@pytest.mark.unit
@pytest.mark.parametrize("device, upsampling", [
    ("cpu", "fast"), ("cpu", "smooth"),
    pytest.param("cuda", "fast", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                          reason="no CUDA device"))])
def test_photos_at_the_input_size_decode_to_the_contracts_very_pixels(products_dir, device,
                                                                      upsampling):
    """No resize is involved at 224x224, so any difference is the decoder's: nvJPEG (on a
    CPU, libjpeg-turbo told to upsample as nvJPEG does) gives the contract's pixels."""
    contract = PreprocessConfig(jpeg_upsampling=upsampling)
    paths = sorted(products_dir.rglob("*.jpg"))[:60]
    photos = [path.read_bytes() for path in paths]
    tally = {}
    got = fit_batch(photos, contract, device, tally=tally).permute(0, 2, 3, 1).cpu().numpy()
    assert tally["decoder"] >= 55
    for path, data, fitted in zip(paths, photos, got):
        assert np.array_equal(fitted, contract_fit(data, contract)), path.name


@pytest.mark.unit
def test_model_input_and_colour_match_the_contract_function():
    photos = [encode(photo(500, 375, seed)) for seed in range(3)]
    pixels, colours = preprocess_batch(photos, CONTRACT)
    expected_pixels, expected_colours = preprocess_photos(photos, CONTRACT, colours=True)
    assert pixels.dtype == torch.float32 and pixels.shape == expected_pixels.shape
    for index in range(len(photos)):
        assert np.abs(pixels[index].numpy() - expected_pixels[index]).mean() < 0.01
        assert float(colours[index] @ expected_colours[index]) > 0.99


@pytest.mark.unit
def test_photos_it_does_not_decode_go_through_the_contract_exactly():
    rgba = Image.new("RGBA", (300, 200), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 150, 200))
    cmyk = Image.new("CMYK", (260, 260), (0, 255, 255, 0))
    grey = photo(240, 320).convert("L")
    odd = [encode(rgba, "PNG"), encode(cmyk), encode(grey), encode(photo(300, 300), "WEBP")]
    got = fit_batch(odd, CONTRACT)
    for data, fitted in zip(odd, got):
        assert np.array_equal(fitted.permute(1, 2, 0).numpy(), contract_fit(data))


@pytest.mark.unit
def test_the_tally_says_which_path_decoded_each_photo():
    odd = [encode(photo(300, 300), "PNG"), encode(photo(240, 320).convert("L"))]
    plain = [encode(photo(320, 240, seed)) for seed in range(3)]
    tally = {}
    fit_batch(plain + odd, CONTRACT, tally=tally)
    fit_batch(plain[:1], CONTRACT, tally=tally)
    assert tally == {"decoder": 4, "contract": 2}


def all_by_the_contract(config: PreprocessConfig) -> None:
    """Two plain JPEGs through ``fit_batch``: both fitted by the contract's PIL path, exactly."""
    plain = [encode(photo(320, 240, seed)) for seed in range(2)]
    tally = {}
    got = fit_batch(plain, config, tally=tally)
    assert tally == {"decoder": 0, "contract": 2}
    for data, fitted in zip(plain, got):
        assert np.array_equal(fitted.permute(1, 2, 0).numpy(), contract_fit(data, config))


@pytest.mark.unit
def test_a_contract_resampling_torch_lacks_takes_the_contract_path_for_every_photo(caplog):
    all_by_the_contract(PreprocessConfig(interpolation="lanczos"))
    assert "torch has no lanczos resampling" in caplog.text


@pytest.mark.unit
def test_jpegs_the_decoder_refuses_take_the_contract_path_and_are_reported(monkeypatch, caplog):
    from fashion_search import tensor_preprocessing

    def refuse(encoded, mode, device):
        raise RuntimeError("nvjpegDecodeBatched failed")

    monkeypatch.setattr(tensor_preprocessing, "decode_jpeg", refuse)
    monkeypatch.setattr(tensor_preprocessing, "_decode_on_cpu", lambda data, fast: None)
    all_by_the_contract(CONTRACT)
    assert "decoder refused 2 of 2 plain JPEGs" in caplog.text


@pytest.mark.unit
@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("size", [(400, 240), (1003, 1597)])  # the second is draft-decoded
def test_an_exif_turned_jpeg_comes_out_upright_like_the_contract(orientation, size):
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture = photo(*size)
    picture.paste((250, 10, 10), (0, 0, size[0] // 3, size[1] // 5))  # a corner to find
    data = encode(picture, exif=exif.tobytes(), quality=95)
    got = fit_batch([data], CONTRACT)[0].permute(1, 2, 0).numpy()
    assert np.abs(got.astype(int) - contract_fit(data).astype(int)).mean() < 1.0


@pytest.mark.unit
@pytest.mark.parametrize("data, message", [
    (b"", r"photo-2: the file is empty"),
    (b"\xff\xd8\xff\xe0 truncated", r"photo-2: (not a readable image|the image is corrupt)"),
])
def test_a_bad_photo_in_a_batch_fails_by_name_with_the_contract_message(data, message):
    good = encode(photo(300, 300))
    with pytest.raises(ImageError, match=message):
        fit_batch([good, good, data], CONTRACT, names=["photo-0", "photo-1", "photo-2"])


@pytest.mark.unit
def test_a_file_over_the_byte_limit_gets_the_contract_message():
    from fashion_search.images import MAX_BYTES

    data = encode(photo(64, 64))
    padded = data[:-2] + bytes(MAX_BYTES) + data[-2:]
    with pytest.raises(ImageError, match=r"big\.jpg: the file is too large"):
        fit_batch([padded], CONTRACT, names=["big.jpg"])


@pytest.mark.unit
def test_a_truncated_jpeg_is_refused_not_half_decoded():
    data = encode(photo(600, 600))
    with pytest.raises(ImageError, match=r"cut\.jpg: the image is corrupt or truncated"):
        fit_batch([data[: len(data) // 2]], CONTRACT, names=["cut.jpg"])


@pytest.mark.integration
def test_embeddings_of_real_and_large_photos_match_the_contract_path(exported, parity_photos):
    from fashion_search import triton_config as tc
    from fashion_search.onnx_graph import onnx_session

    photos = [path.read_bytes() for path in parity_photos]
    photos += [enlarge(data) for data in photos[::3]]  # several megapixels: draft decoding
    session = onnx_session(exported.onnx_path)
    reference = np.stack([preprocess(data, CONTRACT) for data in photos])
    tensor, _ = preprocess_batch(photos, CONTRACT)
    embed = [session.run([tc.EMBEDDING], {tc.PIXELS: p})[0] for p in (reference, tensor.numpy())]
    embed = [e / np.linalg.norm(e, axis=1, keepdims=True) for e in embed]
    cosines = np.sum(embed[0] * embed[1], axis=1)
    assert cosines.min() >= 0.995 and cosines.mean() >= 0.999


@pytest.mark.unit
def test_a_jpeg_too_thin_to_crop_is_refused_by_name_before_it_is_resized():
    strip = encode(photo(8, 2000))
    with pytest.raises(ImageError, match=r"^strip\.jpg: the photo is 8x2000, more than 50"):
        fit_batch([encode(photo(320, 240)), strip], CONTRACT, names=["ok.jpg", "strip.jpg"])


@pytest.mark.unit
@pytest.mark.parametrize("device", DEVICES)
def test_photos_that_share_a_size_are_fitted_together_exactly_as_one_by_one(device,
                                                                             monkeypatch):
    import torch.nn.functional as F

    from fashion_search import tensor_preprocessing
    from fashion_search.tensor_preprocessing import CPU_GROUP, fit_tensor

    same = [encode(photo(400, 300, seed), quality=90) for seed in range(20)]
    turned = encode(photo(300, 400, 7), exif=_orientation_exif(6))
    odd = [encode(photo(640, 480, 9)), encode(photo(1800, 2400, 10))]
    photos = same[:10] + [turned] + odd + same[10:]
    calls = []
    real = F.interpolate
    monkeypatch.setattr(tensor_preprocessing.F, "interpolate",
                        lambda x, *a, **k: calls.append(len(x)) or real(x, *a, **k))
    got = fit_batch(photos, CONTRACT, device)
    # one resize per group of the same stored size (in pieces of CPU_GROUP on a CPU)
    per_group = 20 if device == "cuda" else CPU_GROUP
    assert sorted(calls, reverse=True)[:2] == [per_group, per_group if device == "cpu" else 1]
    assert len(calls) == -(-20 // per_group) + 1 + len(odd)
    for index, data in enumerate(photos):
        from fashion_search.tensor_preprocessing import _decode_all, _plain_jpeg, draft_factor

        width, height, orientation = _plain_jpeg(data)
        decoded = _decode_all([data], torch.device(device), CONTRACT.fast_upsampling)[0]
        alone = fit_tensor(decoded, CONTRACT, draft_factor(width, height, CONTRACT.size),
                           orientation)
        assert torch.equal(got[index], alone), f"photo {index} differs from its own fit"


def _orientation_exif(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()
