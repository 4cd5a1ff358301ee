"""The model a built repository or a running server serves, in a module of its own: the
demo image (no PyTorch) needs the record but not the export machinery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServedModel:
    """The model the built repository serves, and how it was chosen."""

    version: str
    description: str
    repository: Path
    exported: bool  # False when an earlier build already served this model

    def __str__(self) -> str:
        return f"{self.version} ({self.description})"
