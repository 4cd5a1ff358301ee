"""The default catalogue: the public, CC0 clothing-dataset-small, fetched once.

Nothing else in the project downloads; with no network the error says how to
point the demo at a local catalogue instead.
"""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

import requests
from tqdm import tqdm

from fashion_search.config import ENV_PREFIX
from fashion_search.errors import DownloadError

log = logging.getLogger(__name__)

DEFAULT_CATALOG_NAME = "clothing-dataset-small"
DEFAULT_CATALOG_URL = (
    "https://github.com/alexeygrigorev/clothing-dataset-small/archive/refs/heads/master.zip"
)


def _find_root(folder: Path) -> Path:
    for candidate in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]:
        if (candidate / "train").is_dir():
            return candidate
    raise DownloadError(f"the downloaded archive has no train/ folder under {folder}")


def default_catalog(cache_dir: Path, url: str = DEFAULT_CATALOG_URL, timeout_s: float = 30.0,
                    progress: bool = True) -> Path:
    """Path of the default catalogue, downloading and unpacking it on first use."""
    target = cache_dir / DEFAULT_CATALOG_NAME
    if (target / "train").is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    archive = cache_dir / f"{DEFAULT_CATALOG_NAME}.zip.part"
    log.info("downloading the default catalogue from %s", url)
    try:
        with requests.get(url, stream=True, timeout=timeout_s) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            with archive.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                                 desc="downloading catalogue",
                                                 disable=not progress) as bar:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except requests.RequestException as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download the default catalogue from {url} ({err.__class__.__name__}). "
            f"Without network, point at a local catalogue instead: `make demo CATALOG=/path`, "
            f"`fashion-search demo --catalog /path` or {ENV_PREFIX}CATALOG=/path "
            "(a folder with one sub-folder per category, a CSV beside images/, or DeepFashion)"
        ) from err
    staging = cache_dir / f"{DEFAULT_CATALOG_NAME}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(staging)
    except zipfile.BadZipFile as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"the file downloaded from {url} is not a zip archive") from err
    _find_root(staging).replace(target)
    shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)
    log.info("default catalogue ready in %s", target)
    return target
