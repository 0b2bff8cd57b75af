"""The door between chapters (mmdl_lib.book.artefacts): chapter 02 finds chapter 01's newest run, runs
chapter 01's own notebook when there is none, and explains what is missing otherwise."""

import pytest

from mmdl_lib.book import artefacts
from mmdl_lib.chapters.talk2car import Talk2CarConfig
from mmdl_lib.errors import MMDLError


def test_training_without_a_chapter_01_run_says_what_to_do(isolated_home):
    cfg = Talk2CarConfig.from_profile("smoke", mode="train")
    with pytest.raises(MMDLError, match="run chapter 01"):
        artefacts.find_or_train_distilled(cfg)
    with pytest.raises(MMDLError, match="mode 'test' needs a trained grounding model"):
        artefacts.latest_grounding(Talk2CarConfig.from_profile("smoke", mode="test"))


def test_mode_all_without_a_chapter_01_run_executes_chapter_01s_notebook(isolated_home, monkeypatch, tmp_path):
    """One orchestrator per chapter: chapter 02 runs chapter 01's own notebook, not a copy of its pipeline."""
    from mmdl_lib.book import notebooks
    from mmdl_lib.records import Run

    calls = []

    def fake_execute(notebook, parameters, output=None, **_):
        notebooks.check_parameters(notebook, parameters)  # the names must be chapter 01's parameters
        calls.append((notebook.name, parameters, output))
        run = Run.start("clip_kd", parameters["profile"], parameters["seed"])
        (run.folder / "student_multiscale").mkdir()
        (run.folder / "student_multiscale" / "student_config.json").write_text("{}")
        run.record({})

    monkeypatch.setattr(notebooks, "execute", fake_execute)
    cfg = Talk2CarConfig.from_profile("smoke", seed=3)
    folder = artefacts.find_or_train_distilled(cfg, chapter01_output=tmp_path / "chapter01.ipynb")
    assert calls == [("01_clip_kd.ipynb", {"profile": "smoke", "seed": 3, "ablation": False,
                                           "multiscale_variant": True}, tmp_path / "chapter01.ipynb")]
    assert folder.name == "student_multiscale" and folder.parent.parent.name == "clip_kd"
    assert artefacts.find_or_train_distilled(cfg) == folder and len(calls) == 1  # the run is found next time
