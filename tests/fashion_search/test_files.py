"""Writes that crash leave the previous file or folder as it was."""

import pytest

from fashion_search.files import atomic_dir, atomic_path, write_text_atomic

pytestmark = pytest.mark.unit


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "config.json", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_a_finished_write_replaces_the_file(tmp_path):
    path = write_text_atomic(tmp_path / "a" / "b.txt", "one")
    write_text_atomic(path, "two")
    assert path.read_text() == "two"


def test_a_folder_is_swapped_whole_or_not_at_all(tmp_path):
    target = tmp_path / "repo"
    with atomic_dir(target) as staging:
        (staging / "model.txt").write_text("v1")
    with pytest.raises(RuntimeError), atomic_dir(target) as staging:
        (staging / "model.txt").write_text("v2")
        raise RuntimeError("crash")
    assert (target / "model.txt").read_text() == "v1"
    with atomic_dir(target) as staging:
        (staging / "other.txt").write_text("v3")
    assert [p.name for p in target.iterdir()] == ["other.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]
