#!/usr/bin/env bash
# Colab only (every chapter's second cell calls it there): a Miniforge conda environment with the
# book's one stack (environment.yml: constraints.txt's pins, mmcv-lite + the book's stand-ins,
# spconv's CUDA build), created with the running kernel's Python so that the kernel imports from it.
#
#   scripts/colab_bootstrap.sh [--dry-run] [--kernel-python X.Y]
#
# --kernel-python is the running kernel's Python: the environment is created with it (from
# .colab_environment.yml, environment.yml with python=X.Y), and its site-packages are written to
# .colab_site_packages for the kernel to put first on sys.path; a chapter then runs cell by cell.
# An environment with another Python is made again. Python 3.10-3.12 resolve; 3.13 (numpy 1.26 has no
# wheel) does not: the script then says how to run a chapter with the environment's `mmdl run`.
# torch: PyPI's 2.14.1 wheel is a CUDA 13 build; when the driver (nvidia-smi) reports CUDA below 13,
# the same version comes from PyTorch's cu128 index. MMDL_TORCH_INDEX overrides (an index URL, or
# "pypi" for PyPI's wheel).
# --dry-run prints the commands and the generated environment file and runs, installs and writes nothing.
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
if [ -n "$kernel_python" ] && ! [[ "$kernel_python" =~ ^3\.[0-9]+$ ]]; then
  echo "colab_bootstrap.sh: --kernel-python takes X.Y (e.g. 3.12), got $kernel_python" >&2; exit 2
fi
prefix=${MMDL_CONDA_PREFIX:-/usr/local/miniforge3}
env_name=${MMDL_ENV_NAME:-mmdl}
installer_url=${MMDL_MINIFORGE_URL:-https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-Linux-x86_64.sh}
env_python="$prefix/envs/$env_name/bin/python"
marker="$repo/.colab_site_packages"
env_file="$repo/.colab_environment.yml"
yml_python=$(sed -n 's/^ *- python=\([0-9.]*\).*/\1/p' "$repo/environment.yml")
want_python=${kernel_python:-$yml_python}
case "$want_python" in
  3.10|3.11|3.12) ;;
  *) echo "mmdl: the stack does not resolve on Python $want_python (numpy 1.26 has no wheel for it):" \
          "the environment gets Python $yml_python and the kernel cannot import from it"
     want_python=$yml_python ;;
esac

run() {
  echo "+ $*"
  if [ "$dry" = 0 ]; then "$@"; fi
}
create() {
  echo "+ $prefix/bin/conda env create -n $env_name -f $env_file   # python=$want_python"
  if [ "$dry" = 0 ]; then "$prefix/bin/conda" env create -n "$env_name" -f "$env_file"; fi
}

# torch's CUDA build, from the driver's CUDA version
torch_index=${MMDL_TORCH_INDEX:-}
if [ -z "$torch_index" ]; then
  driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\.\([0-9]*\).*/\1.\2/p' | head -1 || true)
  if [ -n "$driver_cuda" ] && [ "${driver_cuda%%.*}" -lt 13 ]; then
    torch_index=https://download.pytorch.org/whl/cu128
    echo "mmdl: the NVIDIA driver reports CUDA $driver_cuda (< 13): torch from $torch_index (its cu128 build)"
  else
    torch_index=pypi
    echo "mmdl: torch from PyPI (its CUDA 13 build; driver CUDA: ${driver_cuda:-no nvidia-smi})"
  fi
else
  echo "mmdl: torch from MMDL_TORCH_INDEX=$torch_index"
fi

# environment.yml with the kernel's Python (and torch's index): relative paths (-c constraints.txt,
# -e .) stay valid, since conda runs pip from the file's folder, the checkout
generated=$(sed -e "s/^\( *- python=\)[0-9.]*/\1$want_python/" "$repo/environment.yml" | awk -v index_url="$torch_index" '
  { print }
  /^ *- pip:$/ && index_url != "pypi" { match($0, /^ */); printf "%s    - --extra-index-url %s\n", substr($0, 1, RLENGTH), index_url }')
if [ "$dry" = 1 ]; then
  echo "+ cat > $env_file <<'YML'   # environment.yml with python=$want_python"
  diff <(cat "$repo/environment.yml") <(echo "$generated") | sed 's/^/  /' || true
  echo "  YML"
else
  echo "$generated" > "$env_file"
fi

if [ ! -x "$prefix/bin/conda" ]; then
  run curl -fsSL -o /tmp/miniforge.sh "$installer_url"
  run bash /tmp/miniforge.sh -b -p "$prefix"
fi
version_check='import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")'
if [ -d "$prefix/envs/$env_name" ]; then
  have_python=$("$env_python" -c "$version_check" 2>/dev/null || echo unknown)
  if [ "$have_python" = "$want_python" ] || { [ "$have_python" = unknown ] && [ "$dry" = 1 ]; }; then
    run "$prefix/bin/conda" env update -n "$env_name" -f "$env_file"
  else
    echo "mmdl: the '$env_name' environment has Python $have_python, the kernel $want_python: making it again"
    run "$prefix/bin/conda" env remove -y -n "$env_name"
    create
  fi
else
  create
fi
run "$env_python" -m ipykernel install --user --name "$env_name" --display-name "MMDL (conda: $env_name)"
# WordNet 3.0 for chapter 04's prompts: Debian's packages (Colab runs Ubuntu), as scripts/install.sh
if [ ! -f /usr/share/wordnet/index.sense ] && command -v apt-get >/dev/null 2>&1; then
  run apt-get install -y -qq wordnet-base wordnet-sense-index
fi

site_check='import sysconfig; print(sysconfig.get_paths()["purelib"])'
fallback() {
  echo "      Run a chapter in the environment instead, e.g."
  echo "      !$prefix/envs/$env_name/bin/mmdl run 03 --profile full -o /content/03_executed.ipynb"
}
if [ "$dry" = 1 ]; then
  echo "+ $env_python -c '$version_check'   # Python $want_python, the kernel's: ${kernel_python:-(not given)}"
  if [ -n "$kernel_python" ] && [ "$kernel_python" = "$want_python" ]; then
    # the checkout too: an editable install's .pth hook is not read when a path is added by hand
    echo "+ { $env_python -c '$site_check'; echo $repo; } > $marker   # the running kernel (Python $kernel_python) imports from the '$env_name' environment"
  else
    echo "+ : > $marker   # the kernel's Python (${kernel_python:-not given}) is not the environment's: it cannot import from it"
    fallback
  fi
  exit 0
fi
env_version=$("$env_python" -c "$version_check")
if [ -n "$kernel_python" ] && [ "$env_version" = "$kernel_python" ]; then
  { "$env_python" -c "$site_check"; echo "$repo"; } > "$marker"
  echo "mmdl: the running kernel now imports from the '$env_name' environment (Python $env_version)."
else
  : > "$marker"
  echo "mmdl: the '$env_name' environment has Python $env_version, this kernel ${kernel_python:-an unknown one}:"
  echo "      they cannot share packages."
  fallback
fi
