"""Every chapter is a py:percent script paired with an output-free .ipynb, and follows the conventions."""

import ast
import json
from pathlib import Path

import jupytext
import pytest

from mmdl_lib.book.notebooks import notebook_parameters, toc_notebooks

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "notebooks").glob("*.py"))


def test_every_notebook_is_paired_and_registered():
    assert SCRIPTS
    ipynbs = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert [p.stem for p in ipynbs] == [p.stem for p in SCRIPTS]
    assert toc_notebooks(ROOT) == [p.stem for p in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_pair_in_sync_and_without_outputs(script):
    nb = json.loads(script.with_suffix(".ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "stored with outputs"
    paired = [c.source.strip() for c in jupytext.read(script).cells]
    assert paired == ["".join(c["source"]).strip() for c in nb["cells"]], "run `jupytext --sync` on the pair"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_parameters_then_colab_bootstrap_then_environment(script):
    cells = jupytext.read(script).cells
    code = [c for c in cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first cell must be tagged 'parameters'"
    assert 'profile = "smoke"' in code[0].source
    bootstrap = code[1].source
    assert 'if "google.colab" in sys.modules:' in bootstrap
    before_guard = bootstrap.split('if "google.colab"')[0]
    assert "pip" not in before_guard and "subprocess.run" not in before_guard, "bootstrap must do nothing outside Colab"
    assert "environment_report()" in code[2].source
    assert "profile" in notebook_parameters(script.with_suffix(".ipynb"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_the_page_opens_with_the_title_and_hides_the_set_up(script):
    """On the site a chapter opens with its title and motivation: the parameters and the Colab
    bootstrap are removed from the page (still runnable in the notebook), the environment report
    follows the title with its code hidden."""
    cells = jupytext.read(script).cells
    code = [c for c in cells if c.cell_type == "code"]
    for cell in code[:2]:
        assert "remove-cell" in cell.metadata.get("tags", []), f"tag the set-up cell 'remove-cell':\n{cell.source[:80]}"
    shown = [c for c in cells if "remove-cell" not in c.metadata.get("tags", [])]
    assert shown[0].cell_type == "markdown" and shown[0].source.startswith("# "), "the page must open with the title"
    assert shown[1] is code[2] and "hide-input" in code[2].metadata.get("tags", []), \
        "the environment report follows the title, its code hidden"


def test_the_colab_bootstrap_cell_is_the_same_in_every_chapter_and_calls_the_script():
    cells = {[c for c in jupytext.read(script).cells if c.cell_type == "code"][1].source for script in SCRIPTS}
    assert len(cells) == 1, "copy the bootstrap cell of an existing chapter"
    assert "scripts/colab_bootstrap.sh" in cells.pop()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_no_model_loss_or_metric_defined_in_a_notebook(script):
    for cell in jupytext.read(script).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse("\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!"))))
        defined = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defined, f"define {defined} in mmdl_lib, not in the notebook"
