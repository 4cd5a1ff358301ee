"""Every known failure reaches a shell user as one line that says what to do."""

import pytest

from fashion_search.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHION_SEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASHION_SEARCH_MODEL_REPOSITORY", raising=False)
    return tmp_path / "home"


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line[:2].isdigit()]  # log lines start hh:
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["export", "--checkpoint", str(bad)]) == 2
    assert "model.pt: not a readable fashion-search checkpoint" in one_line_error(capsys)


def test_a_missing_checkpoint(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "no such checkpoint; train one with `fashion-search train`" in one_line_error(capsys)


def test_a_checkpoint_and_untuned_together(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "m.pt"), "--untuned"]) == 2
    assert "not both" in one_line_error(capsys)


def test_building_into_the_templates_is_refused_before_any_work(monkeypatch, home, capsys):
    from fashion_search.config import PROJECT_ROOT

    monkeypatch.setenv("FASHION_SEARCH_MODEL_REPOSITORY", str(PROJECT_ROOT / "triton_models"))
    assert main(["export"]) == 2
    assert "must not be the templates folder" in one_line_error(capsys)
    assert not (home / "export").exists()


def test_a_photo_that_does_not_exist(tmp_path, capsys):
    assert main(["search", str(tmp_path / "missing.jpg")]) == 2
    assert "missing.jpg: no such photo" in one_line_error(capsys)


def test_a_folder_given_as_the_photo(tmp_path, capsys):
    assert main(["search", str(tmp_path)]) == 2
    assert "a folder; give the path of one JPEG, PNG or WebP photo" in one_line_error(capsys)


def test_parity_photos_that_do_not_exist_before_any_export(tmp_path, capsys, monkeypatch):
    from fashion_search.export import run

    monkeypatch.setattr(run, "export", lambda **kwargs: pytest.fail("exported anyway"))
    assert main(["export", "--parity-photos", str(tmp_path / "gone.jpg")]) == 2
    assert "gone.jpg: no such photo or folder for --parity-photos" in one_line_error(capsys)


def test_a_catalogue_that_does_not_exist(tmp_path, capsys):
    assert main(["index", "--no-serve", "--catalog", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such catalogue folder or CSV file" in one_line_error(capsys)


def test_an_unknown_backbone(capsys):
    assert main(["export", "--backbone", "vgg99"]) == 2
    assert "unknown backbone 'vgg99'" in one_line_error(capsys)


def test_resume_without_a_run(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--resume"]) == 2
    assert one_line_error(capsys) == (f"error: {tmp_path / 'last.pt'}: nothing to resume; "
                                      "start without --resume")


def test_an_unknown_precision_before_any_work(monkeypatch, home, capsys):
    monkeypatch.setenv("FASHION_SEARCH_PRECISION", "fp16")
    assert main(["export", "--untuned"]) == 2
    assert "FASHION_SEARCH_PRECISION is 'fp16'; use one of float32, int8" in one_line_error(capsys)
    assert not home.exists()


@pytest.mark.parametrize("suite", ["throughput", "soak"])
def test_a_bench_photo_folder_that_does_not_exist_or_holds_no_photos(tmp_path, capsys, suite):
    assert main(["bench", "--suite", suite, "--photos", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder; give --photos a folder" in one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["bench", "--suite", suite, "--photos", str(tmp_path / "empty")]) == 2
    assert "empty: no photos in it" in one_line_error(capsys)


def test_a_server_that_dies_while_serving_is_an_error_with_its_log(monkeypatch, capsys):
    import subprocess
    import sys

    from fashion_search.export import run
    from fashion_search.serving import serve

    class DyingServer(serve.TritonServer):
        """The real watch and report, on a process that exits as a crashed server would."""

        def start(self) -> "DyingServer":
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text("Segmentation fault in the python backend\n")
            self.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(139)"],
                                            start_new_session=True)
            return self

    monkeypatch.setattr(run, "ensure_model", lambda **kwargs: "stand-in model")
    monkeypatch.setattr(serve, "TritonServer", DyingServer)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error: tritonserver (pid " in err and ") exited with code 139;" in err
    assert err.rstrip().endswith("Segmentation fault in the python backend")
