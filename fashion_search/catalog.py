"""Catalogue readers: the layouts people keep clothing photos in.

Each reader yields :class:`CatalogItem` with an id taken from the catalogue
itself (a file path or a CSV id), never a counter, so every item is one row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fashion_search.errors import CatalogError, MissingInput
from fashion_search.images import load_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".bmp", ".gif", ".tif", ".tiff"}
SPLIT_NAMES = {"train", "val", "validation", "test"}
CATEGORY_COLUMNS = ("category", "articleType", "label", "class")
IMAGE_COLUMNS = ("image", "filename", "file", "path", "image_path")


@dataclass(frozen=True)
class CatalogItem:
    """One catalogue photo with its stable id, category and other labels."""

    id: str
    path: Path
    category: str
    labels: dict[str, str] = field(default_factory=dict)
    bbox: tuple[int, int, int, int] | None = None
    split: str | None = None

    def read_bytes(self) -> bytes:
        """The encoded photo to embed; cropped to its box when the catalogue has one."""
        data = self.path.read_bytes()
        if self.bbox is None:
            return data
        image = load_image(data, name=str(self.path))
        left, top, right, bottom = self.bbox
        if not (0 <= left < right <= image.width and 0 <= top < bottom <= image.height):
            raise CatalogError(f"{self.path}: its box {self.bbox} is not inside the "
                               f"{image.width}x{image.height} photo; fix the annotation")
        image = image.crop(self.bbox)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=95)
        return out.getvalue()


def is_photo_file(path: Path) -> bool:
    """A photo by its name (hidden files are not): what every folder of photos is read for."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_photo(path: Path) -> bytes:
    """A photo file's bytes, or an error that says what is wrong with the path."""
    path = Path(path)
    if path.is_dir():
        raise MissingInput(f"{path}: a folder; give the path of one JPEG, PNG or WebP photo")
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise MissingInput(f"{path}: no such photo; give the path of a JPEG, PNG or WebP "
                           "file") from err
    except OSError as err:
        raise MissingInput(f"{path}: cannot read it ({err.strerror or err})") from err


def photo_paths(folder: Path, limit: int | None = None) -> list[Path]:
    """The photos anywhere under ``folder``, sorted (the first ``limit`` of them)."""
    found = sorted(p for p in Path(folder).rglob("*") if is_photo_file(p))
    return found if limit is None else found[:limit]


def read_folder_catalog(root: Path) -> list[CatalogItem]:
    """``root/CATEGORY/*.jpg``, optionally under ``train/``, ``validation/``, ``test/``."""
    root = Path(root)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = [p for p in subdirs if p.name.lower() in SPLIT_NAMES]
    groups = [(p.name, p) for p in split_dirs] if split_dirs else [(None, root)]
    items: list[CatalogItem] = []
    for split, base in groups:
        for category_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for path in sorted(category_dir.rglob("*")):
                if is_photo_file(path):
                    item_id = path.relative_to(root).with_suffix("").as_posix()
                    items.append(
                        CatalogItem(item_id, path, category_dir.name, {}, None, split)
                    )
    if not items:
        raise CatalogError(
            f"{root}: no photos found; expected one sub-folder per category "
            "(optionally under train/, validation/, test/) holding JPEG or PNG files"
        )
    return items


def _pick(columns: list[str], candidates: tuple[str, ...], wanted: str | None) -> str | None:
    if wanted:
        if wanted not in columns:
            raise CatalogError(f"column {wanted!r} not in the CSV; it has {columns}")
        return wanted
    return next((c for c in candidates if c in columns), None)


def read_csv_catalog(
    csv_path: Path,
    images_dir: Path | None = None,
    category_column: str | None = None,
    image_column: str | None = None,
    id_column: str = "id",
) -> list[CatalogItem]:
    """A CSV of labels beside an images folder (``styles.csv`` + ``images/ID.jpg``)."""
    csv_path = Path(csv_path)
    images_dir = Path(images_dir) if images_dir else csv_path.parent / "images"
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            return _csv_items(csv_path, csv.DictReader(handle), images_dir, category_column,
                              image_column, id_column)
    except UnicodeDecodeError as err:
        line = _first_bad_line(csv_path.read_bytes())
        raise CatalogError(f"{csv_path}: not UTF-8 text (line {line}); save it as UTF-8") from err


def _first_bad_line(raw: bytes) -> int:
    """The line of the first bytes that are not UTF-8 (a decode error's offsets count from
    the decoder's current chunk, not from the start of the file)."""
    for number, line in enumerate(raw.splitlines(), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return 1


def _csv_items(csv_path: Path, reader: csv.DictReader, images_dir: Path,
               category_column: str | None, image_column: str | None, id_column: str
               ) -> list[CatalogItem]:
    columns = list(reader.fieldnames or [])
    category_col = _pick(columns, CATEGORY_COLUMNS, category_column)
    image_col = _pick(columns, IMAGE_COLUMNS, image_column)
    if category_col is None:
        raise CatalogError(
            f"{csv_path}: no category column; name one of {CATEGORY_COLUMNS} "
            "or pass category_column"
        )
    if image_col is None and id_column not in columns:
        raise CatalogError(f"{csv_path}: needs an image column {IMAGE_COLUMNS} or an 'id'")
    items, missing, long_rows = [], 0, 0
    for row in reader:
        extra = row.pop(None, None)  # unquoted commas in the last column (Kaggle's styles.csv)
        if extra:
            long_rows += 1
            row[columns[-1]] = ",".join([row[columns[-1]] or "", *extra])
        item_id = (row.get(id_column) or row.get(image_col or "") or "").strip()
        name = (row.get(image_col) or "").strip() if image_col else f"{item_id}.jpg"
        path = images_dir / name
        if not name or not path.is_file():
            missing += 1
            continue
        item_id = item_id or path.stem
        labels = {k: (v or "").strip() for k, v in row.items() if k not in (category_col, id_column)}
        items.append(CatalogItem(item_id, path, (row[category_col] or "").strip(), labels))
    if long_rows:
        log.warning("%s: %d rows have more fields than the header; the extra ones were joined "
                    "into %r", csv_path, long_rows, columns[-1])
    if missing:
        log.warning("%s: %d rows name photos that are not in %s; skipped", csv_path, missing,
                    images_dir)
    if not items:
        raise CatalogError(f"{csv_path}: no rows whose photo exists under {images_dir}")
    return items


def _read_table(path: Path) -> list[list[str]]:
    """DeepFashion annotation files: a count line, a header line, then rows."""
    lines = path.read_text().splitlines()
    return [line.split() for line in lines[2:] if line.strip()]


def read_deepfashion_catalog(root: Path) -> list[CatalogItem]:
    """DeepFashion Category and Attribute layout; photos are cropped to their box."""
    root = Path(root)
    anno = root / "Anno"
    names = [row[0] for row in _read_table(anno / "list_category_cloth.txt")]
    boxes = {}
    if (anno / "list_bbox.txt").is_file():
        boxes = {r[0]: tuple(int(v) for v in r[1:5]) for r in _read_table(anno / "list_bbox.txt")}
    splits = {}
    partition = root / "Eval" / "list_eval_partition.txt"
    if partition.is_file():
        splits = {r[0]: r[1] for r in _read_table(partition)}
    items = []
    for image_name, label in _read_table(anno / "list_category_img.txt"):
        index = int(label) - 1
        if not 0 <= index < len(names):
            raise CatalogError(f"{image_name}: category label {label} not in list_category_cloth")
        item_id = Path(image_name).with_suffix("").as_posix()
        items.append(
            CatalogItem(item_id, root / image_name, names[index], {}, boxes.get(image_name),
                        splits.get(image_name))
        )
    return items


def hash_split(item_id: str, share: float = 0.1) -> str:
    """A stable "validation" / "test" / "train" split, by id, for catalogues that have none.

    A tenth each for choosing and for reporting once, the same on every machine,
    so training never sees the photos that quality figures are measured on.
    """
    slot = int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if slot < share else "test" if slot < 2 * share else "train"


def open_catalog(path: str | Path, category_column: str | None = None) -> list[CatalogItem]:
    """Read a catalogue in whichever of the known layouts ``path`` is."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CatalogError(f"{path}: no such catalogue folder or CSV file")
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_csv_catalog(path, category_column=category_column)
    if (path / "Anno" / "list_category_img.txt").is_file():
        return read_deepfashion_catalog(path)
    csvs = sorted(path.glob("*.csv"))
    if csvs and (path / "images").is_dir():
        return read_csv_catalog(csvs[0], category_column=category_column)
    if path.is_dir():
        return read_folder_catalog(path)
    raise CatalogError(
        f"{path}: not a catalogue; give a folder with one sub-folder per category, "
        "a CSV beside an images/ folder, or a DeepFashion folder with Anno/"
    )

