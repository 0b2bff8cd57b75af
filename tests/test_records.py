import json

import pytest

from mmdl_lib.book.results import render_results
from mmdl_lib.errors import RunRecordError
from mmdl_lib.records import Run, latest_records, read_record


def test_record_holds_provenance(tmp_path):
    run = Run.start("clip_kd", "smoke", 7, root=tmp_path)
    path = run.record({"recall": {"t2i@5": 0.5}}, config={"epochs": 2})
    record = read_record(path)
    assert record["seed"] == 7 and record["profile"] == "smoke" and record["metrics"]["recall"]["t2i@5"] == 0.5
    env = record["environment"]
    assert "torch" in env["packages"] and "cpu" in env["hardware"] and "python" in env
    assert not list(path.parent.glob("*.tmp"))  # written atomically


def test_results_chapter_is_generated_from_records(tmp_path):
    Run.start("talk2car", "smoke", 0, root=tmp_path).record({"val_ap50": 0.61})
    text = render_results(latest_records(tmp_path))
    assert "Talk2Car" in text and "0.61" in text and "Profile **smoke**" in text


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
