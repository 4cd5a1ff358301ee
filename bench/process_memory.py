"""Resident memory of other processes (a server the benchmark talks to), read from /proc."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def resident_mb(match: Callable[[list[str]], bool]) -> float:
    """Total resident memory, in MB, of the processes whose argv ``match`` accepts."""
    total_kb = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            if not argv[0] or not match(argv):
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process ended while being read
    return total_kb / 1024


def program_is(*names: str) -> Callable[[list[str]], bool]:
    """A match for processes whose program file is one of ``names``."""
    return lambda argv: Path(argv[0]).name in names
