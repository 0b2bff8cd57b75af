#!/usr/bin/env bash
# The book's one stack on a CUDA machine, checked in one go by a maintainer (no test depends on a GPU):
# `mmdl env`, the OpenMMLab tests, every chapter's smoke run on CUDA, then every chapter's rehearsal
# of the full profile on CUDA. Each step is timed, with the GPU memory in use sampled every 0.5 s
# (its peak, all processes on the GPU included); a failed step does not stop the next.
#
#   scripts/gpu_check.sh [--out DIR] [--chapters "00 01 ..."] [--skip-rehearsal] [--dry-run]
#
# Needs the installed environment: ./.venv (scripts/install.sh), or the active conda environment
# (environment.yml); MMDL_PYTHON names another interpreter. Writes DIR/report.md (a table: step,
# result, seconds, peak GPU MiB), the executed notebooks and one log per step under DIR (default
# build/gpu_check), prints the report, and exits 1 when a step failed. --dry-run prints the steps.
# A chapter whose notebook has no `device` parameter (chapter 00: no network) runs without `-p device cuda`.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 2
out=build/gpu_check
only=""
rehearse=1
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a folder}; shift ;;
    --chapters) only=${2:?--chapters needs numbers, e.g. \"03 04\"}; shift ;;
    --skip-rehearsal) rehearse=0 ;;
    --dry-run) dry=1 ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ -n "${MMDL_PYTHON:-}" ]; then python=$MMDL_PYTHON
elif [ -x .venv/bin/python ]; then python=$repo/.venv/bin/python
else python=$(command -v python || true)
fi
if [ -z "$python" ] || ! "$python" -c "import mmdl_lib" 2>/dev/null; then
  echo "gpu_check.sh: no Python with mmdl_lib installed (make install, or conda activate mmdl)" >&2; exit 2
fi
mmdl=("$python" -m mmdl_lib.cli)
# every chapter in the registry (notebooks/*.meta.yml), or the ones asked for
mapfile -t listing < <("$python" -c "from mmdl_lib.book.chapters import chapters
for c in chapters(): print(c.number, c.stem)")
steps=()
add() { steps+=("$*"); }
add "env|${mmdl[*]} env"
add "openmmlab tests|$python -m pytest tests/openmmlab -q -p no:cacheprovider"
for kind in smoke rehearsal; do
  [ "$kind" = rehearsal ] && [ "$rehearse" = 0 ] && continue
  for entry in "${listing[@]}"; do
    number=${entry%% *} stem=${entry#* }
    if [ -n "$only" ] && [[ " $only " != *" $number "* ]]; then continue; fi
    device=""
    grep -q '^device = ' "notebooks/$stem.py" && device=" -p device cuda"
    if [ "$kind" = smoke ]; then
      add "$number smoke|${mmdl[*]} run $number --profile smoke$device -o $out/${number}_smoke.ipynb"
    else
      add "$number rehearsal|${mmdl[*]} run $number --rehearse$device -o $out/${number}_rehearsal.ipynb"
    fi
  done
done

if [ "$dry" = 1 ]; then
  for step in "${steps[@]}"; do echo "+ ${step#*|}   # ${step%%|*}"; done
  exit 0
fi

mkdir -p "$out/logs"
sampler=""
peak_file=$(mktemp)
start_sampler() {
  : > "$peak_file"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$peak_file" 2>/dev/null &
    sampler=$!
  fi
}
stop_sampler() {
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=""; fi
  sort -n "$peak_file" | tail -1 | tr -d ' ' | grep -E '^[0-9]+$' || echo "n/a"
}
trap 'stop_sampler >/dev/null; rm -f "$peak_file"' EXIT

report="$out/report.md"
{
  echo "# GPU check $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- git: $(git rev-parse --short HEAD 2>/dev/null || echo n/a)"
  echo "- GPU: $(nvidia-smi -L 2>/dev/null | head -1 || echo 'none found')"
  echo "- torch: $("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "available:", torch.cuda.is_available())' 2>&1 | tail -1)"
  echo
  echo "| step | result | seconds | peak GPU MiB |"
  echo "|---|---|---:|---:|"
} > "$report"
failed=0
for step in "${steps[@]}"; do
  name=${step%%|*} command=${step#*|}
  log="$out/logs/${name// /_}.log"
  echo "== $name: $command"
  start_sampler
  begin=$(date +%s.%N)
  # shellcheck disable=SC2086  # the command is a word list built above
  if $command > "$log" 2>&1; then result=pass; else result=FAIL; failed=1; fi
  seconds=$(awk -v a="$begin" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  peak=$(stop_sampler)
  echo "   $result in ${seconds}s, peak GPU ${peak} MiB (log: $log)"
  echo "| $name | $result | $seconds | $peak |" >> "$report"
done
echo
cat "$report"
exit "$failed"
