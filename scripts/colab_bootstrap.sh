#!/usr/bin/env bash
# Colab only (every chapter's second cell calls it there): a Miniforge conda environment with the
# book's GPU stack from environment.yml (torch + CUDA + compiled mmcv pinned together, as the seed
# of chapter 03 did with Miniconda to get past mmdet3d's conflicts with Colab's packages).
#
#   scripts/colab_bootstrap.sh [--dry-run] [--kernel-python X.Y]
#
# --dry-run prints the commands and runs none. --kernel-python is the running kernel's Python: when
# the environment has the same one, its site-packages are written to .colab_site_packages for the
# kernel to put first on sys.path; otherwise the script says how to run a chapter in it.
# Settings: MMDL_CONDA_PREFIX (/usr/local/miniforge3), MMDL_ENV_NAME (mmdl), MMDL_MINIFORGE_URL.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dry=0
kernel_python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --kernel-python) kernel_python=${2:?--kernel-python needs X.Y}; shift ;;
    *) echo "colab_bootstrap.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
prefix=${MMDL_CONDA_PREFIX:-/usr/local/miniforge3}
env_name=${MMDL_ENV_NAME:-mmdl}
installer_url=${MMDL_MINIFORGE_URL:-https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-Linux-x86_64.sh}
env_python="$prefix/envs/$env_name/bin/python"
marker="$repo/.colab_site_packages"

run() {
  echo "+ $*"
  if [ "$dry" = 0 ]; then "$@"; fi
}

if [ ! -x "$prefix/bin/conda" ]; then
  run curl -fsSL -o /tmp/miniforge.sh "$installer_url"
  run bash /tmp/miniforge.sh -b -p "$prefix"
fi
# environment.yml installs this checkout (-e .) into the environment with the pinned stack
if [ -d "$prefix/envs/$env_name" ]; then
  run "$prefix/bin/conda" env update -n "$env_name" -f "$repo/environment.yml"
else
  run "$prefix/bin/conda" env create -n "$env_name" -f "$repo/environment.yml"
fi
run "$env_python" -m ipykernel install --user --name "$env_name" --display-name "MMDL (conda: $env_name)"
# WordNet 3.0 for chapter 04's prompts: Debian's packages (Colab runs Ubuntu), as scripts/install.sh
if [ ! -f /usr/share/wordnet/index.sense ] && command -v apt-get >/dev/null 2>&1; then
  run apt-get install -y -qq wordnet-base wordnet-sense-index
fi

version_check='import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")'
site_check='import sysconfig; print(sysconfig.get_paths()["purelib"])'
if [ "$dry" = 1 ]; then
  echo "+ $env_python -c '$version_check'   # compared with the kernel's Python ${kernel_python:-(not given)}"
  echo "+ $env_python -c '$site_check' > $marker   # with $repo, when they match"
  exit 0
fi
env_version=$("$env_python" -c "$version_check")
if [ -n "$kernel_python" ] && [ "$env_version" = "$kernel_python" ]; then
  # the checkout too: an editable install's .pth hook is not read when a path is added by hand
  { "$env_python" -c "$site_check"; echo "$repo"; } > "$marker"
  echo "mmdl: the running kernel now imports from the '$env_name' environment (Python $env_version)."
else
  : > "$marker"
  echo "mmdl: the '$env_name' environment has Python $env_version, this kernel ${kernel_python:-an unknown one}:"
  echo "      they cannot share packages. Run a chapter in the environment instead, e.g."
  echo "      !$prefix/envs/$env_name/bin/mmdl run 03 --profile full -o /content/03_executed.ipynb"
fi
