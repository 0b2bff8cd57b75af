"""scripts/colab_bootstrap.sh: what it would run on Colab, shown by its dry run (nothing is installed)."""

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "colab_bootstrap.sh"


def _dry_run(prefix: Path, *args: str, path: str = "/usr/bin:/bin", **env: str) -> tuple[list[str], str]:
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True, timeout=60,
                         env={"PATH": path, "MMDL_CONDA_PREFIX": str(prefix), **env})
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.startswith("+ ")], out.stdout


def test_a_fresh_runtime_gets_miniforge_then_an_environment_with_the_kernels_python(tmp_path):
    prefix = tmp_path / "miniforge3"
    commands, text = _dry_run(prefix, "--kernel-python", "3.12")
    generated = ROOT / ".colab_environment.yml"
    assert commands[0] == f"+ cat > {generated} <<'YML'   # environment.yml with python=3.12"
    assert ">   - python=3.12" in text and "<   - python=3.11" in text
    assert commands[1].startswith("+ curl -fsSL -o /tmp/miniforge.sh https://")
    assert commands[2] == f"+ bash /tmp/miniforge.sh -b -p {prefix}"  # non-interactive
    assert commands[3] == f"+ {prefix}/bin/conda env create -n mmdl -f {generated}   # python=3.12"
    assert "-m ipykernel install --user --name mmdl" in commands[4]
    assert "# Python 3.12, the kernel's: 3.12" in commands[5]
    assert commands[6].endswith(f"> {ROOT / '.colab_site_packages'}   # the running kernel (Python 3.12) "
                                "imports from the 'mmdl' environment")
    assert not prefix.exists() and not generated.exists() and not (ROOT / ".colab_site_packages").exists()


def test_a_kernel_python_the_stack_cannot_resolve_falls_back_to_mmdl_run(tmp_path):
    commands, text = _dry_run(tmp_path / "miniforge3", "--kernel-python", "3.13")
    assert "does not resolve on Python 3.13" in text
    assert any(c.endswith("-f " + str(ROOT / ".colab_environment.yml") + "   # python=3.11") for c in commands)
    assert "cannot import from it" in commands[-1] and "bin/mmdl run 03" in text


def test_a_driver_older_than_cuda_13_gets_torchs_cu128_build(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text('#!/bin/sh\necho "| Driver Version: 570.1  CUDA Version: 12.8"\n')
    (fake / "nvidia-smi").chmod(0o755)
    _, text = _dry_run(tmp_path / "miniforge3", "--kernel-python", "3.12", path=f"{fake}:/usr/bin:/bin")
    assert "CUDA 12.8 (< 13): torch from https://download.pytorch.org/whl/cu128" in text
    assert ">       - --extra-index-url https://download.pytorch.org/whl/cu128" in text
    _, text = _dry_run(tmp_path / "miniforge3", "--kernel-python", "3.12", MMDL_TORCH_INDEX="https://example.org/idx")
    assert "MMDL_TORCH_INDEX=https://example.org/idx" in text and "--extra-index-url https://example.org/idx" in text
    _, text = _dry_run(tmp_path / "miniforge3", "--kernel-python", "3.12")  # no driver: PyPI's wheel
    assert "torch from PyPI" in text and "extra-index-url" not in text


def _installed(prefix: Path, env_python: str | None = None) -> Path:
    """A Miniforge at ``prefix`` with an ``mmdl`` environment (whose Python says ``env_python``)."""
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "conda").write_text("#!/bin/sh\n")
    (prefix / "bin" / "conda").chmod(0o755)
    (prefix / "envs" / "mmdl" / "bin").mkdir(parents=True)
    if env_python:
        (prefix / "envs" / "mmdl" / "bin" / "python").write_text(f"#!/bin/sh\necho {env_python}\n")
        (prefix / "envs" / "mmdl" / "bin" / "python").chmod(0o755)
    return prefix


def test_a_second_run_updates_the_existing_environment(tmp_path):
    prefix = _installed(tmp_path / "miniforge3")
    commands, _ = _dry_run(prefix)
    assert not any("curl" in c for c in commands)
    assert commands[1] == f"+ {prefix}/bin/conda env update -n mmdl -f {ROOT / '.colab_environment.yml'}"


def test_an_environment_with_another_python_is_made_again(tmp_path):
    prefix = _installed(tmp_path / "miniforge3", env_python="3.11")
    commands, text = _dry_run(prefix, "--kernel-python", "3.12")
    assert "has Python 3.11, the kernel 3.12: making it again" in text
    assert commands[1] == f"+ {prefix}/bin/conda env remove -y -n mmdl"
    assert commands[2].endswith("env create -n mmdl -f " + str(ROOT / ".colab_environment.yml") + "   # python=3.12")
    commands, _ = _dry_run(prefix, "--kernel-python", "3.11")
    assert commands[1] == f"+ {prefix}/bin/conda env update -n mmdl -f {ROOT / '.colab_environment.yml'}"


def test_the_gpu_environment_is_the_book_stack_pinned_by_constraints():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    (pip,) = [entry["pip"] for entry in spec["dependencies"] if isinstance(entry, dict)]
    assert "python=3.11" in spec["dependencies"] and "-c constraints.txt" in pip
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line.startswith(("torch==", "torchvision==")))
    assert f"torch=={pins['torch']}" in pip and f"torchvision=={pins['torchvision']}" in pip
    assert "-e .[book,vlm,dev,openmmlab,openmmlab-cuda]" in pip
    # no compiled mmcv, no OpenMMLab wheel index, not the CPU spconv (both builds install `spconv`)
    assert not any("mmcv==" in p or "find-links" in p or "openmmlab-cpu" in p or "cu121" in p for p in pip)


def test_unknown_arguments_are_refused():
    out = subprocess.run(["bash", str(SCRIPT), "--dryrun"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown argument --dryrun" in out.stderr
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--kernel-python", "3"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "takes X.Y" in out.stderr
