"""Start, watch and stop a real ``tritonserver`` on the project's model repository.

With the official Triton image (a GPU machine) the built repository (the
``triton_models/`` templates rendered by ``export``) is served as it is. Without one, the ``tritonserver``
binary shipped in the ``nvidia-pytriton`` wheel serves a runtime copy in which
the embedder is the same model run by onnxruntime inside the Python backend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from fashion_search import triton_config as tc
from fashion_search.client import EmbeddingClient
from fashion_search.config import CPU_LAYOUTS, ENV_PREFIX, ORT_THREADS_ENV, Settings, load_settings
from fashion_search.errors import ConfigError, ServedModelMismatch, ServerError
from fashion_search.serving.cpu_repository import build_cpu_repository, finder_repository
from fashion_search.serving.process_group import (
    end_group,
    exit_reason,
    group_members,
    has_exited,
    stub_regions,
)

log = logging.getLogger(__name__)

OFFICIAL_SERVER = Path("/opt/tritonserver")
# How often the watchdog looks whether the server is still there, and its stubs' regions.
WATCH_INTERVAL_S = 0.2
RESCAN_INTERVAL_S = 2.0


@dataclass
class ServerOptions:
    """How a server is started; :meth:`at` places it where the settings say it is."""

    grpc_port: int = 8001
    http_port: int = 8000
    metrics_port: int = 8002
    host: str = "127.0.0.1"
    startup_timeout_s: float = 180.0
    # On a CPU, "fused": one model decodes and embeds, in fused_instances processes (one
    # decodes while another runs the network); "stages": the GPU deployment's ensemble.
    cpu_layout: str = "fused"
    fused_instances: int = 2
    preprocess_instances: int = 2
    embedder_instances: int = 1
    # CPU batching (the templates' GPU batching would only queue photos on a CPU). No
    # queue delay: a lone photo is not held back for company (2 ms per stage), and
    # under load photos still batch while an instance is busy.
    cpu_max_batch: int = 64
    cpu_preferred_batches: tuple[int, ...] = (16, 32)
    cpu_queue_delay_us: int = 0
    extra_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.cpu_layout not in CPU_LAYOUTS:
            raise ConfigError(f"unknown CPU layout {self.cpu_layout!r}; use one of "
                              f"{', '.join(CPU_LAYOUTS)}")

    @classmethod
    def at(cls, settings: Settings, **overrides: object) -> ServerOptions:
        """Listening on ``FASHION_SEARCH_TRITON_URL``: gRPC on its port, HTTP on the port
        below and metrics above, unless ``overrides`` (the CLI's flags) say otherwise."""
        host, port = settings.triton_address
        options = cls(host=host, grpc_port=port, http_port=port - 1, metrics_port=port + 1)
        return replace(options, **{k: v for k, v in overrides.items() if v is not None})


def _pytriton_server_dir() -> Path:
    try:
        import pytriton
    except ImportError as err:  # pragma: no cover - install problem
        raise ServerError("nvidia-pytriton is not installed; run `make install`") from err
    return Path(pytriton.__file__).resolve().parent / "tritonserver"


def prepare_cpu_server(work_dir: Path) -> Path:
    """A writable copy of the wheel's server with the Python stub for this interpreter."""
    target = work_dir / "tritonserver"
    marker = target / ".ready"
    if marker.exists():
        return target
    source = _pytriton_server_dir()
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = source / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServerError(f"the Triton wheel has no Python backend stub for Python {version}")
    shutil.copy2(stub, target / "backends" / "python" / "triton_python_backend_stub")
    marker.write_text("ok\n")
    return target


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the server gets SIGTERM if the process that started it dies, even by SIGKILL.

    It then shuts down as on stop(), its backend processes and their shared memory
    with it. The signal comes when the *thread* that started it ends: start a server
    from a thread that lives as long as the server.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    libs = [sysconfig.get_config_var("LIBDIR") or ""]
    wheel_libs = _pytriton_server_dir().parent.parent / "nvidia_pytriton.libs"
    libs.append(str(wheel_libs))
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in libs if p)
    env.setdefault(ORT_THREADS_ENV, str(os.cpu_count() or 1))
    return env


class TritonServer:
    """A running ``tritonserver`` process; use as a context manager or call stop().

    Its backend processes and their shared memory end with it, however it ends: a
    watchdog kills them and removes the memory once the server has exited.
    """

    def __init__(self, settings: Settings | None = None, options: ServerOptions | None = None):
        self.settings = settings or load_settings()
        self.options = options or ServerOptions.at(self.settings)
        self.process: subprocess.Popen | None = None
        self.log_path = self.settings.home / "triton" / "server.log"
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._finished = False
        self._exit_message: str | None = None
        self._regions: set[str] = set()
        self._watchdog: threading.Thread | None = None

    @property
    def grpc_url(self) -> str:
        return f"{self.options.host}:{self.options.grpc_port}"

    def command(self) -> list[str]:
        opts, home = self.options, self.settings.home / "triton"
        official = (OFFICIAL_SERVER / "backends" / "onnxruntime").is_dir()
        if official:
            binary, backends = OFFICIAL_SERVER / "bin" / "tritonserver", OFFICIAL_SERVER / "backends"
            repository = self.settings.model_repository
        else:
            server = prepare_cpu_server(home)
            binary, backends = server / "bin" / "tritonserver", server / "backends"
            repository = build_cpu_repository(self.settings.model_repository,
                                              home / "model_repository", opts)
        # the garment finder, when one is built, from a repository of its own
        finder = finder_repository(self.settings.garment_repository, home, cpu=not official)
        (home / "cache").mkdir(parents=True, exist_ok=True)
        return [
            str(binary), f"--model-repository={repository}", *finder,
            f"--backend-directory={backends}", f"--cache-directory={home / 'cache'}",
            f"--http-address={opts.host}", f"--http-port={opts.http_port}",
            f"--grpc-address={opts.host}", f"--grpc-port={opts.grpc_port}",
            f"--metrics-address={opts.host}", f"--metrics-port={opts.metrics_port}",
            "--exit-on-error=true", "--strict-readiness=true", "--log-verbose=0",
            *opts.extra_args,
        ]

    def log_tail(self, lines: int = 12) -> str:
        """The server's errors first (model load failures), then its last lines."""
        if not self.log_path.exists():
            return "(no server log)"
        noise = ("CUDA", "NVML", "Cuda", "|", "+--")
        text = [t for t in self.log_path.read_text(errors="replace").splitlines()
                if t.strip() and not t.startswith(noise[3:]) and not any(n in t for n in noise[:3])]
        tail = text[-lines:]
        errors = [t for t in text[:-lines] if t.startswith("E") or "Failed" in t][-lines:]
        return "\n".join(t[:600] for t in [*errors, *(["..."] if errors else []), *tail])

    def start(self) -> TritonServer:
        command = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting tritonserver: %s", " ".join(command))
        # Its own process group: the server and its backend processes can be ended together,
        # and the group id stays ours while the exited server is left unreaped.
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            env=_server_env(), start_new_session=True,
                                            preexec_fn=_die_with_parent)
        try:
            self._wait_ready()
        except BaseException:  # a failed start or Ctrl-C never leaves a server behind
            self.stop()
            raise
        self._regions.update(stub_regions(group_members(self.process.pid)))
        self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                          name=f"tritonserver-{self.process.pid}-watchdog")
        self._watchdog.start()
        return self

    def _wait_ready(self) -> None:
        client = EmbeddingClient(self.grpc_url)
        try:
            deadline = time.monotonic() + self.options.startup_timeout_s
            while time.monotonic() < deadline:
                if self._server_exited():
                    self._finish(unexpected=False)
                    raise ServerError(
                        f"tritonserver {exit_reason(self.process.returncode)} while starting; "
                        f"its log ({self.log_path}) ends:\n{self.log_tail()}"
                    )
                if client.is_ready():
                    log.info("Triton is ready on %s (gRPC)", self.grpc_url)
                    return
                time.sleep(0.5)
            raise ServerError(
                f"tritonserver was not ready after {self.options.startup_timeout_s:.0f}s; "
                f"its log ({self.log_path}) ends:\n{self.log_tail()}"
            )
        finally:
            client.close()

    def check(self) -> None:
        """Raise ServerError if the server died on its own, so a caller waiting on it stops."""
        if self.process is None:
            raise ServerError("tritonserver has not been started")
        if self._exit_message is None and not self._stopping.is_set() and self._server_exited():
            self._finish(unexpected=True)
        if self._exit_message is not None:
            raise ServerError(self._exit_message)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server and its backend processes; safe to call when it has exited."""
        if self.process is None:
            return
        self._stopping.set()
        exited_by_itself = self._server_exited()
        if not exited_by_itself:
            # The stubs ignore SIGTERM: the server stops them, then exits.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            if not self._wait_exited(timeout_s):
                log.warning("tritonserver did not stop within %.0fs; killing it", timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self._wait_exited(None)
        self._finish(unexpected=exited_by_itself)
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join()

    def _server_exited(self) -> bool:
        return has_exited(self.process)

    def _wait_exited(self, timeout_s: float | None) -> bool:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._server_exited():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _watch(self) -> None:
        """Ends the backend processes as soon as the server dies, whoever killed it.

        Killed mid-request, the server leaves its stubs stuck for good (each holding
        the model and its shared memory); left unreaped, idle ones keep waiting too.
        """
        next_scan = time.monotonic() + RESCAN_INTERVAL_S
        try:
            while not self._stopping.wait(WATCH_INTERVAL_S):
                if self._server_exited():
                    self._finish(unexpected=True)
                    return
                if time.monotonic() >= next_scan:  # a restarted stub gets a new region
                    found = stub_regions(group_members(self.process.pid))
                    with self._lock:
                        self._regions.update(found)
                    next_scan = time.monotonic() + RESCAN_INTERVAL_S
        except Exception:  # a watchdog that dies unseen would leave the stubs to leak again
            log.exception("the tritonserver watchdog failed")

    def _finish(self, unexpected: bool) -> None:
        """Once the server has exited: end its group, remove its shared memory, reap it."""
        with self._lock:
            if self._finished:
                return
            end_group(self.process, self._regions)
            self._finished = True
            if unexpected:
                self._exit_message = (
                    f"tritonserver (pid {self.process.pid}, gRPC {self.grpc_url}) "
                    f"{exit_reason(self.process.returncode)}; its backend processes and their "
                    f"shared memory are gone too. Its log ({self.log_path}) ends:\n"
                    f"{self.log_tail()}"
                )
                log.error("%s", self._exit_message)

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _built_templates(settings: Settings) -> str:
    """The templates digest of the built repository, "" when it has none."""
    config = settings.model_repository / tc.EMBEDDER / "config.pbtxt"
    if not config.is_file():
        return ""
    return tc.get_parameter(tc.read_config(config), tc.TEMPLATES_PARAM, "") or ""


def ensure_server(settings: Settings, stack: ExitStack,
                  expected_version: str | None = None) -> EmbeddingClient:
    """Use the server at the configured URL if it is up, else start one for this process.

    With ``expected_version``, a running server that serves another model is
    refused rather than silently used.
    """
    client = EmbeddingClient(settings.triton_url, timeout_s=settings.triton_timeout_s)
    stack.callback(client.close)
    if client.is_ready():
        served = client.info()
        built = _built_templates(settings)
        if expected_version and served.version != expected_version:
            raise ServedModelMismatch(
                f"the Triton server already running at {settings.triton_url} serves "
                f"{served.version}, not {expected_version}; stop it (the next start serves the "
                f"new model) or point {ENV_PREFIX}TRITON_URL at another port"
            )
        if expected_version and built and served.templates != built:
            raise ServedModelMismatch(
                f"the Triton server already running at {settings.triton_url} serves an older "
                f"build of {served.version} (its outputs differ from this checkout's); stop it "
                f"(the next start serves the new build) or point {ENV_PREFIX}TRITON_URL at "
                f"another port"
            )
        log.info("using the Triton server already running at %s", settings.triton_url)
        return client
    server = TritonServer(settings, ServerOptions.at(settings))
    stack.enter_context(server)
    return client
