"""The board that lets a served model's instances, each in its own process, share the cores."""

import multiprocessing
import os

import pytest

from fashion_search.serving.instance_board import (
    InstanceBoard,
    instance_slot,
    remove_stale_boards,
    thread_shares,
)

pytestmark = pytest.mark.unit


def test_an_instance_sees_the_others_running_but_not_itself(tmp_path):
    first, second = (InstanceBoard("model", 2, slot, tmp_path) for slot in (0, 1))
    assert not first.others_running() and not second.others_running()
    with first.running():
        assert second.others_running()
        assert not first.others_running()
    assert not second.others_running()
    first.close()
    second.close()


def test_a_lone_instance_writes_no_shared_file(tmp_path):
    board = InstanceBoard("alone", 1, 0, tmp_path)
    with board.running():
        assert not board.others_running()
    assert board.path is None and list(tmp_path.iterdir()) == []
    board.close()


def test_a_batch_that_fails_does_not_leave_its_instance_marked_busy(tmp_path):
    board, other = (InstanceBoard("fails", 2, slot, tmp_path) for slot in (0, 1))
    with pytest.raises(RuntimeError), board.running():
        raise RuntimeError("a bad batch")
    assert not other.others_running()
    board.close()
    other.close()


def _run_until_told(key: str, folder, started, finish) -> None:
    board = InstanceBoard(key, 2, 1, folder)
    with board.running():
        started.set()
        finish.wait(30)
    board.close()


def test_another_process_running_is_seen(tmp_path):
    context = multiprocessing.get_context("spawn")  # as Triton starts its instances
    started, finish = context.Event(), context.Event()
    board = InstanceBoard("across", 2, 0, tmp_path)
    other = context.Process(target=_run_until_told, args=("across", tmp_path, started, finish))
    other.start()
    try:
        assert started.wait(60)
        assert board.others_running()
    finally:
        finish.set()
        other.join(60)
    assert other.exitcode == 0
    assert not board.others_running()
    board.close()


def test_a_slot_left_set_by_a_server_that_died_is_cleared_when_its_instance_starts(tmp_path):
    (tmp_path / "fashion-search-old.board").write_bytes(b"\x01\x01")
    board = InstanceBoard("old", 2, 1, tmp_path)
    assert board.others_running()  # slot 0 has not started yet
    assert (tmp_path / "fashion-search-old.board").read_bytes() == b"\x01\x00"
    board.close()


def test_closing_removes_the_board_once(tmp_path):
    boards = [InstanceBoard("gone", 2, slot, tmp_path) for slot in (0, 1)]
    assert [p.name for p in tmp_path.iterdir()] == ["fashion-search-gone.board"]
    for board in boards:
        board.close()
    assert list(tmp_path.iterdir()) == []


def test_the_board_is_keyed_by_the_server_process_and_the_model(tmp_path, monkeypatch):
    monkeypatch.setattr("fashion_search.serving.instance_board.board_folder", lambda: tmp_path)
    board = InstanceBoard.for_triton_instance(
        {"model_name": "decode_embed", "model_instance_name": "decode_embed_0_1"}, 2)
    assert board.path == tmp_path / f"fashion-search-{os.getppid()}-decode_embed.board"
    assert board.slot == 1
    board.close()


def _dead_pid() -> int:
    process = multiprocessing.get_context("spawn").Process(target=int)
    process.start()
    process.join()
    return process.pid


def test_boards_of_killed_servers_are_removed_when_an_instance_starts(tmp_path, monkeypatch):
    monkeypatch.setattr("fashion_search.serving.instance_board.board_folder", lambda: tmp_path)
    dead = [tmp_path / f"fashion-search-{_dead_pid()}-{model}.board"
            for model in ("decode_embed", "embedder")]
    running = tmp_path / f"fashion-search-{os.getpid()}-decode_embed.board"
    other = tmp_path / "fashion-search-notes.board"
    for path in (*dead, running, other):
        path.write_bytes(b"\x01\x00")
    board = InstanceBoard.for_triton_instance(
        {"model_name": "decode_embed", "model_instance_name": "decode_embed_0_0"}, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, other.name, board.path.name])
    assert remove_stale_boards(tmp_path) == []
    board.close()


@pytest.mark.parametrize(("name", "slot"), [("decode_embed_0_1", 1), ("decode_embed_0_0", 0),
                                            ("embedder_0", 0), ("embedder", 0)])
def test_the_slot_is_the_instance_index_in_tritons_name(name, slot):
    assert instance_slot(name) == slot


def test_a_board_that_cannot_be_shared_leaves_the_instance_serving_alone(tmp_path, caplog):
    missing = tmp_path / "no-such-folder"
    with caplog.at_level("WARNING", logger="fashion_search.serving.instance_board"):
        board = InstanceBoard("nowhere", 2, 0, missing)
    assert "will use every core" in caplog.text and str(missing) in caplog.text
    with board.running():
        assert not board.others_running()
    board.close()
    assert not missing.exists()


def test_a_slot_outside_the_board_is_refused(tmp_path):
    with pytest.raises(ValueError, match="slot 2 is outside a board of 2"):
        InstanceBoard("small", 2, 2, tmp_path)


@pytest.mark.parametrize(("cores", "instances", "shares"),
                         [(2, 2, (2, 1)), (16, 2, (16, 8)), (2, 3, (2, 1)), (4, 1, (4, 4)),
                          (1, 2, (1, 1))])
def test_a_busy_neighbour_halves_the_threads_but_never_to_none(cores, instances, shares):
    assert thread_shares(cores, instances) == shares
