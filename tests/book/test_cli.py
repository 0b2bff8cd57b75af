"""The mmdl command line: clear errors, a failing chapter exits non-zero and shows its cell."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mmdl_lib.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _mmdl(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "mmdl_lib.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def _project(tmp_path, cells):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_config.yml").write_text("title: demo\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "smoke"\nvalue = 1', metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "90_demo.ipynb")
    return tmp_path


def test_env_prints_versions_device_and_git():
    out = _mmdl("env")
    assert out.returncode == 0
    assert "torch" in out.stdout and "device:" in out.stdout and "git" in out.stdout


def test_unknown_notebook_parameter_and_profile(capsys):
    assert main(["run", "99_nothing"]) == 1
    assert "unknown notebook '99_nothing'" in capsys.readouterr().err
    assert main(["run", "00", "-p", "no_such_param", "1"]) == 1
    assert "unknown parameter(s) ['no_such_param']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "00", "--profile", "turbo"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'turbo'" in capsys.readouterr().err
    assert main(["run", "00", "--profile", "smoke", "--rehearse"]) == 1
    assert "--rehearse rehearses the full profile" in capsys.readouterr().err


def test_failing_notebook_exits_non_zero_and_points_at_the_cell(tmp_path):
    project = _project(tmp_path, ["x = value + 1", "raise ValueError(f'broken chapter {x}')"])
    out = _mmdl("run", "90", cwd=project)
    assert out.returncode != 0
    assert "failed in cell" in out.stderr and "ValueError: broken chapter 2" in out.stderr
    partial = project / "build" / "executed" / "90_demo.ipynb"
    assert str(partial) in out.stderr and partial.is_file()
    assert not partial.with_suffix(".stamp.json").exists()


def test_parameters_override_and_run_is_skipped_when_unchanged(tmp_path):
    from mmdl_lib.book.notebooks import execute, resolve_notebook

    project = _project(tmp_path, ["print('value is', value)"])
    out = _mmdl("run", "90", "-p", "value", "41", cwd=project)
    assert out.returncode == 0, out.stderr
    executed = nbformat.read(project / "build" / "executed" / "90_demo.ipynb", as_version=4)
    assert "value is 41" in executed.cells[-1].outputs[0]["text"]
    notebook = resolve_notebook("90", project)
    assert execute(notebook, {"value": 41}, root=project, force=False).skipped
    assert not execute(notebook, {"value": 42}, root=project, force=False).skipped


def test_values_are_parsed_as_typed_and_wrong_types_are_refused_before_a_kernel_starts(capsys, monkeypatch):
    import papermill

    from mmdl_lib import cli

    assert [cli.parse_value(v) for v in ("1e-3", "3", "-2", "null", "false", "transformer", "[1, 2]")] == \
        [0.001, 3, -2, None, False, "transformer", [1, 2]]

    def no_kernel(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    assert main(["run", "02", "-p", "epochs", "3.5"]) == 1
    assert "parameter 'epochs' of Talk2CarConfig expects <class 'int'>, got 3.5" in capsys.readouterr().err
    assert main(["run", "02", "-p", "mode", "2"]) == 1
    assert "'mode' of Talk2CarConfig expects one of ['all', 'train', 'test'], got 2" in capsys.readouterr().err
