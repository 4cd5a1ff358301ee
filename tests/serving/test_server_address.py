"""One setting, FASHION_SEARCH_TRITON_URL, says where Triton listens and where every step calls."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from fashion_search.config import Settings
from fashion_search.errors import ConfigError
from fashion_search.serving.serve import ServerOptions
from tests.conftest import free_port


@pytest.mark.unit
def test_serve_listens_on_the_urls_port_with_http_below_and_metrics_above():
    options = ServerOptions.at(Settings(triton_url="127.0.0.1:9001"))
    assert (options.host, options.grpc_port, options.http_port, options.metrics_port) == (
        "127.0.0.1", 9001, 9000, 9002)


@pytest.mark.unit
def test_a_server_started_without_options_listens_where_the_url_says(tmp_path):
    from fashion_search.serving.serve import TritonServer

    server = TritonServer(Settings(triton_url="127.0.0.1:9101", home=tmp_path))
    assert (server.options.grpc_port, server.options.http_port) == (9101, 9100)


@pytest.mark.unit
def test_the_serve_commands_flags_override_the_url():
    options = ServerOptions.at(Settings(triton_url="0.0.0.0:9001"), grpc_port=None, http_port=7000)
    assert (options.host, options.grpc_port, options.http_port) == ("0.0.0.0", 9001, 7000)


@pytest.mark.unit
@pytest.mark.parametrize("url", ["127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000",
                                 "127.0.0.1:65535", "127.0.0.1:1"])
def test_a_url_without_a_port_for_grpc_and_its_neighbours_is_refused_by_name(url):
    with pytest.raises(ConfigError, match="FASHION_SEARCH_TRITON_URL is .*give host:port"):
        ServerOptions.at(Settings(triton_url=url))


def _command() -> list[str]:
    return [str(Path(sys.executable).with_name("fashion-search"))]


def _wait_for_line(process: subprocess.Popen, text: str, timeout_s: float) -> str:
    """Lines the process printed up to the first holding ``text``; fails on exit or timeout."""
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:
            seen.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    found.wait(timeout_s)
    assert found.is_set(), f"no {text!r} in:\n{''.join(seen)[-3000:]}"
    return "".join(seen)


@pytest.mark.integration
def test_one_triton_url_makes_serve_index_search_and_demo_agree(settings, exported, clothing_dir,
                                                                tmp_path, monkeypatch):
    from fashion_search.serving import serve as serve_module

    port = free_port()
    url = f"127.0.0.1:{port}"
    env = {**os.environ, "FASHION_SEARCH_TRITON_URL": url, "FASHION_SEARCH_HOME": str(settings.home),
           "FASHION_SEARCH_MODEL_REPOSITORY": str(settings.model_repository),
           "FASHION_SEARCH_MILVUS_URI": str(tmp_path / "agree.db")}
    catalogue = tmp_path / "catalogue" / "shoes"
    catalogue.mkdir(parents=True)
    for photo in sorted((clothing_dir / "train" / "shoes").glob("*.jpg"))[:6]:
        shutil.copy(photo, catalogue / photo.name)
    server = subprocess.Popen([*_command(), "serve"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_for_line(server, f"Triton serving on gRPC {url}", 300)

        def step(*args: str) -> subprocess.CompletedProcess:
            done = subprocess.run([*_command(), *args], env=env, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
            return done

        # each step finds the server where the URL says: none starts a server of its own
        index = step("index", "--catalog", str(catalogue.parent))
        assert f"using the Triton server already running at {url}" in index.stderr
        assert "full index: 6 items live" in index.stdout
        query = next(catalogue.glob("*.jpg"))
        hits = json.loads(step("search", str(query), "-k", "3", "--json").stdout)["hits"]
        assert hits[0]["id"] == f"shoes/{query.stem}" and len(hits) == 3

        for name, value in env.items():
            if name.startswith("FASHION_SEARCH_"):
                monkeypatch.setenv(name, value)

        def no_second_server(*args, **kwargs):
            raise AssertionError("the demo started a server of its own")

        monkeypatch.setattr(serve_module, "TritonServer", no_second_server)
        from fashion_search.config import load_settings
        from fashion_search.demo import run as demo_run

        assert demo_run.ensure_server is serve_module.ensure_server  # what the demo calls
        with ExitStack() as stack:
            client = serve_module.ensure_server(load_settings(), stack)
            assert client.is_ready() and client.url == url
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)
