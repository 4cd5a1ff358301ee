"""Print pyproject.toml's requirement lines for the named distributions, one per line.

The Triton image installs a few of the project's dependencies (the pinned PyTorch
the preprocessing parity was measured with, the JPEG decoder) before the package
itself with ``--no-deps``; this reads them from the one place they are written.

    python3 docker/pins.py torch torchvision simplejpeg
"""

import re
import sys
from pathlib import Path

import tomllib


def pins(names: list[str], pyproject: Path = Path(__file__).parents[1] / "pyproject.toml") -> list[str]:
    """The requirement lines, from the dependencies and every extra, for ``names``."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    wanted = {n.lower() for n in names}
    found = [line for line in lines if re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower() in wanted]
    missing = wanted - {re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower() for line in found}
    if missing:
        raise SystemExit(f"pyproject.toml names no {', '.join(sorted(missing))}")
    return found


if __name__ == "__main__":
    print("\n".join(pins(sys.argv[1:])))
