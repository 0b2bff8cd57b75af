"""Stage-level guards: configs refuse what cannot work, and chapter 02 explains a missing chapter 01."""

import pytest

from mmdl_lib.book import upstream
from mmdl_lib.errors import ConfigError, MMDLError
from mmdl_lib.stages import clip_kd, talk2car


def test_profiles_differ_in_names_and_sizes_only():
    smoke, full = clip_kd.ClipKDConfig.from_profile("smoke"), clip_kd.ClipKDConfig.from_profile("full")
    assert smoke.teacher_pretrained is None and smoke.teacher_epochs > 0
    assert (full.teacher_name, full.teacher_pretrained, full.backbone) == ("ViT-B-16", "laion2b_s34b_b88k",
                                                                           "convnext_tiny")


def test_an_untrained_teacher_is_refused():
    cfg = clip_kd.ClipKDConfig.from_profile("smoke", teacher_epochs=0)
    with pytest.raises(ConfigError, match="distil noise"):
        clip_kd.get_teacher(cfg, None, None, None)


@pytest.mark.parametrize("kwargs, message", [({"mode": "2"}, "'mode'.*one of"), ({"text_encoder": "bert"}, "text_encoder"),
                                             ({"encoder_variant": "tiny"}, "encoder_variant")])
def test_talk2car_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        talk2car.Talk2CarConfig.from_profile("smoke", **kwargs)


def test_training_without_a_chapter_01_run_says_what_to_do(isolated_home):
    cfg = talk2car.Talk2CarConfig.from_profile("smoke", mode="train")
    with pytest.raises(MMDLError, match="run chapter 01"):
        upstream.find_or_train_distilled(cfg)
    with pytest.raises(MMDLError, match="mode 'test' needs a trained grounding model"):
        upstream.latest_grounding(talk2car.Talk2CarConfig.from_profile("smoke", mode="test"))


def test_full_profile_without_coco_names_the_missing_file(isolated_home):
    with pytest.raises(MMDLError, match="instances_train2017.json.*COCO 2017 not found"):
        clip_kd.resolve_coco_root(clip_kd.ClipKDConfig.from_profile("full"))



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
    cfg = talk2car.Talk2CarConfig.from_profile("smoke", seed=3)
    folder = upstream.find_or_train_distilled(cfg, chapter01_output=tmp_path / "chapter01.ipynb")
    assert calls == [("01_clip_kd.ipynb", {"profile": "smoke", "seed": 3, "ablation": False,
                                           "multiscale_variant": True}, tmp_path / "chapter01.ipynb")]
    assert folder.name == "student_multiscale" and folder.parent.parent.name == "clip_kd"
    assert upstream.find_or_train_distilled(cfg) == folder and len(calls) == 1  # the run is found next time
