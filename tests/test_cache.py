"""Cache entries are complete or absent: an interrupted build is never trusted, and resumes."""

import pytest

from mmdl_lib.cache import cache_key, cached_folder


def test_an_entry_is_built_once_and_reused(isolated_home):
    calls = []

    def build(folder):
        calls.append(folder.name)
        (folder / "weights.bin").write_text("w")

    first, built = cached_folder("demo", cache_key({"a": 1}), build)
    again, built_again = cached_folder("demo", cache_key({"a": 1}), build)
    assert (built, built_again, first, len(calls)) == (True, False, again, 1)
    assert (first / "weights.bin").read_text() == "w" and not calls[0] == first.name  # built under another name
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_an_interrupted_build_leaves_no_entry_and_the_next_build_resumes(isolated_home):
    key = cache_key({"teacher": "tiny"})

    def interrupted(folder):
        (folder / "checkpoint").write_text("epoch 3")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_folder("demo", key, interrupted)
    seen = []
    folder, built = cached_folder("demo", key, lambda f: seen.append((f / "checkpoint").read_text()))
    assert built and seen == ["epoch 3"] and folder.name == key


def test_a_complete_entry_drops_the_checkpoints_its_build_resumed_from(isolated_home):
    def build(folder):
        (folder / "checkpoints" / "epoch_0001").mkdir(parents=True)
        (folder / "checkpoints" / "epoch_0001" / "optimizer.pt").write_text("moments")
        (folder / "teacher.safetensors").write_text("w")

    folder, built = cached_folder("demo", cache_key({"teacher": "done"}), build)
    assert built and (folder / "teacher.safetensors").read_text() == "w"
    assert not (folder / "checkpoints").exists()
