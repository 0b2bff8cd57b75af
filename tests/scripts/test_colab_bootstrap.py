"""scripts/colab_bootstrap.sh: what it would run on Colab, shown by its dry run (nothing is installed)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "colab_bootstrap.sh"


def _dry_run(prefix: Path, *args: str) -> list[str]:
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "MMDL_CONDA_PREFIX": str(prefix)})
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.startswith("+ ")]


def test_a_fresh_runtime_gets_miniforge_then_the_environment_then_a_kernel(tmp_path):
    commands = _dry_run(tmp_path / "miniforge3", "--kernel-python", "3.11")
    assert commands[0].startswith("+ curl -fsSL -o /tmp/miniforge.sh https://")
    assert commands[1] == f"+ bash /tmp/miniforge.sh -b -p {tmp_path / 'miniforge3'}"  # non-interactive
    assert commands[2] == f"+ {tmp_path / 'miniforge3'}/bin/conda env create -n mmdl -f {ROOT / 'environment.yml'}"
    assert "-m ipykernel install --user --name mmdl" in commands[3]
    assert "compared with the kernel's Python 3.11" in commands[4]
    assert not (tmp_path / "miniforge3").exists() and not (ROOT / ".colab_site_packages").exists()


def test_a_second_run_updates_the_existing_environment(tmp_path):
    prefix = tmp_path / "miniforge3"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "conda").write_text("#!/bin/sh\n")
    (prefix / "bin" / "conda").chmod(0o755)
    (prefix / "envs" / "mmdl").mkdir(parents=True)
    commands = _dry_run(prefix)
    assert not any("curl" in c for c in commands)
    assert commands[0] == f"+ {prefix}/bin/conda env update -n mmdl -f {ROOT / 'environment.yml'}"


def test_the_gpu_environment_pins_torch_cuda_and_a_compiled_mmcv_together():
    text = (ROOT / "environment.yml").read_text()
    for pin in ("torch==2.1.2", "mmcv==2.1.0", "cu121/torch2.1/index.html", "python=3.11", "-e .[book,vlm,dev,openmmlab]"):
        assert pin in text, pin
    packages = [line.strip() for line in text.splitlines() if line.strip().startswith("- ")]
    assert not any("mmcv-lite" in p or "openmmlab-cpu" in p for p in packages)  # both would install `mmcv`


def test_unknown_arguments_are_refused():
    out = subprocess.run(["bash", str(SCRIPT), "--dryrun"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown argument --dryrun" in out.stderr
