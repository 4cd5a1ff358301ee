"""What the page is searching for: a photo, an optional box on it, and the way back.

The page keeps these as plain values in its session state, so every step
(a new photo, a corner clicked, a result clicked, back) is a pure function of
the previous one and can be tested without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fashion_search.errors import ImageError
from fashion_search.garments import MARGIN, Garment, crop_box, grown
from fashion_search.images import MAX_BYTES

MIN_BOX = 16  # pixels a side; a smaller box is a slip of the finger, not a garment
HISTORY = 20  # searches "Back" can return to


@dataclass(frozen=True)
class Query:
    """A photo to search with, and the part of it to search, if any."""

    path: str
    name: str
    box: tuple[int, int, int, int] | None = None  # left, top, right, bottom, in photo pixels
    corner: tuple[int, int] | None = None  # the first corner of a box being drawn
    garments: tuple[Garment, ...] = ()  # what the garment finder found on the photo
    garment: str | None = None  # the kind whose box is searched (None: a box drawn, or none)

    @classmethod
    def of(cls, path: str | Path, name: str | None = None) -> Query:
        """A new photo, whole; ``name`` is what messages call it (the file name by default)."""
        return cls(str(path), name or Path(path).name)

    def click(self, x: int, y: int) -> Query:
        """A click on the photo: the first sets a corner, the second closes the box."""
        if self.corner is None:
            return replace(self, corner=(int(x), int(y)))
        (x0, y0), (x1, y1) = self.corner, (int(x), int(y))
        # both clicked pixels belong to the box; a crop box's right and bottom are exclusive
        box = (min(x0, x1), min(y0, y1), max(x0, x1) + 1, max(y0, y1) + 1)
        if box[2] - box[0] < MIN_BOX or box[3] - box[1] < MIN_BOX:
            raise ImageError(f"the box is {box[2] - box[0]}x{box[3] - box[1]} pixels; click two "
                             f"opposite corners of the garment at least {MIN_BOX} pixels apart")
        return replace(self, box=box, corner=None, garment=None)

    def whole(self) -> Query:
        """The same photo with no box, drawn or half-drawn."""
        return replace(self, box=None, corner=None, garment=None)

    def found(self, garments: Sequence[Garment]) -> Query:
        """The finder's garments on the photo, the first (the largest) searched at once."""
        query = replace(self, garments=tuple(garments))
        return query.pick(0) if garments else query

    def pick(self, index: int) -> Query:
        """Search the ``index``-th garment found, inside its box with a shopper's margin."""
        garment = self.garments[index]
        box = grown(garment.box, MARGIN, *garment.photo_size)
        return replace(self, box=box, corner=None, garment=garment.kind)

    def settled(self) -> Query:
        """Without a half-drawn box: what "Back" should return to."""
        return replace(self, corner=None)

    def read(self, max_bytes: int = MAX_BYTES) -> bytes:
        """The bytes to search: the photo as sent, or its box as a JPEG."""
        path = Path(self.path)
        try:
            size = path.stat().st_size
        except OSError as err:
            raise ImageError(f"{self.name}: the photo is no longer on the server; "
                             "upload it again") from err
        if size > max_bytes:
            raise ImageError(f"{self.name}: the file is {size / 2**20:.0f} MB; "
                             f"upload a photo under {max_bytes // 2**20} MB")
        data = path.read_bytes()
        return data if self.box is None else crop_box(data, self.box, self.name,
                                                      min_side=MIN_BOX)


def push(history: list[Query], current: Query | None) -> list[Query]:
    """The history after leaving ``current`` for another search."""
    if current is None:
        return list(history)
    return (history + [current.settled()])[-HISTORY:]
