"""Typed settings with defaults in code; endpoints come from ``FASHION_SEARCH_*``.

Every step takes keyword arguments; where one is left out it falls back to
these settings, so a shell, a test and a container all configure the same way.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from fashion_search.errors import ConfigError
from fashion_search.files import write_text_atomic

ENV_PREFIX = "FASHION_SEARCH_"
# The cores the CPU server's instances share (default: all); read inside tritonserver.
ORT_THREADS_ENV = ENV_PREFIX + "ORT_THREADS"
# The pretrained backbone a model starts from unless told otherwise.
DEFAULT_BACKBONE = "efficientnet_lite0"
# Collections of one catalogue that went live and are kept after an index, the live one
# included; the one it replaced always stays, so a search still reading it keeps working.
KEEP_COLLECTIONS = 2
# The GPU deployment's `preprocess` instances on each GPU: on an H200, processes running
# the old preprocessing (colour on the CPU) gave 1,306 photos/s alone, 3,804 in 4, 6,837 in 8;
# 4 keeps the CPU cores free for decoding headers and the gRPC front end.
PREPROCESS_GPU_INSTANCES = 4
# Photos per onnxruntime call or per Triton request, wherever photos go in batches.
BATCH_SIZE = 32
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRECISIONS = ("float32", "int8")
# How a server without a GPU lays out its models (serve.ServerOptions.cpu_layout).
CPU_LAYOUTS = ("fused", "stages")


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_number(name: str, default: str, kind: type = float, low: float = 0.0) -> Any:
    """A number from the environment; one that is not, or is too small, is refused by name."""
    text = _env(name, default)
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not value > low:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{ENV_PREFIX}{name} is {text!r}; give {what} above {low:g}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where things live and how to reach the services."""

    home: Path = field(default_factory=lambda: Path(_env("HOME", str(PROJECT_ROOT / "artifacts"))))
    cache_dir: Path = field(
        default_factory=lambda: Path(
            _env("CACHE_DIR", str(Path.home() / ".cache" / "fashion-search"))
        )
    )
    # The committed Triton configs; a build renders them with the model into model_repository.
    model_templates: Path = PROJECT_ROOT / "triton_models"
    model_repository_dir: str = field(default_factory=lambda: _env("MODEL_REPOSITORY", ""))
    triton_url: str = field(default_factory=lambda: _env("TRITON_URL", "127.0.0.1:8001"))
    triton_timeout_s: float = field(default_factory=lambda: _env_number("TRITON_TIMEOUT_S", "60"))
    milvus_uri: str = field(default_factory=lambda: _env("MILVUS_URI", ""))
    milvus_token: str = field(default_factory=lambda: _env("MILVUS_TOKEN", ""))
    # how long one Milvus call may wait for an answer (retries included) before it fails
    milvus_timeout_s: float = field(default_factory=lambda: _env_number("MILVUS_TIMEOUT_S", "20"))
    catalog: str = field(default_factory=lambda: _env("CATALOG", ""))
    data_dir: Path = field(
        default_factory=lambda: Path(_env("DATA", str(PROJECT_ROOT.parent / "shared" / "data")))
    )
    default_catalog_url: str = field(default_factory=lambda: _env("DEFAULT_CATALOG_URL", ""))
    demo_host: str = field(default_factory=lambda: _env("DEMO_HOST", "127.0.0.1"))
    demo_port: int = field(default_factory=lambda: _env_number("DEMO_PORT", "7860", int))
    # a folder of photos the page offers as examples beside catalogue items ("" = street photos
    # from the shared data set, when it is there)
    demo_examples: str = field(default_factory=lambda: _env("DEMO_EXAMPLES", ""))
    # `preprocess` instances per GPU in the GPU deployment's repository (export renders it)
    preprocess_gpu_instances: int = field(default_factory=lambda: _env_number(
        "PREPROCESS_GPU_INSTANCES", str(PREPROCESS_GPU_INSTANCES), int))
    # "float32" serves the exported graph; "int8" serves its int8 variant (export/quantize.py),
    # about twice as fast on a CPU with VNNI, as another model version
    precision: str = field(default_factory=lambda: _env("PRECISION", "float32"))
    # Triton's perf_analyzer for the load sweep ("" = the one `make perf-analyzer` installs)
    perf_analyzer: str = field(default_factory=lambda: _env("PERF_ANALYZER", ""))

    def __post_init__(self) -> None:
        # refused when settings are made, before any step has done work
        if self.precision not in PRECISIONS:
            raise ConfigError(f"{ENV_PREFIX}PRECISION is {self.precision!r}; use one of "
                              f"{', '.join(PRECISIONS)}")

    @property
    def triton_address(self) -> tuple[str, int]:
        """(host, gRPC port) of ``triton_url``: where ``serve`` listens and the others call."""
        host, _, port = self.triton_url.rpartition(":")
        if not port.isdigit() or not 1 < int(port) < 65535:  # HTTP below it, metrics above
            raise ConfigError(f"{ENV_PREFIX}TRITON_URL is {self.triton_url!r}; give host:port, "
                              "for example 127.0.0.1:8001")
        return host or "127.0.0.1", int(port)

    @property
    def model_repository(self) -> Path:
        """The built Triton model repository (configs + model), a build output."""
        if self.model_repository_dir:
            return Path(self.model_repository_dir)
        return self.home / "model_repository"

    @property
    def garment_repository(self) -> Path:
        """The garment finder's built Triton repository, served beside the embedder's."""
        return self.model_repository.with_name(self.model_repository.name + "_garments")

    @property
    def int8(self) -> bool:
        """Whether the served graph is the int8 variant."""
        return self.precision == "int8"

    @property
    def training_dir(self) -> Path:
        """Where ``fashion-search train`` writes its run by default."""
        return self.home / "training"

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
    payload = {name: to_jsonable(value) for name, value in sections.items()}
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str))


def _yes_no(text: str) -> bool:
    if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
        raise argparse.ArgumentTypeError(f"{text!r}: say true or false")
    return text.lower() in ("true", "yes", "1")


def add_config_flags(parser: argparse.ArgumentParser, config_type: type) -> None:
    """One flag per config field, so the CLI and the dataclass never drift apart."""
    defaults = config_type()
    for spec in fields(config_type):
        default = getattr(defaults, spec.name)
        flag = "--" + spec.name.replace("_", "-")
        kind = type(default) if default is not None else str
        if "int" in str(spec.type) and default is None:
            kind = int
        if isinstance(default, bool):
            kind = _yes_no
        if isinstance(default, list):
            parser.add_argument(flag, nargs="*", default=None,
                                help=f"(default: {' '.join(default) or 'none'})")
        else:
            parser.add_argument(flag, type=kind, default=None, help=f"(default: {default})")
