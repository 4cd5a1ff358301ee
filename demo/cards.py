"""What a result card says, which catalogue columns the page offers as filters, and
catalogue text made safe for the page's markdown.

Catalogue text (categories, column names, label values, ids, file names) is
data from whoever made the catalogue or the upload: the page shows it as text,
never as markup, so a category named ``<img src=...>`` is never fetched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from fashion_search.vectordb.schema import LOOK_ALIKE, Hit

MAX_CHOICES = 60  # more values than this is a name or an id, not something to filter by
TITLE_HINTS = ("name", "title")
HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
# every ASCII punctuation character: CommonMark lets a backslash make any of them literal
PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def literal(text: object) -> str:
    """``text`` as markdown that renders exactly that text, on one line.

    HTML's special characters become entities and every other punctuation
    character is backslash-escaped, so no tag, link, autolink, emphasis,
    heading or list can come out of it; runs of whitespace become one space
    (a line break could start a block of its own).
    """
    return PUNCTUATION.sub(lambda m: HTML_ENTITIES.get(m[0], "\\" + m[0]),
                           " ".join(str(text).split()))


def filter_columns(labels: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Label columns a shopper can narrow by: a handful of values each, at least two."""
    return {column: list(values) for column, values in labels.items()
            if 2 <= len(values) <= MAX_CHOICES}


def title_column(labels: Mapping[str, Sequence[str]]) -> str | None:
    """The column that names each item (``productDisplayName``), if the catalogue has one."""
    named = [c for c in labels if any(hint in c.lower() for hint in TITLE_HINTS)
             and len(labels[c]) > MAX_CHOICES]
    return named[0] if named else None


def caption(hit: Hit, columns: Sequence[str], title: str | None = None) -> str:
    """``Tshirts · 92% match`` (or ``62% same item`` for a street photo), the item's name,
    then its labels, one line each."""
    score = (f"{hit.match:.0%} {hit.reading or LOOK_ALIKE}" if hit.match is not None
             else f"similarity {hit.score:.3f}")
    lines = [f"{hit.category} · {score}"]
    if title and hit.labels.get(title):
        lines.append(hit.labels[title])
    shown = [hit.labels[c] for c in columns if hit.labels.get(c) and hit.labels[c] != hit.category]
    if shown:
        lines.append(" · ".join(shown))
    return "\n".join(lines)


def where(columns: Sequence[str], chosen: Sequence[Sequence[str] | None]) -> dict[str, list[str]]:
    """The filter dropdowns' values as ``column -> accepted values`` (empty ones left out)."""
    return {column: list(values) for column, values in zip(columns, chosen) if values}
