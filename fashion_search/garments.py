"""The garment kinds a shopper searches, and what the garment finder's outputs mean.

The street photos' 56 garment and accessory labels are grouped into the kinds a
catalogue sells (a blouse and a t-shirt are both tops; heels and boots are
shoes). Labels no shopper searches by a crop (jewellery, belts, glasses,
underwear, tights) form one class the finder learns but never reports, and
skin and hair form the person, so neither is mistaken for a garment.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from fashion_search.config import DEFAULT_BACKBONE
from fashion_search.errors import ImageError, UnknownLabel
from fashion_search.images import load_image
from fashion_search.preprocessing import PreprocessConfig, fitted_size

AUTO = "auto"
# ``--garment auto`` searches the mean of the garment crop's embedding and the whole photo's:
# the crop alone ranks the right product first more often but loses the context that brings
# it into the top ten; together they beat both on the validation pairs (docs/garments.md,
# `fashion-search evaluate --suite garments`).
WHOLE_WEIGHT = 0.5
GROUPS: dict[str, tuple[str, ...]] = {
    "tops": ("blouse", "shirt", "t-shirt", "top", "sweater", "sweatshirt", "jumper",
             "hoodie", "bodysuit", "vest"),
    "outerwear": ("coat", "jacket", "blazer", "cape", "cardigan", "suit"),
    "dresses": ("dress", "romper"),
    "skirts": ("skirt",),
    "trousers": ("pants", "jeans", "leggings"),
    "shorts": ("shorts",),
    "shoes": ("shoes", "boots", "heels", "flats", "sandals", "sneakers", "pumps", "loafers",
              "clogs", "wedges"),
    "bags": ("bag", "purse", "wallet"),
    "hats": ("hat",),
    "scarves": ("scarf",),
}
KINDS: tuple[str, ...] = tuple(GROUPS)
PERSON = ("skin", "hair")
BACKGROUND = "null"
# The finder's classes: what it learns per pixel. Only KINDS are reported.
CLASSES: tuple[str, ...] = ("background", "person", "other", *KINDS)
FIRST_KIND = CLASSES.index(KINDS[0])
# A catalogue category (article type, or a clothing class) -> the kind it sells: what
# ``--garment auto`` crops when the search is within that category.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "tops": ("shirt", "top", "tee", "sweater", "longsleeve", "blouse", "tunic", "polo",
             "kurta", "camisole", "waistcoat", "hoodie"),
    "outerwear": ("jacket", "outwear", "coat", "blazer", "shrug", "cardigan", "suit"),
    "dresses": ("dress", "jumpsuit"),
    "skirts": ("skirt",),
    "trousers": ("pants", "trouser", "jeans", "leggings", "capri", "jeggings", "salwar",
                 "churidar", "patiala"),
    "shorts": ("shorts",),
    "shoes": ("shoe", "heels", "flats", "sandal", "flip flop", "boots", "sneaker", "footwear"),
    "bags": ("bag", "handbag", "clutch", "wallet", "backpack", "purse"),
    "hats": ("hat", "cap"),
    "scarves": ("scarf", "scarves", "stole", "dupatta", "muffler"),
}
# Kinds worn in two parts, whose patches leave a gap between them (two shoes, two legs, a
# coat open over a top): their box spans every part, as the street photos draw it. The
# others are one piece, so a second cluster of their patches elsewhere (a bag's colour on
# the other hand) is a mistake their box leaves out (``FinderSettings.gap``).
IN_PARTS: tuple[str, ...] = ("outerwear", "trousers", "shorts", "shoes")
MARGIN = 0.1  # of a garment's box, on each side: a shopper's crop leaves some room
# The finder's own contract: the whole photo, padded to a square (a centre crop would cut
# off the head and feet, and with them hats and shoes), larger than the embedder's so a
# skirt in a full-body photo still spans several patches.
FINDER_PREPROCESSING = PreprocessConfig(size=320, fit="pad_to_square",
                                        interpolation="bilinear")


@dataclass(frozen=True)
class FinderSettings:
    """What a trained finder carries: how to read its photos and its outputs."""

    backbone: str = DEFAULT_BACKBONE
    width: int = 96
    threshold: float = 0.5  # mean probability over a garment's patches, chosen on validation
    min_share: float = 0.01  # of the photo: smaller garments are not reported
    min_patches: int = 2  # label-map patches a row or column needs to widen a box (validation)
    # a one-piece kind's box keeps the rows and columns joined to its densest one, across
    # gaps of up to this many; -1 spans them all, as finders trained before the rule do
    gap: int = -1
    preprocessing: PreprocessConfig = field(default=FINDER_PREPROCESSING)
    version: str = "garments-untrained"

    def to_json(self) -> str:
        data = asdict(self)
        data["preprocessing"] = json.loads(self.preprocessing.to_json())
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FinderSettings:
        data = json.loads(text)
        data["preprocessing"] = PreprocessConfig.from_json(json.dumps(data["preprocessing"]))
        return cls(**data)


def class_of(label: str) -> str:
    """The finder's class for one of the street photos' labels."""
    if label == BACKGROUND:
        return "background"
    if label in PERSON:
        return "person"
    for kind, labels in GROUPS.items():
        if label in labels:
            return kind
    return "other"


def kind_of_category(category: str | None) -> str | None:
    """The garment kind a catalogue category sells, or None when it names none."""
    if not category:
        return None
    text = category.strip().lower()
    # the longest word that matches decides ("shirt" is in "sweatshirt", "tee" not in "t-shirt")
    best = max(((len(w), kind) for kind, words in CATEGORY_WORDS.items() for w in words
                if w in text), default=None)
    if best is None and "t-shirt" in text:
        return "tops"
    return best[1] if best else None


@dataclass(frozen=True)
class Garment:
    """A garment found in a photo: its kind, its box in the photo's pixels, how sure the
    finder is (mean probability over its pixels) and the share of the photo it covers."""

    kind: str
    box: tuple[int, int, int, int]  # left, top, right, bottom; right and bottom exclusive
    score: float
    share: float
    photo_size: tuple[int, int]  # width, height of the upright photo the box is on

    def to_json(self) -> dict:
        return {**asdict(self), "box": list(self.box), "photo_size": list(self.photo_size)}


def square_to_photo(box: Sequence[float], width: int, height: int,
                    config: PreprocessConfig) -> tuple[int, int, int, int]:
    """A box in the padded square's unit coordinates -> pixels of the upright photo."""
    if config.fit != "pad_to_square":
        raise ValueError("the finder's boxes are read on a photo padded to a square")
    new_w, new_h = fitted_size(width, height, config)
    off_x, off_y = (config.size - new_w) // 2, (config.size - new_h) // 2
    scale_x, scale_y = width / new_w, height / new_h
    x0, y0, x1, y1 = (float(v) * config.size for v in box)
    left = int(np.clip(round((x0 - off_x) * scale_x), 0, width))
    top = int(np.clip(round((y0 - off_y) * scale_y), 0, height))
    right = int(np.clip(round((x1 - off_x) * scale_x), 0, width))
    bottom = int(np.clip(round((y1 - off_y) * scale_y), 0, height))
    return left, top, right, bottom


def read_garments(boxes: np.ndarray, scores: np.ndarray, shares: np.ndarray, width: int,
                  height: int, config: PreprocessConfig, threshold: float,
                  min_share: float) -> list[Garment]:
    """One photo's finder outputs (a row per kind) -> the garments it reports, largest first.

    ``shares`` are of the padded square; a garment's share is of the photo itself.
    """
    new_w, new_h = fitted_size(width, height, config)
    photo_share = new_w * new_h / config.size ** 2
    found = []
    for kind, box, score, share in zip(KINDS, boxes, scores, shares):
        share = float(share) / photo_share
        if float(score) < threshold or share < min_share:
            continue
        pixels = square_to_photo(box, width, height, config)
        if pixels[2] > pixels[0] and pixels[3] > pixels[1]:
            found.append(Garment(kind, pixels, round(float(score), 4), round(share, 4),
                                 (width, height)))
    return sorted(found, key=lambda g: -g.share)


def choose_garment(found: Sequence[Garment], want: str = AUTO,
                   category: str | None = None) -> Garment:
    """The garment to search: the one named, else the category's kind, else the largest.

    Raises UnknownLabel for a kind the finder does not know, and ImageError when the
    photo shows no such garment, naming what it does show.
    """
    want = (want or AUTO).strip().lower()
    if want != AUTO and want not in KINDS:
        raise UnknownLabel(f"unknown garment {want!r}; use auto or one of {', '.join(KINDS)}")
    kind = want if want != AUTO else kind_of_category(category)
    if kind is not None:
        for garment in found:
            if garment.kind == kind:
                return garment
        if want == AUTO and found:  # the category names a kind not found: the largest
            return found[0]
    elif found:
        return found[0]
    shown = ", ".join(g.kind for g in found) or "no garment it knows"
    raise ImageError(f"the photo shows no {kind or 'garment'} the finder can see (it found "
                     f"{shown}); search the whole photo, or draw a box around the garment")


def with_whole(crop: np.ndarray, whole: np.ndarray, weight: float = WHOLE_WEIGHT) -> np.ndarray:
    """Crop embeddings blended with their whole photos', unit length again."""
    blended = (1.0 - weight) * np.asarray(crop) + weight * np.asarray(whole)
    return blended / np.linalg.norm(blended, axis=-1, keepdims=True)


def grown(box: Sequence[int], margin: float, width: int, height: int
          ) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` of its size on each side, within the photo."""
    grow_x, grow_y = margin * (box[2] - box[0]), margin * (box[3] - box[1])
    return (max(int(box[0] - grow_x), 0), max(int(box[1] - grow_y), 0),
            min(int(round(box[2] + grow_x)), width), min(int(round(box[3] + grow_y)), height))


def crop_box(data: bytes, box: Sequence[int], name: str = "photo", margin: float = 0.0,
             min_side: int = 1) -> bytes:
    """The box of an upright photo (grown by ``margin`` of its size on each side), encoded
    as the JPEG a client would send."""
    image = load_image(data, name=name)
    left, top, right, bottom = grown(box, margin, image.width, image.height)
    if right - left < min_side or bottom - top < min_side:
        raise ImageError(f"{name}: the box lies outside the {image.width}x{image.height} photo; "
                         "draw it on the garment")
    out = io.BytesIO()
    image.crop((left, top, right, bottom)).save(out, format="JPEG", quality=95)
    return out.getvalue()
