"""Search filters: the category and any catalogue column, as one Milvus expression.

Every catalogue column is its own scalar field (Milvus Lite cannot filter
inside JSON), named from the column. Values reach an expression only after
they were matched against the values the catalogue really has, and then only
quoted, never pasted, so no input can change the expression's meaning.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence

from fashion_search.errors import UnknownLabel, clipped, shown

log = logging.getLogger(__name__)

LABEL_PREFIX = "label_"
MAX_FIELD = 200
MAX_LABEL_FIELDS = 48  # Milvus allows 64 fields per collection; 7 are the project's own


def label_fields(columns: Iterable[str]) -> dict[str, str]:
    """Catalogue column -> a valid, unique Milvus field name."""
    fields: dict[str, str] = {}
    for column in columns:
        base = LABEL_PREFIX + (re.sub(r"[^0-9A-Za-z_]", "_", column) or "column")
        name, n = base[:MAX_FIELD], 2
        while name in fields.values():
            name, n = f"{base[:MAX_FIELD - 4]}_{n}", n + 1
        fields[column] = name
    return fields


def catalogue_columns(label_maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The fields for a catalogue's label columns (the first ``MAX_LABEL_FIELDS``, sorted)."""
    columns = sorted({column for labels in label_maps for column in labels})
    if len(columns) > MAX_LABEL_FIELDS:
        log.warning("the catalogue has %d label columns; the first %d can filter searches "
                    "(all are still returned with each result)", len(columns), MAX_LABEL_FIELDS)
    return label_fields(columns[:MAX_LABEL_FIELDS])


def quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def parse_where(conditions: Sequence[str]) -> dict[str, list[str]]:
    """``["gender=Women", "baseColour=Black", "baseColour=White"]`` -> column: accepted values.

    The same column twice means either value; different columns must all match.
    """
    parsed: dict[str, list[str]] = {}
    for condition in conditions:
        column, sep, value = condition.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise UnknownLabel(f"cannot read the filter {shown(condition)}; write COLUMN=VALUE, "
                               "for example gender=Women")
        parsed.setdefault(column.strip(), []).append(value.strip())
    return parsed


def _match(wanted: str, known: Sequence[str], what: str) -> str:
    if wanted in known:
        return wanted
    folded = [k for k in known if k.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    choices = ", ".join(clipped(k) for k in known[:30])
    choices += f" ... ({len(known)} in all)" if len(known) > 30 else ""
    raise UnknownLabel(f"unknown {clipped(what)} {shown(wanted)}; choose one of: {choices}")


def resolve_where(where: Mapping[str, Sequence[str]], columns: Mapping[str, str],
                  values: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Checked filters as field -> the catalogue's spelling of each value.

    ``columns`` maps column to field; ``values`` maps field to its known values.
    """
    resolved: dict[str, list[str]] = {}
    for column, wanted in where.items():
        name = _match(column, sorted(columns), "label") if columns else None
        if name is None:
            raise UnknownLabel(f"unknown label {shown(column)}; this catalogue has no labels "
                               "besides its category")
        field = columns[name]
        resolved[field] = [_match(v, list(values.get(field, ())), name) for v in wanted]
    return resolved


def expression(category: str | None = None,
               where: Mapping[str, Sequence[str]] | None = None) -> str:
    """A Milvus boolean expression from checked values; empty means no filter."""
    parts = [f"category == {quote(category)}"] if category else []
    for field, accepted in sorted((where or {}).items()):
        if len(accepted) == 1:
            parts.append(f"{field} == {quote(accepted[0])}")
        else:
            parts.append(f"{field} in [{', '.join(quote(v) for v in accepted)}]")
    return " and ".join(parts)
