from pathlib import Path

from mmdl_lib.paths import display_path


def test_pages_show_paths_relative_to_the_book_or_its_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("MMDL_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("MMDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MMDL_DATA", str(tmp_path / "data"))
    assert display_path(tmp_path / "results" / "clip_kd" / "run" / "record.json") == "$MMDL_RESULTS/clip_kd/run/record.json"
    assert display_path(tmp_path / "cache" / "teacher") == "$MMDL_CACHE/teacher"
    assert display_path(tmp_path / "data" / "synthetic" / "coco") == "$MMDL_DATA/synthetic/coco"
    assert display_path(Path.home() / "elsewhere" / "x.txt") == "~/elsewhere/x.txt"
    assert display_path("/opt/somewhere/weights.bin") == "weights.bin"
