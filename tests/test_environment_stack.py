"""One stack on CPU, GPU and Colab (#36): environment.yml resolves to constraints.txt's versions on
Python 3.10, 3.11 and 3.12, and no installed package's torch requirement excludes the pinned torch.

The resolution asks the package registry (PyPI), as CI can: ``pip install --dry-run --report`` over
environment.yml's pip section, wheels only, for each Python, in parallel (about a minute). pip
evaluates environment markers for the *running* interpreter even with ``--python-version``, so pip
runs here with its marker environment set to the target Python (``_PIP_FOR_PYTHON``); the machine's
own pip configuration (a global constraint file, local wheel folders) is switched off so that only
the registry and the book's files decide.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.10", "3.11", "3.12")  # Colab's kernels of 2026 (3.13: numpy 1.26 has no wheel, README)
# a recent patch release of each (conda-forge installs the latest): some wheels need e.g. Python >= 3.11.5
PATCH_RELEASE = {"3.10": "3.10.19", "3.11": "3.11.14", "3.12": "3.12.12"}

_PIP_FOR_PYTHON = """
import sys
from pip._vendor.packaging import markers
full = sys.argv.pop(1)
_default = markers.default_environment
def default_environment():
    env = _default()
    env.update(python_version=".".join(full.split(".")[:2]), python_full_version=full, implementation_version=full)
    return env
markers.default_environment = default_environment
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def marker_environment(python: str) -> dict[str, str]:
    full = PATCH_RELEASE.get(python, python + ".0")
    return {**default_environment(), "python_version": python, "python_full_version": full,
            "implementation_version": full}


def constraint_pins(python: str, path: Path = ROOT / "constraints.txt") -> dict[str, Version]:
    """constraints.txt's ``name==version`` pins whose markers hold on ``python`` (normalised names)."""
    pins: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(marker_environment(python)):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", line
        name = canonicalize_name(req.name)
        assert name not in pins, f"constraints.txt pins {req.name} twice for Python {python}"
        pins[name] = Version(spec.version)
    return pins


def environment_pip_section() -> list[str]:
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    (pip,) = [entry["pip"] for entry in spec["dependencies"] if isinstance(entry, dict)]
    return pip


def project_requirements(extras: list[str]) -> list[str]:
    """What ``-e .[extras]`` asks for, from pyproject.toml (no build: the resolve takes wheels only)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return requirements


def pip_arguments(folder: Path, python: str) -> list[str]:
    """environment.yml's pip section as a requirements file (``-e .[x]`` → the project's requirements,
    ``-c constraints.txt`` → its pins for ``python``, markers evaluated)."""
    lines: list[str] = []
    for entry in environment_pip_section():
        if entry.startswith("-c "):
            constraints = folder / f"constraints-{python}.txt"
            pins = constraint_pins(python, ROOT / entry[3:].strip())
            constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
            lines.append(f"-c {constraints}")
        elif entry.startswith("-e "):
            match = re.fullmatch(r"-e \.\[(.*)\]", entry.strip())
            assert match, f"environment.yml: expected '-e .[extras]', got {entry!r}"
            lines += project_requirements([extra.strip() for extra in match[1].split(",")])
        else:
            lines.append(entry)
    requirements = folder / f"requirements-{python}.txt"
    requirements.write_text("\n".join(lines) + "\n")
    return ["-r", str(requirements)]


def pip_environment() -> dict[str, str]:
    """This process's environment without pip's configuration (files, PIP_CONSTRAINT, find-links):
    the registry alone answers. The index (PIP_INDEX_URL), certificates and timeouts stay."""
    keep = {"PIP_INDEX_URL", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in keep}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def resolve(folder: Path, python: str) -> dict[str, Version]:
    """``{name: version}`` pip would install for environment.yml's pip section on CPython ``python``."""
    report = folder / f"report-{python}.json"
    full = PATCH_RELEASE[python]
    command = [sys.executable, "-c", _PIP_FOR_PYTHON, full, "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--python-version", full, "--implementation", "cp", "--report", str(report),
               "--progress-bar", "off", *pip_arguments(folder, python)]
    out = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                         env=pip_environment())
    if out.returncode != 0:
        unreachable = any(s in out.stdout for s in ("NewConnectionError", "Max retries exceeded", "Temporary failure"))
        # pip explains a conflict ("The conflict is caused by: ...") just before its final error
        pytest.fail(("pip cannot reach the package registry, which this test needs (CI has it):\n" if unreachable
                     else f"environment.yml does not resolve on Python {full}:\n") + out.stdout[-4000:])
    installs = json.loads(report.read_text())["install"]
    return {canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"]) for item in installs}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict[str, dict[str, Version]]:
    folder = tmp_path_factory.mktemp("resolve")
    with ThreadPoolExecutor(len(PYTHONS)) as pool:
        return dict(zip(PYTHONS, pool.map(lambda python: resolve(folder, python), PYTHONS)))


@pytest.mark.network
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("python", PYTHONS)
def test_environment_yml_resolves_to_the_pinned_stack(resolved, python):
    got, pins = resolved[python], constraint_pins(python)
    differing = {name: f"{version} (pinned {pins[name]})" for name, version in got.items()
                 if name in pins and version != pins[name]}
    assert not differing, f"Python {python}: resolved off constraints.txt's pins: {differing}"
    unpinned = sorted(f"{name}=={version}" for name, version in got.items() if name not in pins)
    assert not unpinned, f"Python {python}: resolved but not pinned in constraints.txt: {unpinned}"
    for name in ("torch", "torchvision", "transformers", "sentence-transformers", "bitsandbytes", "numpy",
                 "mmcv-lite", "mmengine", "mmdet", "mmdet3d", "mmsegmentation", "spconv-cu126", "cumm-cu126"):
        assert name in got and name in pins, f"Python {python}: {name} not resolved or not pinned"
    assert got["torch"] == Version("2.14.1")
    # one spconv (both builds install the module `spconv`) and no compiled mmcv (both install `mmcv`)
    assert "spconv" not in got and "cumm" not in got and "mmcv" not in got


def test_constraints_pin_the_torch_that_environment_yml_and_install_sh_install():
    pip, install_sh = environment_pip_section(), (ROOT / "scripts" / "install.sh").read_text()
    pins = constraint_pins("3.11")
    for name in ("torch", "torchvision"):
        assert f"{name}=={pins[name]}" in pip and f"{name}=={pins[name]}" in install_sh, name
    assert "-c constraints.txt" in pip
    assert not any(re.match(r"mmcv\s*==", entry) or "find-links" in entry for entry in pip)


def test_every_python_gets_one_version_of_every_pin():
    """A pin split by markers (constraints.txt's header) covers each Python exactly once."""
    names = {canonicalize_name(Requirement(line).name) for line in (ROOT / "constraints.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    for python in PYTHONS:
        missing = names - set(constraint_pins(python)) - {"lazy-importer"}  # needed by importlib_metadata ≥ 10 only
        assert not missing, (python, missing)


def _torch_requirements(dist: md.Distribution) -> list[Requirement]:
    """``dist``'s requirements on torch whose markers hold here, under any of its extras."""
    extras = [""] + (dist.metadata.get_all("Provides-Extra") or [])
    found = []
    for line in dist.requires or []:
        req = Requirement(line)
        if canonicalize_name(req.name) != "torch":
            continue
        if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in extras):
            found.append(req)
    return found


def test_no_installed_package_excludes_the_installed_torch():
    torch_version = Version(md.version("torch")).base_version  # 2.14.1+cu128 → 2.14.1
    assert torch_version == str(constraint_pins(f"{sys.version_info[0]}.{sys.version_info[1]}")["torch"])
    excluding = sorted({f"{dist.metadata['Name']} {dist.version}: {req}" for dist in md.distributions()
                        for req in _torch_requirements(dist)
                        if not req.specifier.contains(torch_version, prereleases=True)})
    assert not excluding, excluding


def test_transformers_runtime_floor_admits_the_pinned_torch():
    """transformers checks torch's version again at import time (``is_torch_available``: below its floor
    it disables PyTorch, and every torch model with it): that floor must admit the pinned torch."""
    import inspect

    from transformers.utils import import_utils, is_torch_available

    source = inspect.getsource(inspect.unwrap(import_utils.is_torch_available))
    floors = [Version(v) for v in re.findall(r'version\.parse\("([\d.]+)"\)', source)]
    assert floors, "transformers' torch check has changed form: read is_torch_available again"
    assert Version(Version(md.version("torch")).base_version) >= max(floors)
    assert is_torch_available()
