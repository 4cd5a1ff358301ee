"""The real tritonserver: same embedding as PyTorch, clear errors when it cannot serve."""

import os
import shutil
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from fashion_search import colour
from fashion_search import triton_config as tc
from fashion_search.checkpoint import load_model
from fashion_search.client import EmbeddingClient
from fashion_search.errors import EmbeddingError, ServerError, TritonUnavailable
from fashion_search.export.parity import cosine_rows, torch_embed
from fashion_search.preprocessing import PreprocessConfig, preprocess, preprocess_photos
from fashion_search.serving.serve import ServerOptions, TritonServer
from tests.conftest import free_port

pytestmark = pytest.mark.integration

SHM = Path("/dev/shm")
REGION = "triton_python_backend_shm_region_"


def test_triton_embedding_of_raw_bytes_equals_pytorch(client, parity_photos):
    photos = [p.read_bytes() for p in parity_photos]
    served = client.embed(photos)
    loaded = load_model()
    local = torch_embed(loaded, np.stack([preprocess(p, loaded.preprocessing) for p in photos]))
    cosines = cosine_rows(served, local)
    assert served.shape == (9, 1280)
    assert cosines.min() >= 0.999, cosines


def test_the_server_computes_the_colour_descriptor_from_the_same_photo(client, parity_photos):
    photos = [p.read_bytes() for p in parity_photos]
    found = client.features(photos)
    contract = client.info().preprocessing
    local = preprocess_photos(photos, contract, colours=True)[1]
    assert client.info().colour == colour.NAME
    assert found.colours.shape == (len(photos), colour.DIM)
    np.testing.assert_allclose(found.colours, local, atol=1e-6)
    np.testing.assert_allclose(found.embeddings, client.embed(photos), atol=1e-6)


def test_batch_and_single_requests_agree(client, parity_photos):
    photos = [p.read_bytes() for p in parity_photos[:4]]
    batch = client.embed(photos)
    singles = np.stack([client.embed_one(p) for p in photos])
    assert cosine_rows(batch, singles).min() >= 0.9999


def test_photos_from_many_clients_at_once_get_the_embeddings_a_lone_photo_gets(client,
                                                                              parity_photos):
    from concurrent.futures import ThreadPoolExecutor

    photos = [p.read_bytes() for p in parity_photos] * 3
    alone = np.stack([client.embed_one(p) for p in photos])
    clients = [EmbeddingClient(client.url) for _ in range(8)]
    with ThreadPoolExecutor(len(clients)) as pool:  # instances busy together share the cores
        crowded = list(pool.map(lambda i: clients[i % 8].embed_one(photos[i]),
                                range(len(photos))))
    for other in clients:
        other.close()
    np.testing.assert_allclose(np.stack(crowded), alone, atol=1e-5)


def test_the_instances_share_a_board_that_goes_when_the_server_stops(settings, exported,
                                                                     parity_photos, tmp_path):
    import threading
    import time

    from fashion_search.serving.instance_board import board_folder

    options = ServerOptions(grpc_port=free_port(), http_port=free_port(),
                            metrics_port=free_port())
    own = replace(settings, home=tmp_path, model_repository_dir=str(settings.model_repository))
    photos = [p.read_bytes() for p in parity_photos]
    with TritonServer(own, options) as server:
        board = board_folder() / f"fashion-search-{server.process.pid}-{tc.ENSEMBLE}.board"
        clients = [EmbeddingClient(server.grpc_url) for _ in range(8)]
        done = threading.Event()

        def load(client: EmbeddingClient) -> None:
            while not done.is_set():
                client.embed_one(photos[0])

        threads = [threading.Thread(target=load, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        seen = set()
        deadline = time.monotonic() + 20
        try:  # under load each instance marks itself busy on its own byte
            while time.monotonic() < deadline:
                seen.add(board.read_bytes())
                if bytes([1] * options.fused_instances) in seen:
                    break
        finally:
            done.set()
            for thread in threads:
                thread.join()
            for client in clients:
                client.close()
        assert bytes([1] * options.fused_instances) in seen, seen
        assert board.read_bytes() == bytes(options.fused_instances)  # nobody busy now
    assert not board.exists(), "the server stopped without removing its board"


def _served_configs(url: str) -> dict:
    grpc = grpcclient.InferenceServerClient(url)
    ensemble = grpc.get_model_config(tc.ENSEMBLE).config
    configs = {step.model_name: grpc.get_model_config(step.model_name).config
               for step in ensemble.ensemble_scheduling.step}
    grpc.close()
    return configs


def test_the_cpu_server_decodes_and_embeds_in_one_model_that_holds_no_lone_photo_back(
        client, settings):
    grpc = grpcclient.InferenceServerClient(client.url)
    config = grpc.get_model_config(tc.ENSEMBLE).config
    grpc.close()
    built = tc.read_config(settings.model_repository / tc.ENSEMBLE / "config.pbtxt")
    assert config.backend == "python" and not config.ensemble_scheduling.step
    assert list(config.input) == list(built.input) and list(config.output) == list(built.output)
    assert config.dynamic_batching.max_queue_delay_microseconds == 0
    assert config.instance_group[0].kind == config.instance_group[0].KIND_CPU
    assert config.instance_group[0].count == ServerOptions().fused_instances


@pytest.fixture(scope="module")
def stages_client(settings, exported, tmp_path_factory):
    """The GPU deployment's two-stage ensemble, served on the CPU."""
    home = tmp_path_factory.mktemp("stages")
    options = ServerOptions(grpc_port=free_port(), http_port=free_port(),
                            metrics_port=free_port(), cpu_layout="stages")
    in_home = replace(settings, home=home, model_repository_dir=str(settings.model_repository))
    with TritonServer(in_home, options) as server:
        client = EmbeddingClient(server.grpc_url)
        yield client
        client.close()


def test_the_two_stage_layout_answers_exactly_as_the_fused_one(client, stages_client,
                                                               parity_photos):
    configs = _served_configs(stages_client.url)
    assert list(configs) == [tc.PREPROCESS, tc.EMBEDDER]
    for model, config in configs.items():
        assert config.dynamic_batching.max_queue_delay_microseconds == 0, model
    photos = [p.read_bytes() for p in parity_photos]
    fused, stages = client.features(photos), stages_client.features(photos)
    assert stages_client.info() == client.info()
    np.testing.assert_allclose(stages.embeddings, fused.embeddings, atol=1e-5)
    np.testing.assert_array_equal(stages.colours, fused.colours)
    assert fused.probabilities is None or np.allclose(stages.probabilities, fused.probabilities,
                                                      atol=1e-5)


def test_in_the_two_stage_layout_a_bad_photo_still_gets_the_reason(stages_client):
    with pytest.raises(EmbeddingError, match="not a readable image"):
        stages_client.embed([b"\x89PNG\r\n\x1a\n broken"])


def test_served_model_says_how_it_was_trained(client, exported):
    info = client.info()
    assert info.version == exported.model_version
    assert info.dim == 1280 and info.metric == "COSINE"
    assert info.preprocessing == PreprocessConfig()


def test_unreadable_photo_gets_the_servers_reason(client):
    with pytest.raises(EmbeddingError, match="not a readable image"):
        client.embed([b"\x89PNG\r\n\x1a\n broken"])


def test_a_bad_photo_is_the_clients_mistake_and_fails_only_its_own_request(client, parity_photos):
    from concurrent.futures import ThreadPoolExecutor

    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    from fashion_search import triton_config as tc

    def infer(data: bytes):
        raw = grpcclient.InferenceServerClient(client.url)
        batch = np.array([[data]], dtype=object)
        request = grpcclient.InferInput(tc.INPUT_BYTES, list(batch.shape), "BYTES")
        request.set_data_from_numpy(batch)
        try:
            return raw.infer(tc.ENSEMBLE, [request]).as_numpy(tc.EMBEDDING)
        except InferenceServerException as err:
            return err
        finally:
            raw.close()

    good = [p.read_bytes() for p in parity_photos[:7]]
    photos = good[:3] + [good[0][: len(good[0]) // 3]] + good[3:]  # one cut short
    with ThreadPoolExecutor(len(photos)) as pool:  # sent together: batched on the server
        answers = list(pool.map(infer, photos))
    failed = [a for a in answers if isinstance(a, InferenceServerException)]
    assert len(failed) == 1 and answers[3] is failed[0]
    assert failed[0].status() == "StatusCode.INVALID_ARGUMENT"
    assert "corrupt or truncated" in failed[0].message()
    assert all(a.shape == (1, 1280) for i, a in enumerate(answers) if i != 3)


def test_refused_photos_leave_no_memory_behind(client):
    from fashion_search.bench.process_memory import program_is, resident_mb

    stubs = program_is("triton_python_backend_stub")
    junk = b"\xff\xd8" + bytes(20 * 2**20) + b"\xff\xd9"  # 20 MB that is no JPEG
    with pytest.raises(EmbeddingError):
        client.embed([junk])  # the first one may size buffers once
    before = resident_mb(stubs)
    for _ in range(12):
        with pytest.raises(EmbeddingError, match="not a readable image|corrupt"):
            client.embed([junk])
    # kept past the request, 12 refusals would hold 240 MB
    assert resident_mb(stubs) - before < 80


def test_an_unknown_cpu_layout_is_refused_before_anything_starts():
    from fashion_search.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown CPU layout 'pipelined'; use one of fused, stages"):
        ServerOptions(cpu_layout="pipelined")


def test_server_that_is_down_says_how_to_start_one():
    client = EmbeddingClient(f"127.0.0.1:{free_port()}", timeout_s=5)
    assert not client.is_ready()
    with pytest.raises(TritonUnavailable, match="fashion-search serve"):
        client.embed([b"x"])


def test_server_that_fails_to_start_shows_its_log(settings, exported, tmp_path):
    repo = tmp_path / "broken_models"
    shutil.copytree(settings.model_repository, repo)
    (repo / tc.EMBEDDER / "1" / "model.onnx").unlink()
    (repo / tc.EMBEDDER / "1" / "model.onnx").write_text("broken on purpose")
    broken = replace(settings, home=tmp_path / "home", model_repository_dir=str(repo))
    options = ServerOptions(grpc_port=free_port(), http_port=free_port(),
                            metrics_port=free_port(), startup_timeout_s=120)
    with pytest.raises(ServerError, match="(?s)embed_image.*model.onnx"):
        TritonServer(broken, options).start()


def test_an_unbuilt_repository_says_to_export(settings, tmp_path):
    empty = replace(settings, home=tmp_path / "home", model_repository_dir=str(tmp_path / "none"))
    with pytest.raises(ServerError, match="is not built; build it with `fashion-search export`"):
        TritonServer(empty).start()


def test_ctrl_c_while_starting_leaves_no_server(settings, exported, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(EmbeddingClient, "is_ready", interrupted)
    options = ServerOptions(grpc_port=free_port(), http_port=free_port(),
                            metrics_port=free_port())
    server = TritonServer(settings, options)
    with pytest.raises(KeyboardInterrupt):
        server.start()
    assert server.process.poll() is not None
    server.stop()  # stopping a server that has exited is harmless


def test_a_running_server_from_an_older_build_is_refused(client, settings, exported, tmp_path):
    from contextlib import ExitStack

    from fashion_search import triton_config as tc
    from fashion_search.errors import ServedModelMismatch
    from fashion_search.serving.serve import ensure_server

    built = tc.read_config(settings.model_repository / tc.EMBEDDER / "config.pbtxt")
    tc.set_parameter(built, tc.TEMPLATES_PARAM, "0123456789ab")
    tc.write_config(tmp_path / tc.EMBEDDER / "config.pbtxt", built)
    newer = replace(settings, model_repository_dir=str(tmp_path))
    with ExitStack() as stack:
        assert ensure_server(settings, stack, exported.model_version).info().templates
        with pytest.raises(ServedModelMismatch, match="older build"):
            ensure_server(newer, stack, exported.model_version)


def _group_of(leader: int) -> dict[int, list[str]]:
    """Live (not zombie) processes in the process group ``leader`` leads: pid -> argv."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue  # ended while being read
        state, _ppid, pgid = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgid) == leader and state != "Z":
            found[int(entry)] = argv
    return found


def test_a_killed_server_takes_its_backend_processes_and_their_shared_memory_with_it(
        settings, exported, parity_photos, tmp_path):
    """Killed mid-request, tritonserver leaves its Python-backend processes stuck (about
    200 MB each) with their /dev/shm regions, until they are killed in turn."""
    from fashion_search.serving.instance_board import board_folder

    options = ServerOptions(grpc_port=free_port(), http_port=free_port(),
                            metrics_port=free_port())
    own = replace(settings, home=tmp_path, model_repository_dir=str(settings.model_repository))
    server = TritonServer(own, options).start()
    pid = server.process.pid
    stubs = {p: argv for p, argv in _group_of(pid).items() if p != pid}
    regions = [SHM / a for argv in stubs.values() for a in argv if a.startswith(REGION)]
    boards = list(board_folder().glob(f"fashion-search-{pid}-*.board"))
    done, answered = threading.Event(), threading.Event()

    def load() -> None:
        client = EmbeddingClient(server.grpc_url, timeout_s=10)
        try:
            while not done.is_set():
                client.embed([parity_photos[0].read_bytes()] * 8)
                answered.set()
        except (TritonUnavailable, EmbeddingError):
            pass  # the server is gone
        finally:
            client.close()

    threads = [threading.Thread(target=load) for _ in range(2)]
    try:
        # the garment finder, when the session has built one, runs beside the embedder
        from fashion_search.serving.cpu_repository import CPU_INSTANCES

        finder = (own.garment_repository / "garment_finder" / "1" / "model.onnx").is_file()
        expected = options.fused_instances + (CPU_INSTANCES if finder else 0)
        assert len(stubs) == expected and len(regions) == len(stubs)
        # a model with one instance keeps its board in its own memory, not in a file
        finder_boards = int(finder and CPU_INSTANCES > 1)
        assert len(boards) == 1 + finder_boards and all(region.exists() for region in regions)
        regions += boards
        for thread in threads:
            thread.start()
        assert answered.wait(30)
        os.kill(pid, signal.SIGKILL)  # while requests are in flight
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and (_group_of(pid) or any(r.exists() for r in regions)):
            time.sleep(0.2)
        assert not _group_of(pid), "backend processes outlived the killed server"
        assert not [r.name for r in regions if r.exists()], "their shared memory stayed"
        with pytest.raises(ServerError, match=r"tritonserver .*killed by SIGKILL.*log"):
            server.check()
    finally:
        done.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()
        server.stop()
        for left in _group_of(pid):  # a failed run leaves nothing behind either
            os.kill(left, signal.SIGKILL)
        for region in regions:
            region.unlink(missing_ok=True)
