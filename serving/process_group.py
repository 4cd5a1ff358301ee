"""A server's process group, ended as one: its worker processes and their shared memory go with it.

``tritonserver`` runs each Python-backend instance in a process of its own (the
stub), which talks to the server through a POSIX shared-memory region named on
its command line. A server killed mid-request leaves its stubs blocked for good,
each holding the model (about 200 MB) and its region; an exited server that is
not yet reaped keeps even idle stubs waiting. The server is therefore started as
the leader of a new process group, and once it has exited (left unreaped, so the
group id cannot have been reused) what is left of the group is killed, the
server reaped, and the regions its stubs named are removed: those of this
server only, never another's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from fashion_search.serving.instance_board import PREFIX as BOARD_PREFIX
from fashion_search.serving.instance_board import board_folder

log = logging.getLogger(__name__)

SHARED_MEMORY = Path("/dev/shm")
SHM_REGION_PREFIX = "triton_python_backend_shm_region_"
# How long killed processes may take to vanish.
GROUP_EXIT_TIMEOUT_S = 5.0

Members = dict[int, tuple[str, list[str]]]


def exit_reason(code: int) -> str:
    """How a process ended, from its return code, as a message says it."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def has_exited(process: subprocess.Popen) -> bool:
    """Whether ``process`` has exited, without reaping it: its group id then stays ours."""
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped by someone else
        return True


def group_members(pgid: int) -> Members:
    """The processes of group ``pgid``, read from /proc: pid -> (state, argv)."""
    members: Members = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                if int(fields[2]) != pgid:
                    continue
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    argv = cmdline.read().decode(errors="replace").split("\0")
            except (OSError, IndexError, ValueError):
                continue  # ended while being read
            members[int(entry.name)] = (fields[0].decode(), argv)
    return members


def stub_regions(members: Members) -> set[str]:
    """The shared-memory regions named on the command lines of a server's stubs."""
    return {arg for _, argv in members.values() for arg in argv
            if arg.startswith(SHM_REGION_PREFIX) and "/" not in arg}


def wait_group_gone(pgid: int, timeout_s: float) -> list[int]:
    """Wait until group ``pgid`` has no live process; those still there after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = []
        for pid, (state, _) in group_members(pgid).items():
            if state != "Z":
                alive.append(pid)
            elif pid != pgid:  # ours to reap where this process is their reaper (pid 1)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def remove_shared_memory(server_pid: int, regions: set[str]) -> list[str]:
    """Unlink the regions and instance boards of one server that its processes left behind."""
    removed = []
    paths = [SHARED_MEMORY / name for name in sorted(regions)]
    paths += sorted(board_folder().glob(f"{BOARD_PREFIX}{server_pid}-*.board"))
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # its process removed it on the way out
        except OSError as err:
            log.warning("could not remove %s: %s", path, err)
            continue
        removed.append(path.name)
    return removed


def end_group(process: subprocess.Popen, regions: set[str]) -> None:
    """Once the group leader ``process`` has exited: kill the rest, reap it, free the memory.

    ``regions`` gathers the stubs' regions, seen before and now.
    """
    pid = process.pid
    members = group_members(pid)
    regions.update(stub_regions(members))
    alive = [p for p, (state, _) in members.items() if p != pid and state != "Z"]
    if alive:
        log.info("process %d has exited; killing the %d process(es) left in its group: %s",
                 pid, len(alive), alive)
        if process.returncode is None:  # still unreaped: the group is certainly its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        else:
            for member in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)
        left = wait_group_gone(pid, GROUP_EXIT_TIMEOUT_S)
        if left:
            log.warning("processes %s of the group of %d are still there after SIGKILL", left, pid)
    process.wait()
    removed = remove_shared_memory(pid, regions)
    if removed:
        log.info("removed the shared memory left by process %d's group: %s", pid,
                 ", ".join(removed))
