#!/usr/bin/env bash
# The one GPU command of issue 15 (README: "GPU check"). On a machine with an NVIDIA GPU, in at
# most 8 minutes: install the wheels carried in .whl/ (the lent machine's image has torch, CuPy
# and most packages but not pyzmq or pycocotools), run `pytest -m gpu` (CuPy vs NumPy vs
# torchvision parity of every kernel on the device, and the other gpu tests), then the steps of
# pipeline/bench/gpu_suite.py, writing benchmarks/results/<device>-<date>/. When $OUT is set
# (the device tool), a tarball of that folder and its summary.md are copied there.
#
#   bash benchmarks/gpu_check.sh            on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run  anywhere: script, imports, step plans, folder layout
#
# Without a GPU and without --dry-run: one line on stderr, exit 2.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
DRY_RUN=0
case "${1:-}" in
  "") ;;
  --dry-run) DRY_RUN=1 ;;
  *) echo "gpu_check: unknown argument '$1' (usage: bash benchmarks/gpu_check.sh [--dry-run])" >&2; exit 2 ;;
esac
# The device image lacks these distributions (and the test extra's jsonschema family).
WHEELS_NEEDED="pyzmq pycocotools starlette uvicorn jsonschema jsonschema_specifications referencing rpds_py"
# step name, seconds allowed (sum 460 s: with the wheel install the call stays under 8 minutes)
STEPS="env:20 pytest:120 fp16:60 nms:45 pipeline:150 maskrcnn:60 summary:5"

gpu_name() { nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1; }

if [ "$DRY_RUN" = 0 ] && [ -z "$(gpu_name)" ]; then
  echo "gpu_check: no NVIDIA GPU on this machine (nvidia-smi lists none); use --dry-run to check the script" >&2
  exit 2
fi

if [ "$DRY_RUN" = 1 ]; then
  DEVICE=dry-run
  SCRATCH=""
  [ -n "${GPU_CHECK_RESULTS:-}" ] || SCRATCH=$(mktemp -d)
  RESULTS=${GPU_CHECK_RESULTS:-$SCRATCH/benchmarks/results}   # tests keep the folder to look at
else
  DEVICE=$(gpu_name | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/^-//; s/-$//')
  RESULTS=$ROOT/benchmarks/results
fi
DIR=$RESULTS/$DEVICE-$(date -u +%Y-%m-%d)
mkdir -p "$DIR" || { echo "gpu_check: cannot create $DIR" >&2; exit 2; }

install_wheels() {
  local missing=""
  for name in $WHEELS_NEEDED; do
    ls .whl/"$name"-*.whl >/dev/null 2>&1 || missing="$missing $name"
  done
  if [ "$DRY_RUN" = 1 ]; then
    [ -n "$missing" ] && echo "gpu_check: note: .whl/ lacks$missing (README 'GPU check' says how to download them)"
    return 0
  fi
  if [ -n "$missing" ]; then
    echo "gpu_check: .whl/ lacks$missing: download them first (README 'GPU check')" >&2; exit 2
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "gpu_check: wheel install failed" >&2; exit 2; }
  export PYTHONPATH=/tmp/site:$ROOT
}

step_command() {  # the command of one step, as words
  case "$1" in
    pytest)
      local common="-q -m gpu -p no:cacheprovider --continue-on-collection-errors"
      if [ "$DRY_RUN" = 1 ]; then echo "$PYTHON -m pytest $common --collect-only tests"
      else echo "$PYTHON -m pytest $common --junitxml=$DIR/pytest.xml tests"; fi ;;
    *)
      local dry=""; [ "$DRY_RUN" = 1 ] && dry=--dry-run
      echo "$PYTHON -m pipeline.bench.gpu_suite $1 --out $DIR $dry" ;;
  esac
}

bash -n "$0" || { echo "gpu_check: syntax error in $0" >&2; exit 2; }
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
install_wheels
failed=0
: > "$DIR/steps.tsv"
for entry in $STEPS; do
  name=${entry%%:*}; seconds=${entry##*:}
  command=$(step_command "$name")
  set -- $command
  if ! command -v "$1" >/dev/null; then echo "gpu_check: step $name: '$1' not found" >&2; exit 2; fi
  started=$(date +%s)
  timeout --kill-after=10 "$seconds" "$@" > "$DIR/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%ss\t%s\n' "$name" "$rc" "$(( $(date +%s) - started ))" "$command" >> "$DIR/steps.tsv"
  [ "$rc" = 0 ] || { failed=1; echo "gpu_check: step $name exited $rc (log: $DIR/$name.log)"; tail -n 5 "$DIR/$name.log"; }
done

echo "gpu_check: results in $DIR"
cat "$DIR/steps.tsv"
[ -f "$DIR/summary.md" ] && cat "$DIR/summary.md"
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ] && [ "$DRY_RUN" = 0 ]; then
  tar czf "$OUT/gpu_results.tar.gz" -C "$RESULTS" "$(basename "$DIR")"
  cp "$DIR/summary.md" "$OUT/" 2>/dev/null || true
fi
if [ "$DRY_RUN" = 1 ] && [ -n "$SCRATCH" ]; then rm -rf "$SCRATCH"; fi
exit $failed
