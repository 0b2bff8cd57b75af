import json

import pytest

from mmdl_lib.book.chapters import Chapter, Headline
from mmdl_lib.book.results import render_results
from mmdl_lib.errors import DataFormatError, RunRecordError
from mmdl_lib.metrics.uncertainty import mean_difference
from mmdl_lib.records import Run, latest_records, read_record


def test_record_holds_provenance(tmp_path):
    run = Run.start("clip_kd", "smoke", 7, root=tmp_path)
    path = run.record({"recall": {"t2i@5": 0.5}}, config={"epochs": 2})
    record = read_record(path)
    assert record["seed"] == 7 and record["profile"] == "smoke" and record["metrics"]["recall"]["t2i@5"] == 0.5
    env = record["environment"]
    assert "torch" in env["packages"] and "cpu" in env["hardware"] and "python" in env
    assert not list(path.parent.glob("*.tmp"))  # written atomically


def _chapter(headline: Headline) -> Chapter:
    return Chapter(stem="02_talk2car", number="02", title="Talk2Car", stage="talk2car", part="p", summary="s",
                   seed=None, datasets=(), extras=(), full_profile_accelerator="cpu", smoke_budget_minutes=1,
                   headline=headline)


def test_results_chapter_shows_the_headline_table_chart_and_record(tmp_path):
    path = Run.start("talk2car", "smoke", 0, root=tmp_path / "results").record(
        {"val": {"ours": {"ap50": 0.61, "iou": 0.5}, "centre prior": {"ap50": 0.03}}, "noise": {"deep": 1.0}})
    headline = Headline(caption="Grounding on val", rows=("val.*",), columns={"AP50": "ap50", "IoU": "iou"},
                        chart="AP50")
    page = tmp_path / "book"
    text = render_results(latest_records(tmp_path / "results"), [_chapter(headline)], page)
    assert "## 02 · Talk2Car" in text and "Profile **smoke**" in text and "**Grounding on val**" in text
    assert "| ours | 0.61 | 0.5 |" in text and "| centre prior | 0.03 | — |" in text
    assert "deep" not in text, "only the headline, not every leaf of the record"
    assert (page / "results_figures" / "talk2car.png").read_bytes()[:4] == b"\x89PNG"
    assert (page / "results_records" / "talk2car.json").read_text() == path.read_text()
    assert "{download}`Full run record (JSON) <results_records/talk2car.json>`" in text


def test_results_chapter_shows_each_comparison_with_its_interval_and_verdict(tmp_path):
    win = mean_difference([1.0] * 30, [0.0] * 15 + [1.0] * 15, ("distilled", "random"), "AP50")
    tie = mean_difference([1.0, 0.0] * 10, [0.0, 1.0] * 10, ("transformer", "projection"), "AP50")
    Run.start("talk2car", "smoke", 0, root=tmp_path / "results").record(
        {"val": {"ours": {"ap50": 0.61}}, "comparisons": {"init": win.to_dict(), "head": tie.to_dict()}})
    headline = Headline(caption="c", rows=("val.*",), columns={"AP50": "ap50"}, chart="AP50")
    page = tmp_path / "book"
    text = render_results(latest_records(tmp_path / "results"), [_chapter(headline)], page)
    assert "| distilled vs random | AP50 | 1.000 | 0.500 | +0.500 [" in text
    assert f"- {win.verdict()}" in text and win.verdict().startswith("distilled beats random on AP50")
    assert f"- {tie.verdict()}" in text and "cannot be told apart" in tie.verdict()
    assert (page / "results_figures" / "talk2car_comparisons.png").read_bytes()[:4] == b"\x89PNG"


def test_a_malformed_comparison_names_the_record_and_the_field(tmp_path):
    path = Run.start("talk2car", "smoke", 0, root=tmp_path).record(
        {"val": {"ours": {"ap50": 0.61}}, "comparisons": {"init": {"a": "distilled", "score_a": 0.6}}})
    headline = Headline(caption="c", rows=("val.*",), columns={"AP50": "ap50"}, chart="AP50")
    with pytest.raises(DataFormatError, match="metrics.comparisons") as err:
        render_results(latest_records(tmp_path), [_chapter(headline)], tmp_path / "book")
    assert str(path) in str(err.value)


def test_a_headline_that_matches_nothing_in_the_record_names_the_record(tmp_path):
    path = Run.start("talk2car", "smoke", 0, root=tmp_path).record({"val": {"ours": {"ap50": 0.61}}})
    headline = Headline(caption="c", rows=("test.*",), columns={"AP50": "ap50"}, chart="AP50")
    with pytest.raises(DataFormatError, match="none of the headline rows") as err:
        render_results(latest_records(tmp_path), [_chapter(headline)], tmp_path / "book")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content, message", [
    ("{not json", "malformed JSON"),
    (json.dumps({"stage": "x"}), "missing field 'profile'"),
    (json.dumps([1, 2]), "expected a JSON object"),
])
def test_corrupted_record_is_reported(tmp_path, content, message):
    path = tmp_path / "clip_kd" / "smoke-1" / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(RunRecordError, match=message) as err:
        read_record(path)
    assert str(path) in str(err.value)


def test_resuming_names_a_run_folder_of_the_same_stage_and_profile(tmp_path):
    import pytest

    from mmdl_lib.errors import RunRecordError
    from mmdl_lib.records import Run

    first = Run.start("clip_kd", "smoke", 0, root=tmp_path)
    again = Run.start("clip_kd", "smoke", 0, root=tmp_path, resume=first.folder)
    assert again.folder == first.folder
    for wrong in (tmp_path / "nowhere", first.folder.parent):
        with pytest.raises(RunRecordError, match="not a run folder of stage 'clip_kd'"):
            Run.start("clip_kd", "smoke", 0, resume=wrong)
    with pytest.raises(RunRecordError, match="profile 'full'"):
        Run.start("clip_kd", "full", 0, resume=first.folder)


def test_a_rehearsal_is_never_read_as_a_result(tmp_path):
    from mmdl_lib.records import latest_run_folder

    real = Run.start("clip_kd", "full", 0, root=tmp_path)
    real.record({"r": 1.0}, config={"rehearse": False})
    rehearsal = Run.start("clip_kd", "full", 0, root=tmp_path)
    path = rehearsal.record({"r": 0.0}, config={"rehearse": True})
    assert read_record(path)["rehearsal"] is True
    assert latest_records(tmp_path)["clip_kd"][1]["metrics"] == {"r": 1.0}
    assert latest_run_folder("clip_kd", "full", tmp_path) == real.folder
    assert latest_run_folder("clip_kd", "full", tmp_path, rehearsal=True) == rehearsal.folder


@pytest.mark.parametrize("rehearse", [False, True])
def test_a_rehearsal_keeps_its_record_and_drops_its_training_states(tmp_path, rehearse):
    run = Run.start("clip_kd", "full", 0, root=tmp_path)
    (run.folder / "checkpoints" / "main" / "epoch_0001").mkdir(parents=True)
    (run.folder / "student").mkdir()
    (run.folder / "student" / "student.safetensors").write_text("w")
    path = run.record({"r": 0.0}, config={"rehearse": rehearse})
    assert read_record(path)["rehearsal"] is rehearse
    assert (run.folder / "student" / "student.safetensors").is_file()  # artifacts stay
    assert (run.folder / "checkpoints").is_dir() is not rehearse  # a real run stays resumable
