#!/usr/bin/env bash
# Every measurement of issue 11 on a CPU machine, into benchmarks/results/<machine>-<date>/.
#
#   benchmarks/cpu_suite.sh [--quick] [--peer-python PATH] [--out DIR]
#
# Run it on a quiet machine (nothing else running). --quick: few frames, one repeat, the heavy
# suites (maskrcnn, scaling) left out, results in benchmarks/results/quick-<machine>-<date>/ (a
# check that everything runs, not numbers to publish). Without --peer-python the peer comparison
# is skipped. The peer's YOLOv8n exports are made once (a few minutes of training on the synthetic
# camera; --quick exports the untrained model) into ~/.cache/streamdet/peer/models/. Peer environment:
#   python3 -m venv /work/peer-venv && /work/peer-venv/bin/pip install ultralytics-opencv-headless==8.4.190 \
#     "onnxruntime==$(grep -oP '^onnxruntime==\K.*' .ci/constraints.txt)" \
#     "onnx==$(grep -oP '^onnx==\K.*' .ci/constraints.txt)" onnxslim==0.1.98   # for its ONNX export
set -euo pipefail

main() {   # one function: bash parses it whole, so editing this file mid-run is harmless
  cd "$(dirname "$0")/.."
  PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
  QUICK=0 PEER_PYTHON="" OUT=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --quick) QUICK=1 ;;
      --peer-python) PEER_PYTHON=$2; shift ;;
      --out) OUT=$2; shift ;;
      *) echo "usage: $0 [--quick] [--peer-python PATH] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
  done
  SLUG=$($PY -c "from pipeline.bench.machine import machine_info, machine_slug; print(machine_slug(machine_info()))")
  DAY=$(date -u +%F)
  if [ "$QUICK" = 1 ]; then
    OUT=${OUT:-benchmarks/results/quick-$SLUG-$DAY}
    FRAMES=30 WARMUP=10 REPEAT=1 DEFAULT_FRAMES=60 TRAIN=(--epochs 0) SWEEP=()
    OVERLOAD=(--frames 300 --warmup 10 --live-rate 100)
  else
    OUT=${OUT:-benchmarks/results/$SLUG-$DAY}
    FRAMES=600 WARMUP=60 REPEAT=3 DEFAULT_FRAMES=300 TRAIN=(--minutes 8) SWEEP=(--sweep-pipeline)
    OVERLOAD=(--frames "$FRAMES" --warmup "$WARMUP" --live-rate 200)
  fi
  mkdir -p "$OUT"
  # thread choices cached on a busy machine must not decide a quiet measurement: calibrate afresh
  rm -rf "${STREAMDET_CACHE:-$HOME/.cache/streamdet}/threads"
  FAILED=()
  bench() {    # one measurement; a failure is reported at the end, the others still run
    local name=$1; shift; echo "== $name" >&2
    $PY run_pipeline.py bench --out "$OUT/$name" "$@" || FAILED+=("$name")
  }

  # 1. the embedded default as a user runs it: latency from published messages, start-up time
  bench default-run --suite default-run --frames "$DEFAULT_FRAMES" --repeat "$REPEAT"

  # 2. the peer: Ultralytics' predictor vs our pipeline on the same YOLOv8n ONNX (320 and 640) and video
  if [ -n "$PEER_PYTHON" ]; then
    MODELS=${STREAMDET_CACHE:-$HOME/.cache/streamdet}/peer/models
    if [ ! -f "$MODELS/yolov8n-320.onnx" ] || [ ! -f "$MODELS/yolov8n-640.onnx" ]; then
      DATA=$($PY benchmarks/peer/make_dataset.py "$(dirname "$MODELS")/data")
      YOLO_OFFLINE=1 "$PEER_PYTHON" benchmarks/peer/train_export.py "$DATA" "$MODELS" "${TRAIN[@]}"
    fi
    bench peer --peer ultralytics --peer-python "$PEER_PYTHON" --frames "$FRAMES" --warmup "$WARMUP" \
      --repeat "$REPEAT" "${SWEEP[@]}" --peer-model "$MODELS/yolov8n-320.onnx" --peer-model "$MODELS/yolov8n-640.onnx"
  else
    bench peer --peer ultralytics
  fi

  # 3. the pipeline (no drops, as fast as it goes) vs bare engine and sequential loop; overload
  bench pipeline --frames "$FRAMES" --warmup "$WARMUP" --repeat "$REPEAT"
  # overload: 200 FPS offered (quick: 100 FPS for 3 s, so a few frames pass a loaded machine), newest wins
  bench overload "${OVERLOAD[@]}"
  bench transport --suite transport --repeat "$REPEAT"
  bench ops --suite ops

  # 4. the bare engines: threads x spinning and what 'auto' chose (tiny YOLO 320, YOLO n 640; ORT and torch)
  bench engines --suite engines --frames "$FRAMES"

  # 5. the heavy ones
  if [ "$QUICK" = 0 ]; then
    bench maskrcnn --suite maskrcnn --frames 300 --warmup "$WARMUP"
    bench scaling --scaling --frames "$FRAMES" --warmup "$WARMUP"
  fi
  echo "results in $OUT" >&2
  if [ ${#FAILED[@]} -gt 0 ]; then
    echo "failed: ${FAILED[*]}" >&2
    return 1
  fi
}

main "$@"
