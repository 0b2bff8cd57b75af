"""scripts/gpu_check.sh: its dry run lists every step it would take on a CUDA machine (no GPU needed)."""

import subprocess
import sys
from pathlib import Path

from mmdl_lib.book.chapters import chapters

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def _dry_run(*args: str) -> list[str]:
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "MMDL_PYTHON": sys.executable})
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.startswith("+ ")]


def test_every_chapter_is_smoked_and_rehearsed_on_cuda_after_the_environment_and_the_openmmlab_tests():
    steps = _dry_run("--out", "/tmp/check")
    assert steps[0].endswith("-m mmdl_lib.cli env   # env")
    assert "-m pytest tests/openmmlab" in steps[1]
    for chapter in chapters():
        n = chapter.number
        takes_device = any(line.startswith("device = ") for line in
                           (ROOT / "notebooks" / f"{chapter.stem}.py").read_text().splitlines())
        cuda = " -p device cuda" if takes_device else ""
        assert f"+ {sys.executable} -m mmdl_lib.cli run {n} --profile smoke{cuda} -o /tmp/check/{n}_smoke.ipynb" \
               f"   # {n} smoke" in steps
        assert f"+ {sys.executable} -m mmdl_lib.cli run {n} --rehearse{cuda} -o /tmp/check/{n}_rehearsal.ipynb" \
               f"   # {n} rehearsal" in steps
    assert len(steps) == 2 + 2 * len(chapters())
    # every chapter but the offline synthetic world trains or runs a network, on the device it is given
    assert sum("-p device cuda" in s for s in steps) >= 2 * (len(chapters()) - 1)


def test_chapters_and_rehearsals_can_be_chosen():
    steps = _dry_run("--chapters", "03 04", "--skip-rehearsal")
    assert [s.rsplit("# ", 1)[1] for s in steps] == ["env", "openmmlab tests", "03 smoke", "04 smoke"]


def test_unknown_arguments_are_refused():
    out = subprocess.run(["bash", str(SCRIPT), "--dryrun"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown argument --dryrun" in out.stderr
