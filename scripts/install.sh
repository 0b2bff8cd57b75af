#!/usr/bin/env bash
# Install everything the book needs into ./.venv (or $VENV): system library, torch, the package and its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# open3d (the synthetic world's ray caster) needs libusb on Linux.
if [ "$(uname -s)" = Linux ] && ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libusb-1.0-0
fi

# The site test opens every page in headless Chromium (Debian's chromium + chromium-driver).
if [ "$(uname -s)" = Linux ] && ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver
fi

# WordNet 3.0 for chapter 04's distance-based OOD prompts (Debian's wordnet-base + wordnet-sense-index).
if [ "$(uname -s)" = Linux ] && [ ! -f /usr/share/wordnet/index.sense ] && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wordnet-base wordnet-sense-index
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first, at the version constraints.txt pins (TORCH_SPEC overrides, e.g. a CUDA build of your choice).
"$VENV/bin/python" -m pip install -q ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
# The OpenMMLab stack (chapters 03, 04) with mmcv-lite: no compiling; mmdl_lib.openmmlab supplies the
# compiled ops the book's models call, on CPU and CUDA. spconv's CUDA build where there is an NVIDIA GPU
# (or MMDL_CUDA=1), else its CPU build: both install the module `spconv`, so exactly one of them.
if [ "${MMDL_CUDA:-}" = 1 ] || { [ "${MMDL_CUDA:-}" != 0 ] && nvidia-smi -L >/dev/null 2>&1; }; then
  OPENMMLAB=openmmlab-cuda
else
  OPENMMLAB=openmmlab-cpu
fi
echo "install.sh: the OpenMMLab extra is $OPENMMLAB"
"$VENV/bin/python" -m pip install -q -e ".[book,vlm,dev,openmmlab,$OPENMMLAB]" -c constraints.txt
"$VENV/bin/mmdl" env
