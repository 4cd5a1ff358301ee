"""Typed settings with defaults in code; endpoints come from ``FASHION_SEARCH_*``.

Every step takes keyword arguments; where one is left out it falls back to
these settings, so a shell, a test and a container all configure the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "FASHION_SEARCH_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


@dataclass(frozen=True)
class Settings:
    """Where things live and how to reach the services."""

    home: Path = field(default_factory=lambda: Path(_env("HOME", str(PROJECT_ROOT / "artifacts"))))
    cache_dir: Path = field(
        default_factory=lambda: Path(
            _env("CACHE_DIR", str(Path.home() / ".cache" / "fashion-search"))
        )
    )
    model_repository: Path = field(
        default_factory=lambda: Path(
            _env("MODEL_REPOSITORY", str(PROJECT_ROOT / "triton_models"))
        )
    )
    triton_url: str = field(default_factory=lambda: _env("TRITON_URL", "127.0.0.1:8001"))
    milvus_uri: str = field(default_factory=lambda: _env("MILVUS_URI", ""))
    milvus_token: str = field(default_factory=lambda: _env("MILVUS_TOKEN", ""))
    catalog: str = field(default_factory=lambda: _env("CATALOG", ""))
    data_dir: Path = field(
        default_factory=lambda: Path(_env("DATA", str(PROJECT_ROOT.parent / "shared" / "data")))
    )
    default_catalog_url: str = field(default_factory=lambda: _env("DEFAULT_CATALOG_URL", ""))
    demo_host: str = field(default_factory=lambda: _env("DEMO_HOST", "127.0.0.1"))
    demo_port: int = field(default_factory=lambda: int(_env("DEMO_PORT", "7860")))

    @property
    def resolved_milvus_uri(self) -> str:
        """Milvus Lite file under ``home`` unless a server URI is configured."""
        return self.milvus_uri or str(self.home / "catalog.db")


def load_settings() -> Settings:
    return Settings()


def to_jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


def save_resolved_config(path: Path, **sections: Any) -> Path:
    """Write the configuration a run really used beside its output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {name: to_jsonable(value) for name, value in sections.items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
    return path


